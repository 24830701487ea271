"""Ringback's HubSpot card and settings page (UI extensions) talk to Ringback with hubspot.fetch:
signed by HubSpot with the app's client secret, refused like a forged webhook otherwise."""
from __future__ import annotations

import json
import time

import pytest
from hubspot.utils.signature import Signature
from sqlalchemy import select

from integration.models import Message, Recovery, WorkflowSetting
from integration.settings_store import TEXT_BACK
from tests.conftest import BUSINESS_NUMBER, CALLER, HUBSPOT_PORTAL, HUBSPOT_SECRET, PUBLIC_URL

CONTACT_ID = "901"


def fetch(client, path: str, body: dict | None = None, *, secret: str = HUBSPOT_SECRET, age: float = 0,
          portal: str = HUBSPOT_PORTAL):
    """A request as hubspot.fetch makes it: portal and user appended to the query, v3-signed."""
    sep = "&" if "?" in path else "?"
    path = f"{path}{sep}portalId={portal}&userId=77&userEmail=owner%40acme.example&appId=4242"
    raw = json.dumps(body).encode() if body is not None else b""
    ts = str(int((time.time() - age) * 1000))
    signature = Signature.get_signature(secret, raw.decode(), "v3", http_uri=PUBLIC_URL + path.replace("%40", "@"),
                                        http_method="POST" if body is not None else "GET", timestamp=ts)
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": ts,
               "Content-Type": "application/json"}
    return client.post(path, data=raw, headers=headers) if body is not None else client.get(path, headers=headers)


@pytest.fixture
def recovered(rt, hubspot_sub):
    """A caller of the portal missed, texted back and booked, known in HubSpot as contact 901."""
    with rt.sessions.begin() as s:
        r = Recovery(sub_account_id=hubspot_sub.id, caller=CALLER, state="booked", value=180.0,
                     crm_refs={"contact_id": CONTACT_ID, "deal_id": "5501"})
        s.add(r)
        s.flush()
        s.add(Message(sub_account_id=hubspot_sub.id, recovery_id=r.id, direction="outbound", to_number=CALLER,
                      from_number=BUSINESS_NUMBER, body="Acme Plumbing: sorry we missed you", provider="twilio",
                      status="delivered", idempotency_key="t-1"))
    return hubspot_sub


def test_the_card_shows_the_contacts_recovery_and_opens_the_settings_page(client, rt, recovered):
    card = fetch(client, f"/hubspot/extension/recovery?objectType=0-1&objectId={CONTACT_ID}")
    assert card.status_code == 200, card.data
    [r] = card.json["recoveries"]
    assert (r["state_label"], r["value"]) == ("Booked", 180.0)
    assert r["texts"][0]["body"] == "Acme Plumbing: sorry we missed you" and r["texts"][0]["status"] == "delivered"
    # The same recovery on its deal; another contact has none.
    assert fetch(client, "/hubspot/extension/recovery?objectType=0-3&objectId=5501").json["recoveries"][0]["id"] == r["id"]
    assert fetch(client, "/hubspot/extension/recovery?objectType=0-1&objectId=902").json["recoveries"] == []
    opened = client.get(card.json["settings_url"].removeprefix(PUBLIC_URL))
    assert opened.status_code == 302 and opened.headers["Location"] == f"/settings/{recovered.id}"


@pytest.mark.parametrize("how, status, says", [
    (dict(secret="not-the-apps-secret"), 401, "does not match"),
    (dict(age=600), 401, "not within 5 minutes"),
    (dict(portal="99999"), 403, "not installed in HubSpot account"),
])
def test_a_forged_stale_or_foreign_request_is_refused(client, rt, recovered, how, status, says):
    refused = fetch(client, f"/hubspot/extension/recovery?objectType=0-1&objectId={CONTACT_ID}", **how)
    assert refused.status_code == status and says in refused.json["error"]
    assert client.get(f"/hubspot/extension/recovery?objectType=0-1&objectId={CONTACT_ID}&portalId="
                      f"{HUBSPOT_PORTAL}").status_code == 401  # not signed at all


def test_bad_card_parameters_are_named(client, rt, recovered):
    bad = fetch(client, "/hubspot/extension/recovery?objectType=0-5&objectId=abc")
    assert bad.status_code == 400 and "objectId" in bad.json["error"] and "objectType" in bad.json["error"]


def test_the_settings_page_switches_workflows_and_edits_the_texts(client, rt, hubspot_sub):
    shown = fetch(client, "/hubspot/extension/settings")
    assert shown.status_code == 200
    switches = {w["key"]: w["enabled"] for w in shown.json["workflows"]}
    assert switches[TEXT_BACK] is True
    saved = fetch(client, "/hubspot/extension/settings", {
        "workflows": {TEXT_BACK: False, "follow_ups": True},
        "templates": {"after_hours_template": "{business_name} is closed, we will call at 8"}})
    assert saved.status_code == 200, saved.json
    switches = {w["key"]: w["enabled"] for w in saved.json["workflows"]}
    assert (switches[TEXT_BACK], switches["follow_ups"]) == (False, True)
    texts = {t["key"]: t["text"] for t in saved.json["templates"]}
    assert texts["after_hours_template"] == "{business_name} is closed, we will call at 8"
    # What the settings page and the worker read: the same rows.
    with rt.sessions() as s:
        row = s.scalar(select(WorkflowSetting).where(WorkflowSetting.sub_account_id == hubspot_sub.id,
                                                     WorkflowSetting.workflow == TEXT_BACK))
        assert row.enabled is False and row.settings["after_hours_template"].startswith("{business_name} is closed")


@pytest.mark.parametrize("body, says", [
    ({"workflows": {"make_coffee": True}}, "make_coffee"),
    ({"templates": {"after_hours_template": "Hi {nickname}"}}, "unknown merge field {nickname}"),
    ({"workflows": {"follow_ups": "yes please"}}, "Not a valid boolean"),
])
def test_a_bad_settings_change_is_refused_and_nothing_saved(client, rt, hubspot_sub, body, says):
    refused = fetch(client, "/hubspot/extension/settings", body)
    assert refused.status_code == 400 and says in refused.json["error"]
    with rt.sessions() as s:
        assert s.scalars(select(WorkflowSetting).where(WorkflowSetting.sub_account_id == hubspot_sub.id)).all() == []


def test_a_hubspot_only_agency_reaches_its_dashboard_from_the_card(client, rt, recovered):
    """No agency view in HubSpot: the portal's user opens the settings page from the card, and its
    dashboard from there (the portal's own numbers, nothing else)."""
    import re
    card = fetch(client, f"/hubspot/extension/recovery?objectType=0-1&objectId={CONTACT_ID}")
    page = client.get(client.get(card.json["settings_url"].removeprefix(PUBLIC_URL)).headers["Location"])
    link = re.search(r'<a href="([^"]+)" id="open-dashboard">', page.get_data(as_text=True)).group(1)
    board = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert re.search(r'<b id="t-booked">1</b>', board) and re.search(r'<b id="t-revenue">\$180</b>', board)
    assert "No such sub-account" in client.get(f"/agency/dashboard?sub={recovered.id + 1}").get_data(as_text=True)
