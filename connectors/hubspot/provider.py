"""HubSpot behind one object: what the host asks of a vendor (see connectors/registry.py)."""
from __future__ import annotations

from urllib.parse import urlencode

from ..provider import Provider
from . import calls, oauth, webhook
from .crm import HubSpotCrm, make_client


class HubSpotProvider(Provider):
    key = "hubspot"
    name = "HubSpot"
    account_noun = "portal"
    is_crm = True
    client_id_setting = "HUBSPOT_CLIENT_ID"
    # The app settings page opens on its own (no signed request): signing in with HubSpot's
    # OAuth proves the portal.
    signs_in_by_oauth = True

    # A deal's new stage arrives as a stage id: whether it is Booked or Lost is asked of HubSpot.
    stage_needs_lookup = True

    def logs_texts(self, config) -> bool:
        return True  # each text is an SMS communication on the contact

    def client_id(self, config) -> str | None:
        return config.hubspot_client_id

    def authorize_url(self, config, redirect_uri: str, state: str) -> str:
        query = {"client_id": config.hubspot_client_id, "redirect_uri": redirect_uri,
                 "scope": " ".join(oauth.REQUIRED_SCOPES), "state": state}
        if oauth.OPTIONAL_SCOPES:
            query["optional_scope"] = " ".join(oauth.OPTIONAL_SCOPES)
        return oauth.AUTHORIZE_URL + "?" + urlencode(query)

    def crm(self, config, *, token: str, external_id: str, instance_url: str | None, overrides: dict, limiter):
        return HubSpotCrm(make_client(token, config.hubspot_api_url), overrides, limiter=limiter,
                          portal_id=external_id)

    def refresh(self, config, refresh_token: str, user_type: str | None) -> dict:
        return oauth.refresh(config.hubspot_api_url, config.hubspot_client_id, config.hubspot_client_secret,
                             f"{config.public_url}/oauth/hubspot/callback", refresh_token)

    def parse_stored(self, kind: str, payload: dict):
        if kind == "found_call":  # a call catch-up found, with its properties (HubSpotCrm.recent_calls)
            return calls.to_call_event(payload["id"], payload["properties"])
        return webhook.parse(payload)


PROVIDER = HubSpotProvider()
