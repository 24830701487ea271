"""Salesforce behind one object: what the host asks of a vendor (see connectors/registry.py)."""
from __future__ import annotations

from urllib.parse import urlencode

from ..provider import Provider
from ..base import CrmError
from . import oauth, webhook
from .crm import SalesforceCrm, make_client


class SalesforceProvider(Provider):
    key = "salesforce"
    name = "Salesforce"
    account_noun = "org"
    is_crm = True
    client_id_setting = "SALESFORCE_CLIENT_ID"
    # An Opportunity's stage arrives by name (and IsWon/IsClosed): compared locally, no lookup.
    # A text's note is a completed Task on the person: nothing more to log (logs_texts False).
    needs_instance_url = True  # each org answers on its own My Domain
    # Outbound Messages carry no signature we can check: each org posts to a secret URL of its own.
    secret_webhook_url = True

    def client_id(self, config) -> str | None:
        return config.salesforce_client_id

    def authorize_url(self, config, redirect_uri: str, state: str) -> str:
        return f"{config.salesforce_login_url}/services/oauth2/authorize?" + urlencode({
            "response_type": "code", "client_id": config.salesforce_client_id, "redirect_uri": redirect_uri,
            "scope": " ".join(oauth.SCOPES), "state": state})

    def crm(self, config, *, token: str, external_id: str, instance_url: str | None, overrides: dict, limiter):
        if not instance_url:
            raise CrmError(f"Salesforce org {external_id}'s installation has no instance URL")
        return SalesforceCrm(make_client(instance_url, token), overrides)

    def refresh(self, config, refresh_token: str, user_type: str | None) -> dict:
        return oauth.refresh(config.salesforce_login_url, config.salesforce_client_id,
                             config.salesforce_client_secret, refresh_token)

    def parse_stored(self, kind: str, payload: dict):
        return webhook.to_event(webhook.Notification(payload["id"], payload["type"], payload["fields"]))


PROVIDER = SalesforceProvider()
