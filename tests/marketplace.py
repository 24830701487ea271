"""Installing from a CRM's marketplace as the tests do it: the ids of a GoHighLevel agency and
its locations, and the first step of an install (Ringback's redirect to the CRM's consent page)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

COMPANY = "otg8dTQqGLh3Q6iQI55w"
LOC_A, LOC_B, LOC_C = "ve9EPM428h8vShlRW1KT", "Zq1WbY3xKcP9mN7rT5uV", "Hj6kL2mN8pQ4rS0tU3vW"
APP_ID = "66a0419a0dffa47fb5f8b22f"
PORTAL = "62515"  # the HubSpot portal of the agencies fixture


def start_install(client, provider: str) -> dict:
    """The consent page's query (redirect_uri, state, scope...) and, as ``_target``, its URL."""
    resp = client.get(f"/oauth/{provider}/install")
    assert resp.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlparse(resp.headers["Location"]).query).items()} | {
        "_target": resp.headers["Location"]}


def csrf(page: str) -> str:
    import re
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def ghl_signed_in(client, user: dict) -> bool:
    """``user`` (GoHighLevel's SSO payload) opened Ringback from GoHighLevel: the session is theirs."""
    from dataclasses import replace

    from tests.vendors.ghl import SSO_KEY, cryptojs_encrypt
    rt = client.application.extensions["ringback"]
    rt.config = replace(rt.config, ghl_sso_key=SSO_KEY)
    return client.post("/sso/ghl", json={"encryptedData": cryptojs_encrypt(user, SSO_KEY)}).status_code == 200


def location_user_signed_in(client, location: str, email: str = "desk@acme.example") -> bool:
    """A user of one GoHighLevel location of COMPANY (its settings page, no agency view)."""
    return ghl_signed_in(client, {"userId": "u2", "companyId": COMPANY, "role": "user", "type": "location",
                                  "activeLocation": location, "email": email})


def agency_signed_in(client):
    """The agency page as the GoHighLevel agency's admin sees it, opened from GoHighLevel (SSO)."""
    assert generated_agency_signed_in(client, email="owner@acme.example")
    page = client.get("/agency")
    assert page.status_code == 200 and "Change many at once" in page.get_data(as_text=True)
    return page.get_data(as_text=True)


def generated_agency_signed_in(client, email: str = "owner@agency.example") -> bool:
    """The admin of COMPANY's agency (one installed from the marketplace, or one made by
    bench/agency_history.py with ``company=COMPANY``), through GoHighLevel's SSO."""
    return ghl_signed_in(client, {"userId": "u1", "companyId": COMPANY, "role": "admin", "type": "agency",
                                  "email": email})
