"""HubSpot OAuth through hubspot-api-client: code exchange, refresh, and who a token belongs to.

Access tokens last 30 minutes (expires_in 1800); refresh tokens do not rotate away the old one.
https://developers.hubspot.com/docs/api/oauth-quickstart-guide
"""
from __future__ import annotations

import urllib3
from hubspot import Client
from hubspot.oauth import ApiException

from ..base import CrmError

AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"


def _oauth(api_url: str):
    return Client.create(host=api_url.rstrip("/")).oauth


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


def token_info(api_url: str, access_token: str) -> dict:
    """The portal (hub_id), scopes and user of an access token."""
    try:
        info = _oauth(api_url).access_tokens_api.get(access_token)
    except ApiException as exc:
        raise CrmError(f"HubSpot does not know this token: {exc.status}", status=exc.status) from None
    return {"hub_id": str(info.hub_id), "scopes": list(info.scopes or []), "user": info.user,
            "hub_domain": info.hub_domain, "expires_in": info.expires_in}
