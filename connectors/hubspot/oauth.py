"""HubSpot OAuth through hubspot-api-client: code exchange, refresh, and who a token belongs to.

Access tokens last 30 minutes (expires_in 1800); refresh tokens do not rotate away the old one.
https://developers.hubspot.com/docs/api/oauth-quickstart-guide
"""
from __future__ import annotations

import requests
import urllib3
from hubspot.oauth import ApiException

from ..base import CrmError
from . import sdk

AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"
# What the app asks for at install, and what its definition declares (marketplace/manifests/hubspot.py).
# https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/scopes
REQUIRED_SCOPES = ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.deals.read",
                   "crm.objects.deals.write", "crm.schemas.deals.read", "crm.schemas.deals.write", "automation"]
OPTIONAL_SCOPES: list[str] = []


def _oauth(api_url: str):
    return sdk.client(api_url=api_url).oauth


def _tokens(api_url: str, what: str, **form) -> dict:
    try:
        made = _oauth(api_url).tokens_api.create(**form)
    except ApiException as exc:
        status = exc.status or 0
        raise CrmError(f"HubSpot refused the {what}: {status} {(exc.body or '')[:200]}", status=status,
                       retryable=status >= 500 or status == 429) from None
    except urllib3.exceptions.HTTPError as exc:
        raise CrmError(f"HubSpot token endpoint unreachable: {exc}", retryable=True) from None
    return {"access_token": made.access_token, "refresh_token": made.refresh_token,
            "expires_in": made.expires_in or 1800}


def exchange_code(api_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str) -> dict:
    return _tokens(api_url, "authorization code", grant_type="authorization_code", code=code,
                   redirect_uri=redirect_uri, client_id=client_id, client_secret=client_secret)


def refresh(api_url: str, client_id: str | None, client_secret: str | None, redirect_uri: str,
            refresh_token: str) -> dict:
    if not (client_id and client_secret):
        raise CrmError("HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET are needed to refresh HubSpot tokens", status=401)
    return _tokens(api_url, "refresh", grant_type="refresh_token", refresh_token=refresh_token,
                   redirect_uri=redirect_uri, client_id=client_id, client_secret=client_secret)


INTROSPECT = "/oauth/2026-03/token/introspect"


def token_info(api_url: str, client_id: str, client_secret: str, access_token: str) -> dict:
    """The portal (hub_id), scopes and user of an access token, from the token introspection
    endpoint that replaces the deprecated GET /oauth/v1/access-tokens/{token} (which put the
    token in the URL; HubSpot sunsets the v1 OAuth API on 2027-02-16). hubspot-api-client 12
    has no client for it yet, so it is a form POST through requests. Response:
    PublicAccessTokenInfoResponse in HubSpot's spec (Auth/Oauth/Rollouts/279897/2026-03/oauth.json).
    https://developers.hubspot.com/docs/api-reference/2026-03/authentication/oauth-tokens/token-introspect"""
    try:
        resp = requests.post(api_url.rstrip("/") + INTROSPECT, timeout=10, data={
            "client_id": client_id, "client_secret": client_secret, "token": access_token,
            "token_type_hint": "access_token"})
    except requests.RequestException as exc:
        raise CrmError(f"HubSpot's token introspection is unreachable: {exc}", retryable=True) from None
    if resp.status_code != 200:
        raise CrmError(f"HubSpot refused to describe the token: {resp.status_code} {resp.text[:200]}",
                       status=resp.status_code, retryable=resp.status_code >= 500 or resp.status_code == 429)
    try:
        info = resp.json()
        if not info.get("active") or info.get("token_use", "access_token") != "access_token":
            raise CrmError("HubSpot says the new access token is not active", status=401)
        return {"hub_id": str(int(info["hub_id"])), "scopes": [str(s) for s in info.get("scopes") or []],
                "user": info.get("user"), "hub_domain": info.get("hub_domain"), "expires_in": info.get("expires_in")}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CrmError("HubSpot's token introspection answered something that is not token metadata",
                       status=502) from None
