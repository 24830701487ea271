"""GoHighLevel OAuth token endpoint (refresh now; the install flow comes with the marketplace work).

POST /oauth/token, form-encoded; refresh tokens are single-use (../shared/PROVIDERS.md).
"""
from __future__ import annotations

import requests

from ..base import CrmError


def refresh(api_url: str, client_id: str | None, client_secret: str | None, refresh_token: str,
            user_type: str = "Location") -> dict:
    if not (client_id and client_secret):
        raise CrmError("GHL_CLIENT_ID and GHL_CLIENT_SECRET are needed to refresh GoHighLevel tokens", status=401)
    try:
        resp = requests.post(api_url.rstrip("/") + "/oauth/token", timeout=15, data={
            "client_id": client_id, "client_secret": client_secret, "grant_type": "refresh_token",
            "refresh_token": refresh_token, "user_type": user_type})
    except requests.RequestException as exc:
        raise CrmError(f"GoHighLevel token endpoint unreachable: {exc}", retryable=True) from None
    if resp.status_code >= 500 or resp.status_code == 429:
        raise CrmError(f"GoHighLevel token refresh: {resp.status_code}", status=resp.status_code, retryable=True)
    if resp.status_code != 200:
        raise CrmError(f"GoHighLevel refused the refresh: {resp.status_code} {resp.text[:200]}", status=resp.status_code)
    return resp.json()
