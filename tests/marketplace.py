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


def agency_signed_in(client):
    """The agency page as the GoHighLevel agency's admin sees it, opened from GoHighLevel (SSO)."""
    from dataclasses import replace

    from tests.vendors.ghl import SSO_KEY, cryptojs_encrypt
    rt = client.application.extensions["ringback"]
    rt.config = replace(rt.config, ghl_sso_key=SSO_KEY)
    user = {"userId": "u1", "companyId": COMPANY, "role": "admin", "type": "agency", "email": "owner@acme.example"}
    assert client.post("/sso/ghl", json={"encryptedData": cryptojs_encrypt(user, SSO_KEY)}).status_code == 200
    page = client.get("/agency")
    assert page.status_code == 200 and "Change many at once" in page.get_data(as_text=True)
    return page.get_data(as_text=True)


def generated_agency_signed_in(client) -> bool:
    """The admin of an agency made by bench/agency_history.py with ``company=COMPANY``, through
    GoHighLevel's SSO (as agency_signed_in, without the agency page's first look)."""
    from dataclasses import replace

    from tests.vendors.ghl import SSO_KEY, cryptojs_encrypt
    rt = client.application.extensions["ringback"]
    rt.config = replace(rt.config, ghl_sso_key=SSO_KEY)
    user = {"userId": "u1", "companyId": COMPANY, "role": "admin", "type": "agency", "email": "owner@agency.example"}
    return client.post("/sso/ghl", json={"encryptedData": cryptojs_encrypt(user, SSO_KEY)}).status_code == 200
