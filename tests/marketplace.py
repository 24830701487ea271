"""Installing from a CRM's marketplace as the tests do it: the ids of a GoHighLevel agency and
its locations, and the first step of an install (Ringback's redirect to the CRM's consent page)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

COMPANY = "otg8dTQqGLh3Q6iQI55w"
LOC_A, LOC_B, LOC_C = "ve9EPM428h8vShlRW1KT", "Zq1WbY3xKcP9mN7rT5uV", "Hj6kL2mN8pQ4rS0tU3vW"
APP_ID = "66a0419a0dffa47fb5f8b22f"


def start_install(client, provider: str) -> dict:
    """The consent page's query (redirect_uri, state, scope...) and, as ``_target``, its URL."""
    resp = client.get(f"/oauth/{provider}/install")
    assert resp.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlparse(resp.headers["Location"]).query).items()} | {
        "_target": resp.headers["Location"]}
