"""Each CRM end to end: `ringback serve` on a real port, the vendor fakes on theirs.

A signed missed-call event goes in; the text is seen at the fake Twilio; the contact and the
deal/opportunity appear at the fake CRM in the right stage; a reply moves it to Replied.
"""
from __future__ import annotations

import base64
import time

import pytest
import requests

from tests.conftest import CALLER, HUBSPOT_PORTAL, HUBSPOT_SECRET, HUBSPOT_TOKEN, sign
from tests.servers import start_server, wait_until
from tests.vendors.ghl import LOCATION, raw
from tests.vendors.hubspot import FIXTURES as HUBSPOT_FIXTURES
from tests.vendors.hubspot import MISSED
from tests.vendors.salesforce import CONTACT, FIXTURES as SF_FIXTURES, LEAD, ORG
from tests.vendors.twilio import fixture as twilio_fixture

pytestmark = pytest.mark.e2e


def _reply(server, to: str | None = None):
    params = twilio_fixture("inbound_sms__reply") | ({"To": to} if to else {})
    path = "/webhooks/twilio/sms"
    resp = requests.post(server["url"] + path, data=params, timeout=5,
                         headers={"X-Twilio-Signature": sign(server["url"] + path, params)})
    assert resp.status_code == 200


def _hubspot_call_logged(server):
    """HubSpot's signed webhook for a call its calling app logged (the call is at the fake)."""
    _hubspot_webhook(server, (HUBSPOT_FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes())


def test_gohighlevel(request, db_url, fake_twilio, fake_ghl, ghl_signing_keys, tmp_path):
    token = "pit-e2e-0001"
    fake_ghl.install(LOCATION, token)
    server = start_server(request, db_url, fake_twilio, tmp_path,
                          env_extra={"GHL_API_URL": fake_ghl.url, "GHL_WEBHOOK_PUBLIC_KEY": ghl_signing_keys[2]},
                          add_args=["--ghl-location", LOCATION, "--crm-token", token])
    try:
        body = raw("inbound_message__call_voicemail")
        sig = base64.b64encode(ghl_signing_keys[0].sign(body)).decode()
        resp = requests.post(server["url"] + "/webhooks/ghl", data=body, timeout=5,
                             headers={"X-GHL-Signature": sig, "Content-Type": "application/json"})
        assert resp.json() == {"status": "accepted"}
        [text] = fake_twilio.wait_for(1)
        assert text["to"] == CALLER
        stage = lambda: [fake_ghl.stage_name(o) for o in fake_ghl.opportunities.values()]  # noqa: E731
        wait_until(lambda: stage() == ["Texted back"] and len(fake_ghl.notes) == 1, what="the opportunity in Texted back")
        _reply(server)
        # The reply's note, and the note of Ringback's answer to it.
        wait_until(lambda: stage() == ["Replied"] and len(fake_ghl.notes) == 3, what="the opportunity in Replied")
        assert [c["phone"] for c in fake_ghl.contacts.values()] == [CALLER]
    finally:
        server["stop"]()


def test_hubspot(request, db_url, fake_twilio, fake_hubspot, tmp_path):
    fake_hubspot.install(HUBSPOT_PORTAL, HUBSPOT_TOKEN)
    fake_hubspot.put(HUBSPOT_PORTAL, "calls", "52000001", MISSED)
    server = start_server(request, db_url, fake_twilio, tmp_path,
                          env_extra={"HUBSPOT_API_URL": fake_hubspot.url, "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET},
                          add_args=["--hubspot-portal", HUBSPOT_PORTAL, "--crm-token", HUBSPOT_TOKEN])
    try:
        _hubspot_call_logged(server)
        [text] = fake_twilio.wait_for(1)
        assert text["to"] == CALLER
        label = lambda: [fake_hubspot.stage_label(HUBSPOT_PORTAL, d["dealstage"])  # noqa: E731
                         for d in fake_hubspot.deals(HUBSPOT_PORTAL)]
        wait_until(lambda: label() == ["Texted back"], what="the deal in Texted back")
        _reply(server)
        wait_until(lambda: label() == ["Replied"], what="the deal in Replied")
    finally:
        server["stop"]()


def test_salesforce(request, db_url, fake_twilio, fake_salesforce, tmp_path):
    fake_salesforce.put("Lead", LEAD, {"Phone": CALLER, "MobilePhone": None, "LastName": "Reyes"})
    fake_salesforce.put("Contact", CONTACT, {"Phone": "+15125550177", "MobilePhone": None, "LastName": "Okafor"})
    server = start_server(request, db_url, fake_twilio, tmp_path,
                          env_extra={"REQUESTS_CA_BUNDLE": fake_salesforce.ca_bundle},
                          add_args=["--salesforce-org", ORG, "--salesforce-instance", fake_salesforce.url,
                                    "--crm-token", fake_salesforce.session_id])
    try:
        outbound = server["added"].stderr.strip().rsplit(" ", 1)[-1]
        assert outbound.startswith(server["url"] + "/webhooks/salesforce/")
        resp = requests.post(outbound, data=(SF_FIXTURES / "outbound_message__task_no_answer.xml").read_bytes(),
                             headers={"Content-Type": "text/xml"}, timeout=5)
        assert b"<Ack>true</Ack>" in resp.content
        [text] = fake_twilio.wait_for(1)
        assert text["to"] == CALLER
        # The caller's number read from the Task's WhoId (besides the catch-up pass the worker ran on start).
        assert f"GET /services/data/v59.0/sobjects/Lead/{LEAD}" in fake_salesforce.requests
        wait_until(lambda: fake_salesforce.records[("Lead", LEAD)].get("Status") == "Texted back",
                   what="the Lead in Texted back")
    finally:
        server["stop"]()



def test_hubspot_from_a_marketplace_install_to_the_first_text(request, db_url, fake_twilio, fake_hubspot, tmp_path):
    """The way agencies arrive: install from HubSpot's marketplace, give the new sub-account a
    number on its number page, then a caller is missed: texted from that number, deal in Texted back."""
    import re
    from urllib.parse import parse_qs, urlparse

    from tests.fakes.hubspot_api import CLIENT_ID
    number = "+15125550176"
    fake_twilio.own_number(fake_twilio.account_sid, number)
    fake_hubspot.put(HUBSPOT_PORTAL, "calls", "52000001", MISSED)
    server = start_server(request, db_url, fake_twilio, tmp_path, env_extra={
        "HUBSPOT_API_URL": fake_hubspot.url, "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET, "HUBSPOT_CLIENT_ID": CLIENT_ID})
    try:
        browser = requests.Session()
        start = browser.get(server["url"] + "/oauth/hubspot/install", allow_redirects=False, timeout=5)
        query = {k: v[0] for k, v in parse_qs(urlparse(start.headers["Location"]).query).items()}
        code = fake_hubspot.authorize(HUBSPOT_PORTAL, query["redirect_uri"])
        landed = browser.get(f"{server['url']}/oauth/hubspot/callback?code={code}&state={query['state']}", timeout=10)
        assert landed.status_code == 200 and "no number to text from" in landed.text  # says what it needs
        sub_id = int(re.search(r"/settings/(\d+)/number", landed.text).group(1))
        page = browser.get(f"{server['url']}/settings/{sub_id}/number", timeout=10)
        assert number in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        chosen = browser.post(f"{server['url']}/settings/{sub_id}/number", timeout=10,
                              data={"csrf_token": token, "action": "assign", "phone": number})
        assert chosen.status_code == 200 and f"Texts come from <strong>{number}</strong>" in chosen.text

        _hubspot_call_logged(server)
        [text] = fake_twilio.wait_for(1)
        assert (text["to"], text["from"]) == (CALLER, number)
        label = lambda: [fake_hubspot.stage_label(HUBSPOT_PORTAL, d["dealstage"])  # noqa: E731
                         for d in fake_hubspot.deals(HUBSPOT_PORTAL)]
        wait_until(lambda: label() == ["Texted back"], what="the deal in Texted back")
        _reply(server, to=number)  # the caller answers the text
        wait_until(lambda: label() == ["Replied"], what="the deal in Replied")
    finally:
        server["stop"]()


def test_salesforce_from_a_marketplace_install_to_the_first_text(request, db_url, fake_twilio, fake_salesforce,
                                                                  tmp_path):
    """Install from Salesforce, choose a number on the number page, then the org's Flow reports a
    missed call Task: texted from that number, the Lead in Texted back."""
    import json
    import re
    import subprocess
    from urllib.parse import parse_qs, urlparse

    from tests.fakes.salesforce_api import CLIENT_ID, CLIENT_SECRET
    from tests.servers import RINGBACK
    number = "+15125550177"
    fake_twilio.own_number(fake_twilio.account_sid, number)
    fake_salesforce.put("Lead", LEAD, {"Phone": CALLER, "MobilePhone": None, "LastName": "Reyes"})
    server = start_server(request, db_url, fake_twilio, tmp_path, env_extra={
        "SALESFORCE_CLIENT_ID": CLIENT_ID, "SALESFORCE_CLIENT_SECRET": CLIENT_SECRET,
        "SALESFORCE_LOGIN_URL": fake_salesforce.url, "REQUESTS_CA_BUNDLE": fake_salesforce.ca_bundle})
    try:
        browser = requests.Session()
        start = browser.get(server["url"] + "/oauth/salesforce/install", allow_redirects=False, timeout=5)
        query = {k: v[0] for k, v in parse_qs(urlparse(start.headers["Location"]).query).items()}
        code = fake_salesforce.authorize(query["redirect_uri"])
        landed = browser.get(f"{server['url']}/oauth/salesforce/callback?code={code}&state={query['state']}", timeout=10)
        assert landed.status_code == 200 and "no number to text from" in landed.text
        sub_id = int(re.search(r"/settings/(\d+)/number", landed.text).group(1))
        page = browser.get(f"{server['url']}/settings/{sub_id}/number", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        chosen = browser.post(f"{server['url']}/settings/{sub_id}/number", timeout=10,
                              data={"csrf_token": token, "action": "assign", "phone": number})
        assert f"Texts come from <strong>{number}</strong>" in chosen.text
        listed = subprocess.run([RINGBACK, "installations", "list", "--format", "json"], env=server["env"],
                                capture_output=True, text=True, timeout=60)
        [org] = [row for row in json.loads(listed.stdout) if row["provider"] == "salesforce"]
        resp = requests.post(org["outbound_message_url"], timeout=5, headers={"Content-Type": "text/xml"},
                             data=(SF_FIXTURES / "outbound_message__task_no_answer.xml").read_bytes())
        assert b"<Ack>true</Ack>" in resp.content
        [text] = fake_twilio.wait_for(1)
        assert (text["to"], text["from"]) == (CALLER, number)
        wait_until(lambda: fake_salesforce.records[("Lead", LEAD)].get("Status") == "Texted back",
                   what="the Lead in Texted back")
    finally:
        server["stop"]()


def test_gohighlevel_from_a_marketplace_install_to_the_first_text(request, db_url, fake_twilio, fake_ghl,
                                                                   ghl_signing_keys, tmp_path):
    """Install from GoHighLevel's marketplace: the location's own number is found at install, so
    the first missed call is texted from its inbox (not Twilio) and the opportunity moves."""
    import re
    from urllib.parse import parse_qs, urlparse

    from tests.fakes.ghl_api import CLIENT_ID, CLIENT_SECRET
    from tests.vendors.ghl import EVENT_CONTACT, known_caller, outbound
    fake_ghl.add_location(LOCATION, "otg8dTQqGLh3Q6iQI55w", "Acme Plumbing")
    fake_ghl.add_number(LOCATION, "+15125550178", default=True)
    known_caller(fake_ghl)
    server = start_server(request, db_url, fake_twilio, tmp_path, env_extra={
        "GHL_API_URL": fake_ghl.url, "GHL_WEBHOOK_PUBLIC_KEY": ghl_signing_keys[2], "GHL_CLIENT_ID": CLIENT_ID,
        "GHL_CLIENT_SECRET": CLIENT_SECRET})
    try:
        browser = requests.Session()
        start = browser.get(server["url"] + "/oauth/ghl/install", allow_redirects=False, timeout=5)
        query = {k: v[0] for k, v in parse_qs(urlparse(start.headers["Location"]).query).items()}
        code = fake_ghl.authorize(query["redirect_uri"], location_id=LOCATION)
        landed = browser.get(f"{server['url']}/oauth/ghl/callback?code={code}&state={query['state']}", timeout=10)
        assert landed.status_code == 200 and "own GoHighLevel number" in landed.text, re.findall(r"<p id=\"sender\">.*?</p>", landed.text, re.S)
        assert "cannot text your missed callers" not in landed.text

        body = raw("inbound_message__call_voicemail")
        sig = base64.b64encode(ghl_signing_keys[0].sign(body)).decode()
        resp = requests.post(server["url"] + "/webhooks/ghl", data=body, timeout=5,
                             headers={"X-GHL-Signature": sig, "Content-Type": "application/json"})
        assert resp.json() == {"status": "accepted"}
        wait_until(lambda: len(outbound(fake_ghl)) == 1, what="the text in the location's inbox")
        assert outbound(fake_ghl)[0]["contactId"] == EVENT_CONTACT and fake_twilio.messages == []
        stage = lambda: [fake_ghl.stage_name(o) for o in fake_ghl.opportunities.values()]  # noqa: E731
        wait_until(lambda: stage() == ["Texted back"], what="the opportunity in Texted back")
    finally:
        server["stop"]()


# ------------------------------------------------------------------ the events the app definitions promise

def _recovery(db_url):
    """(state, value) of the only recovery, read from the database `ringback serve` writes."""
    from sqlalchemy import create_engine, text
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT state, value FROM recoveries")).one_or_none()
    finally:
        engine.dispose()


def _deal_recorded(db_url) -> bool:
    """Ringback has recorded the deal/opportunity it opened (a person can only move it after that)."""
    from sqlalchemy import create_engine, text
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            refs = conn.execute(text("SELECT crm_refs FROM recoveries")).scalar_one_or_none()
    finally:
        engine.dispose()
    if isinstance(refs, str):
        import json
        refs = json.loads(refs)
    return bool(refs and refs.get("deal_id"))


def _hubspot_webhook(server, body: bytes):
    from hubspot.utils.signature import Signature
    ts = str(int(time.time() * 1000))
    url = server["url"] + "/webhooks/hubspot"
    headers = {"X-HubSpot-Signature-v3": Signature.get_signature(HUBSPOT_SECRET, body.decode(), "v3", http_uri=url,
                                                                 timestamp=ts),
               "X-HubSpot-Request-Timestamp": ts, "Content-Type": "application/json"}
    assert requests.post(url, data=body, headers=headers, timeout=5).json()["accepted"] == 1


def _hubspot_server(request, db_url, fake_twilio, fake_hubspot, tmp_path):
    fake_hubspot.install(HUBSPOT_PORTAL, HUBSPOT_TOKEN)
    fake_hubspot.put(HUBSPOT_PORTAL, "calls", "52000001", MISSED)
    return start_server(request, db_url, fake_twilio, tmp_path,
                        env_extra={"HUBSPOT_API_URL": fake_hubspot.url, "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET},
                        add_args=["--hubspot-portal", HUBSPOT_PORTAL, "--crm-token", HUBSPOT_TOKEN])


def test_hubspot_meeting_booked_books_the_recovery_with_its_value(request, db_url, fake_twilio, fake_hubspot,
                                                                  tmp_path):
    import subprocess
    from tests.servers import RINGBACK
    server = _hubspot_server(request, db_url, fake_twilio, fake_hubspot, tmp_path)
    try:
        valued = subprocess.run([RINGBACK, "subaccount", "workflow", "1", "booking_sync", "--on",
                                 "--set", "average_job_value=350"], env=server["env"], capture_output=True, text=True,
                                timeout=60)
        assert valued.returncode == 0, valued.stderr
        _hubspot_call_logged(server)
        fake_twilio.wait_for(1)
        wait_until(lambda: len(fake_hubspot.deals(HUBSPOT_PORTAL)) == 1 and _deal_recorded(db_url),
                   what="Ringback's deal")
        contact = next(oid for (pid, typ, oid) in fake_hubspot.objects if typ == "contacts")
        # The caller books: the business logs the meeting in HubSpot, HubSpot sends the webhook.
        fake_hubspot.put(HUBSPOT_PORTAL, "meetings", "7001", {"hs_meeting_start_time": "2026-12-03T15:00:00Z",
                                                              "hs_meeting_outcome": "SCHEDULED"})
        fake_hubspot.associations.append(("meetings", "7001", contact, 200))
        _hubspot_webhook(server, (HUBSPOT_FIXTURES / "meeting_creation__scheduled.json").read_bytes())
        wait_until(lambda: _recovery(db_url) == ("booked", 350.0), what="the recovery booked at 350")
        label = lambda: [fake_hubspot.stage_label(HUBSPOT_PORTAL, d["dealstage"])  # noqa: E731
                         for d in fake_hubspot.deals(HUBSPOT_PORTAL)]
        wait_until(lambda: label() == ["Booked"], what="the deal in Booked")
        [deal] = fake_hubspot.deals(HUBSPOT_PORTAL)
        assert float(deal["amount"]) == 350.0
    finally:
        server["stop"]()


def test_hubspot_deal_moved_to_lost_by_a_person_closes_it_lost(request, db_url, fake_twilio, fake_hubspot, tmp_path):
    import json
    server = _hubspot_server(request, db_url, fake_twilio, fake_hubspot, tmp_path)
    try:
        _hubspot_call_logged(server)
        fake_twilio.wait_for(1)
        wait_until(lambda: len(fake_hubspot.deals(HUBSPOT_PORTAL)) == 1 and _deal_recorded(db_url),
                   what="Ringback's deal")
        [deal] = fake_hubspot.deals(HUBSPOT_PORTAL)
        [pipeline] = fake_hubspot.pipelines[HUBSPOT_PORTAL]
        lost = next(st["id"] for st in pipeline["stages"] if st["label"] == "Lost")
        fake_hubspot.objects[(HUBSPOT_PORTAL, "deals", deal["id"])]["dealstage"] = lost  # a person moves it
        [event] = json.loads((HUBSPOT_FIXTURES / "deal_property_change__dealstage.json").read_text())
        event |= {"objectId": int(deal["id"]), "propertyValue": lost, "changeSource": "CRM_UI"}
        _hubspot_webhook(server, json.dumps([event]).encode())
        wait_until(lambda: (_recovery(db_url) or (None,))[0] == "lost", what="the recovery lost")
    finally:
        server["stop"]()


def _salesforce_server(request, db_url, fake_twilio, fake_salesforce, tmp_path, *, contact: bool):
    if contact:
        fake_salesforce.put("Contact", CONTACT, {"Phone": CALLER, "MobilePhone": None, "LastName": "Okafor"})
    else:
        fake_salesforce.put("Lead", LEAD, {"Phone": CALLER, "MobilePhone": None, "LastName": "Reyes"})
    server = start_server(request, db_url, fake_twilio, tmp_path,
                          env_extra={"REQUESTS_CA_BUNDLE": fake_salesforce.ca_bundle},
                          add_args=["--salesforce-org", ORG, "--salesforce-instance", fake_salesforce.url,
                                    "--crm-token", fake_salesforce.session_id])
    outbound = server["added"].stderr.strip().rsplit(" ", 1)[-1]
    call = (SF_FIXTURES / "outbound_message__task_no_answer.xml").read_bytes()
    if contact:
        call = call.replace(LEAD.encode(), CONTACT.encode())
    resp = requests.post(outbound, data=call, headers={"Content-Type": "text/xml"}, timeout=5)
    assert b"<Ack>true</Ack>" in resp.content
    fake_twilio.wait_for(1)
    return server, outbound


def test_salesforce_event_for_the_caller_books_the_recovery(request, db_url, fake_twilio, fake_salesforce, tmp_path):
    server, outbound = _salesforce_server(request, db_url, fake_twilio, fake_salesforce, tmp_path, contact=False)
    try:
        wait_until(lambda: fake_salesforce.records[("Lead", LEAD)].get("Status") == "Texted back",
                   what="the Lead in Texted back")
        resp = requests.post(outbound, data=(SF_FIXTURES / "outbound_message__event_created.xml").read_bytes(),
                             headers={"Content-Type": "text/xml"}, timeout=5)
        assert b"<Ack>true</Ack>" in resp.content
        wait_until(lambda: (_recovery(db_url) or (None,))[0] == "booked", what="the recovery booked")
        wait_until(lambda: fake_salesforce.records[("Lead", LEAD)].get("Status") == "Booked", what="the Lead Booked")
    finally:
        server["stop"]()


@pytest.mark.parametrize("fixture, state, value", [
    ("outbound_message__opportunity_closed_won", "booked", 450.0),
    ("outbound_message__opportunity_closed_lost", "lost", None),
])
def test_salesforce_opportunity_won_or_lost_by_a_person(request, db_url, fake_twilio, fake_salesforce, tmp_path,
                                                        fixture, state, value):
    server, outbound = _salesforce_server(request, db_url, fake_twilio, fake_salesforce, tmp_path, contact=True)
    try:
        opportunity = lambda: [k[1] for k in fake_salesforce.records if k[0] == "Opportunity"]  # noqa: E731
        wait_until(lambda: len(opportunity()) == 1 and _deal_recorded(db_url), what="Ringback's Opportunity")
        [opp_id] = opportunity()
        body = (SF_FIXTURES / f"{fixture}.xml").read_bytes().replace(b"0065e00000OPPORTUNITY", opp_id.encode()) \
            .replace(b"0035e00000CONTACTID", CONTACT.encode())
        resp = requests.post(outbound, data=body, headers={"Content-Type": "text/xml"}, timeout=5)
        assert b"<Ack>true</Ack>" in resp.content
        wait_until(lambda: _recovery(db_url) == (state, value), what=f"the recovery {state}")
    finally:
        server["stop"]()
