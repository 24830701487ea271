"""GoHighLevel OAuth (marketplace app): authorize URL, code exchange, refresh, agency location tokens.

POST /oauth/token is form-encoded; refresh tokens are single-use (../shared/PROVIDERS.md). An
agency (Company) install gets one Company token: location tokens are exchanged from it with
POST /oauth/locationToken for each location listed by GET /oauth/installedLocations
(contracts/ghl/apps/oauth.json; docs/oauth/Authorization.md).
"""
from __future__ import annotations

from urllib.parse import urlencode

import requests

from ..base import CrmError
from .client import VERSION

MARKETPLACE = "https://marketplace.gohighlevel.com"  # white-label: https://marketplace.leadconnectorhq.com
SCOPES = ("phonenumbers.read contacts.readonly contacts.write conversations.readonly conversations.write "
          "conversations/message.readonly conversations/message.write opportunities.readonly opportunities.write "
          "calendars.readonly calendars/events.readonly workflows.readonly locations.readonly "
          "locations/customFields.readonly locations/customFields.write oauth.readonly oauth.write users.readonly")


def authorize_url(client_id: str, redirect_uri: str, state: str, marketplace: str = MARKETPLACE) -> str:
    return marketplace.rstrip("/") + "/v2/oauth/chooselocation?" + urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                                   "scope": SCOPES, "state": state})


def _post(api_url: str, path: str, what: str, data: dict, headers: dict | None = None) -> dict:
    try:
        resp = requests.post(api_url.rstrip("/") + path, data=data, headers=headers or {}, timeout=15)
    except requests.RequestException as exc:
        raise CrmError(f"GoHighLevel {what}: unreachable: {exc}", retryable=True) from None
    if resp.status_code >= 500 or resp.status_code == 429:
        raise CrmError(f"GoHighLevel {what}: {resp.status_code}", status=resp.status_code, retryable=True)
    if resp.status_code not in (200, 201):
        raise CrmError(f"GoHighLevel refused the {what}: {resp.status_code} {_reason(resp)}", status=resp.status_code)
    return resp.json()


def _reason(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("message") or body.get("error") or body)[:200]
    return str(body)[:200]


def _credentials(client_id, client_secret) -> None:
    if not (client_id and client_secret):
        raise CrmError("GHL_CLIENT_ID and GHL_CLIENT_SECRET are needed for GoHighLevel's OAuth", status=401)


def exchange_code(api_url: str, client_id: str | None, client_secret: str | None, code: str,
                  redirect_uri: str) -> dict:
    """The token response for an authorization code: userType Company or Location, and its ids."""
    _credentials(client_id, client_secret)
    return _post(api_url, "/oauth/token", "authorization code", {
        "client_id": client_id, "client_secret": client_secret, "grant_type": "authorization_code",
        "code": code, "redirect_uri": redirect_uri})


def refresh(api_url: str, client_id: str | None, client_secret: str | None, refresh_token: str,
            user_type: str = "Location") -> dict:
    _credentials(client_id, client_secret)
    return _post(api_url, "/oauth/token", "refresh", {
        "client_id": client_id, "client_secret": client_secret, "grant_type": "refresh_token",
        "refresh_token": refresh_token, "user_type": user_type})


def installed_locations(api_url: str, company_token: str, company_id: str, app_id: str) -> list[dict]:
    """Every location of the agency where the app is installed: [{_id, name, ...}]."""
    found, skip = [], 0
    while True:
        try:
            resp = requests.get(api_url.rstrip("/") + "/oauth/installedLocations", timeout=15, params={
                "companyId": company_id, "appId": app_id, "isInstalled": "true", "skip": skip, "limit": 100},
                headers={"Authorization": f"Bearer {company_token}", "Version": VERSION, "Accept": "application/json"})
        except requests.RequestException as exc:
            raise CrmError(f"GoHighLevel installed locations: unreachable: {exc}", retryable=True) from None
        if resp.status_code != 200:
            raise CrmError(f"GoHighLevel refused to list installed locations: {resp.status_code} {_reason(resp)}",
                           status=resp.status_code, retryable=resp.status_code >= 500 or resp.status_code == 429)
        page = resp.json().get("locations") or []
        found += page
        if len(page) < 100:
            return found
        skip += len(page)


def location_token(api_url: str, company_token: str, company_id: str, location_id: str) -> dict:
    """A location's own token, exchanged from the agency's (no refresh token: exchange again)."""
    return _post(api_url, "/oauth/locationToken", f"location token for {location_id}",
                 {"companyId": company_id, "locationId": location_id},
                 headers={"Authorization": f"Bearer {company_token}", "Version": VERSION, "Accept": "application/json"})


def _location_get(api_url: str, token: str, path: str, what: str) -> dict:
    """GET a location-scoped resource with the location's token; CrmError naming ``what``."""
    try:
        resp = requests.get(f"{api_url.rstrip('/')}{path}", timeout=15,
                            headers={"Authorization": f"Bearer {token}", "Version": VERSION, "Accept": "application/json"})
    except requests.RequestException as exc:
        raise CrmError(f"GoHighLevel {what}: unreachable: {exc}", retryable=True) from None
    if resp.status_code != 200:
        raise CrmError(f"GoHighLevel {what}: {resp.status_code} {_reason(resp)}", status=resp.status_code)
    return resp.json()


def location(api_url: str, token: str, location_id: str) -> dict:
    """The location's name, timezone, phone... (GET /locations/{id})."""
    return _location_get(api_url, token, f"/locations/{location_id}", f"location {location_id}").get("location") or {}


def location_numbers(api_url: str, token: str, location_id: str) -> list[dict]:
    """The location's active numbers (apps/phone-system.json: List active numbers; scope
    phonenumbers.read): [{phoneNumber, isDefaultNumber, capabilities: {sms, ...}, ...}]."""
    return _location_get(api_url, token, f"/phone-system/numbers/location/{location_id}",
                         f"numbers of location {location_id}").get("numbers") or []


def texting_number(numbers: list[dict]) -> str | None:
    """The number texts go out of: the location's default when it can text, else its first SMS-capable one."""
    capable = [n for n in numbers if (n.get("capabilities") or {}).get("sms") and n.get("phoneNumber")]
    default = next((n for n in capable if n.get("isDefaultNumber")), None)
    return (default or capable[0])["phoneNumber"] if capable else None
