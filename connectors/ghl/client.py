"""GoHighLevel API v2 over requests: one place that turns its answers into typed errors.

https://highlevel.stoplight.io/ (specs in ../shared/contracts/ghl/apps). Every request
carries the Version header its endpoint group wants, and stays inside the published limit
of 100 requests per 10 seconds per location (a 429 says when to come back).
"""
from __future__ import annotations

import requests

from ..base import CrmError, VendorSession
from ..ratelimit import RateLimiter

GHL_API = "https://services.leadconnectorhq.com"
VERSION = "2021-07-28"  # contacts, opportunities, locations, oauth
VERSION_CONVERSATIONS = "2021-04-15"  # conversations, calendars
BURST, WINDOW_SECONDS = 100, 10

_default_limiter = RateLimiter()


class GhlClient:
    def __init__(self, token: str, location_id: str, *, base_url: str = GHL_API, limiter: RateLimiter | None = None,
                 session: requests.Session | None = None, timeout: float = 10.0):
        self.location_id = location_id
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter or _default_limiter
        self.session = session or VendorSession()
        self.timeout = timeout
        self._token = token

    def request(self, method: str, path: str, *, version: str = VERSION, params=None, json=None) -> dict:
        wait = self.limiter.try_acquire(f"ghl:{self.location_id}", BURST, WINDOW_SECONDS)
        if wait:
            raise CrmError(f"GoHighLevel's limit for location {self.location_id} is reached; next slot in {wait:.1f}s",
                           throttled=True, retry_after=wait)
        headers = {"Authorization": f"Bearer {self._token}", "Version": version, "Accept": "application/json"}
        try:
            # A path, or (workflow triggers) the absolute URL GoHighLevel handed out.
            url = path if path.startswith(("https://", "http://")) else self.base_url + path
            resp = self.session.request(method, url, headers=headers, params=params, json=json, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CrmError(f"GoHighLevel unreachable: {exc}", retryable=True) from exc
        if resp.status_code < 300:
            return resp.json() if resp.content else {}
        message = _message(resp)
        what = f"GoHighLevel {method} {path}: {resp.status_code} {message}"
        if resp.status_code == 429:
            raise CrmError(what, status=429, retryable=True, retry_after=_retry_after(resp))
        if resp.status_code >= 500:
            raise CrmError(what, status=resp.status_code, retryable=True, retry_after=_retry_after(resp))
        if resp.status_code == 401:
            raise CrmError(what, status=401, token_expired=True)
        raise CrmError(what, status=resp.status_code)


def _message(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    msg = body.get("message") if isinstance(body, dict) else None
    return " ".join(msg) if isinstance(msg, list) else str(msg or body)[:200]


def _retry_after(resp) -> float | None:
    for header, scale in (("Retry-After", 1.0), ("X-RateLimit-Interval-Milliseconds", 0.001)):
        value = resp.headers.get(header)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None
