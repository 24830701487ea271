"""Salesforce's OAuth 2.0 web-server flow: code exchange and refresh (simple-salesforce has neither).

POST {login}/services/oauth2/token answers access_token, instance_url, id (.../id/<orgId>/<userId>),
issued_at and, for a code, the refresh_token; no expires_in: a session lasts as the org's policy
says, so Ringback refreshes when Salesforce answers INVALID_SESSION_ID (SalesforceExpiredSession).
https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
"""
from __future__ import annotations

import requests

from ..base import CrmError

LOGIN_URL = "https://login.salesforce.com"
# The OAuth `scope` values Ringback asks for, and the same as the External Client App's OAuth
# settings name them (marketplace/manifests/salesforce.py).
SCOPES = ["api", "refresh_token"]
ECA_SCOPES = {"api": "Api", "refresh_token": "RefreshToken"}


def _token(login_url: str, what: str, form: dict) -> dict:
    try:
        resp = requests.post(login_url.rstrip("/") + "/services/oauth2/token", data=form, timeout=15,
                             headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise CrmError(f"Salesforce token endpoint unreachable: {exc}", retryable=True) from None
    if resp.status_code != 200:
        try:
            detail = resp.json().get("error_description") or resp.text
        except ValueError:
            detail = resp.text
        raise CrmError(f"Salesforce refused the {what}: {resp.status_code} {detail[:200]}", status=resp.status_code,
                       retryable=resp.status_code >= 500 or resp.status_code == 429)
    data = resp.json()
    data["org_id"] = (data.get("id") or "").rstrip("/").split("/")[-2] if data.get("id") else None
    return data


def exchange_code(login_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str) -> dict:
    return _token(login_url, "authorization code", {"grant_type": "authorization_code", "code": code,
                                                    "client_id": client_id, "client_secret": client_secret,
                                                    "redirect_uri": redirect_uri})


def refresh(login_url: str, client_id: str | None, client_secret: str | None, refresh_token: str) -> dict:
    if not (client_id and client_secret):
        raise CrmError("SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET are needed to refresh Salesforce sessions",
                       status=401)
    return _token(login_url, "refresh", {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                         "client_id": client_id, "client_secret": client_secret})
