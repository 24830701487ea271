"""The settings page and the doors into it: GoHighLevel SSO, Salesforce Canvas, HubSpot's signed card."""
from __future__ import annotations

import base64
import re
import time
from dataclasses import replace

import pytest
from sqlalchemy import select

from integration.models import Agency, SubAccount
from tests.conftest import BUSINESS_NUMBER, CALLER, SF_ORG
from tests.vendors.ghl import SSO_KEY, cryptojs_encrypt
from tests.vendors.salesforce import SF_CONSUMER_SECRET, canvas_request
from tests.vendors.twilio import fixture as twilio_fixture
from tests.vendors.twilio import post as twilio_post

COMPANY, OTHER_COMPANY = "GNb7aIv4rQFVb9iwNl5K", "Xx9yZz8wVv7uUt6sSr5q"
LOC_A, LOC_B = "yLKVZpNppIdYpah4RjNE", "aBcDeFgHiJkLmNoPqRsT"




def csrf(page) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()


@pytest.fixture
def tenants(rt):
    """Two GoHighLevel agencies: ours with locations A and B, another agency's location; keys configured."""
    rt.config = replace(rt.config, ghl_sso_key=SSO_KEY, salesforce_client_secret=SF_CONSUMER_SECRET)
    with rt.sessions.begin() as s:
        ours, theirs = Agency(name="Ours", provider="ghl", external_id=COMPANY), Agency(
            name="Theirs", provider="ghl", external_id=OTHER_COMPANY)
        s.add_all([ours, theirs])
        s.flush()
        a = SubAccount(agency_id=ours.id, name="Acme Plumbing", provider="ghl", external_id=LOC_A,
                       phone_number=BUSINESS_NUMBER, timezone="America/Chicago", business_hours="24/7",
                       booking_url="https://acme.example/book")
        b = SubAccount(agency_id=ours.id, name="Bright Dental", provider="ghl", external_id=LOC_B,
                       timezone="America/Chicago", business_hours="mon-fri 08:00-17:00")
        c = SubAccount(agency_id=theirs.id, name="Their Client", provider="ghl", external_id="zZzZzZzZzZzZzZzZzZzZ",
                       timezone="America/Chicago", business_hours="24/7")
        sf = SubAccount(name="Acme SF", provider="salesforce", external_id=SF_ORG, timezone="America/Chicago",
                        business_hours="24/7")
        s.add_all([a, b, c, sf])
    with rt.sessions() as s:
        return {sub.name: sub.id for sub in s.scalars(select(SubAccount))}


def _ghl_user(**extra) -> dict:
    return {"userId": "MKQJ7wOVVmNOMvrnKKKK", "companyId": COMPANY, "role": "admin", "type": "location",
            "userName": "Dana Reyes", "email": "dana@acme.example"} | extra


def ghl_sign_in(client, user: dict, key: str = SSO_KEY):
    return client.post("/sso/ghl", json={"encryptedData": cryptojs_encrypt(user, key)})


def test_a_location_user_sees_their_sub_account_and_nothing_else(client, tenants):
    resp = ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    assert resp.status_code == 200 and resp.json == {"redirect": f"/settings/{tenants['Acme Plumbing']}"}
    page = client.get(resp.json["redirect"])
    assert page.status_code == 200 and b"Ringback for Acme Plumbing" in page.data
    assert b"dana@acme.example" in page.data
    assert client.get(f"/settings/{tenants['Bright Dental']}").status_code == 403
    assert client.get(f"/settings/{tenants['Their Client']}").status_code == 403
    assert b"Bright Dental" not in client.get("/agency").data


def test_an_agency_user_sees_every_sub_account_of_the_agency_only(client, tenants):
    resp = ghl_sign_in(client, _ghl_user(type="agency"))
    assert resp.json == {"redirect": "/agency"}
    agency = client.get("/agency").data
    assert b"Acme Plumbing" in agency and b"Bright Dental" in agency and b"Their Client" not in agency
    assert client.get(f"/settings/{tenants['Bright Dental']}").status_code == 200
    assert client.get(f"/settings/{tenants['Their Client']}").status_code == 403


@pytest.mark.parametrize("tamper, why", [
    (lambda p: p[:-8] + ("AAAAAAA=" if not p.endswith("AAAAAAA=") else "BBBBBBB="), "does not decrypt"),
    (lambda p: "not base64!", "not base64"),
    (lambda p: base64.b64encode(b"plain json, no salt header").decode(), "not in CryptoJS's format"),
])
def test_a_tampered_ghl_payload_is_refused(client, tenants, tamper, why):
    payload = tamper(cryptojs_encrypt(_ghl_user(activeLocation=LOC_A), SSO_KEY))
    resp = client.post("/sso/ghl", json={"encryptedData": payload})
    assert resp.status_code == 403 and why in resp.json["error"]
    assert client.get(f"/settings/{tenants['Acme Plumbing']}").status_code == 401


def test_a_payload_made_with_another_apps_secret_is_refused(client, tenants):
    resp = ghl_sign_in(client, _ghl_user(activeLocation=LOC_A), key="someone-elses-shared-secret")
    assert resp.status_code == 403


def test_a_location_of_another_agency_is_refused(client, tenants):
    resp = ghl_sign_in(client, _ghl_user(activeLocation="zZzZzZzZzZzZzZzZzZzZ"))  # our company, their location
    assert resp.status_code == 403 and resp.json["error"] == "this sub-account belongs to another agency"


def test_without_a_session_the_page_says_to_open_it_from_the_crm(client, tenants):
    page = client.get(f"/settings/{tenants['Acme Plumbing']}")
    assert page.status_code == 401 and b"opens only from inside its CRM" in page.data


def _canvas(issued_at=None, org=SF_ORG):
    return {"algorithm": "HMACSHA256", "issuedAt": issued_at, "userId": "0055e000003XyZaAAC",
            "client": {"instanceUrl": "https://acme.my.salesforce.com", "oauthToken": "00D!x", "targetOrigin": "x"},
            "context": {"user": {"userId": "0055e000003XyZaAAC", "email": "ops@acme.example", "fullName": "Ops"},
                        "organization": {"organizationId": org, "name": "Acme"}}}


def test_salesforce_canvas_signed_request_opens_the_orgs_page(client, tenants):
    resp = client.post("/sso/salesforce", data={"signed_request": canvas_request(_canvas(int(time.time() * 1000)))})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/settings/{tenants['Acme SF']}"
    assert b"ops@acme.example" in client.get(resp.headers["Location"]).data


@pytest.mark.parametrize("request_, why", [
    (lambda: canvas_request(_canvas(), secret="another-apps-consumer-secret"), b"signature does not match"),
    (lambda: canvas_request(_canvas(int((time.time() - 25 * 3600) * 1000))), b"has expired"),
    (lambda: canvas_request(_canvas(None)), b"has expired"),  # no time: it could be replayed for ever
    (lambda: canvas_request(_canvas(10 ** 400)), b"not base64 JSON"),  # 1e400 is no time either
    (lambda: canvas_request(_canvas(int(time.time() * 1000), org="00D000000000001AAA")),
     b"not installed in Salesforce org"),
    (lambda: "no-dot-here", b"no signature part"),
])
def test_bad_canvas_requests_are_refused(client, tenants, request_, why):
    resp = client.post("/sso/salesforce", data={"signed_request": request_()})
    assert resp.status_code == 403 and why in resp.data


# ------------------------------------------------------------------ the page itself

def test_a_template_with_an_unknown_merge_field_is_refused_naming_it(client, tenants):
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    sub_id = tenants["Acme Plumbing"]
    page = client.get(f"/settings/{sub_id}")
    form = {"csrf_token": csrf(page), "enabled": "true", "business_hours_template": "Hi {frist_name}!",
            "business_hours": "24/7", "timezone": "America/Chicago", "dedupe_hours": "24"}
    resp = client.post(f"/settings/{sub_id}", data=form)
    assert resp.status_code == 400 and b"frist_name" in resp.data and b"Not saved" in resp.data
    form |= {"business_hours_template": "", "timezone": "Mars/Olympus"}
    assert b"Mars/Olympus" in client.post(f"/settings/{sub_id}", data=form).data


def test_a_save_without_the_csrf_token_is_refused(client, tenants):
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    resp = client.post(f"/settings/{tenants['Acme Plumbing']}", data={"business_hours": "24/7",
                                                                      "timezone": "UTC", "dedupe_hours": "1"})
    assert resp.status_code == 400


def test_saved_wording_is_what_the_next_missed_caller_gets(client, rt, tenants, fake_twilio):
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    sub_id = tenants["Acme Plumbing"]
    page = client.get(f"/settings/{sub_id}")
    form = {"csrf_token": csrf(page), "enabled": "true",
            "business_hours_template": "{business_name} here - sorry we missed you! Book: {booking_link}",
            "after_hours_template": "", "booking_url": "https://acme.example/book-now", "business_hours": "24/7",
            "timezone": "America/Chicago", "dedupe_hours": "12", "send_via": "twilio",
            "stage_texted_back": "Contacted"}
    resp = client.post(f"/settings/{sub_id}", data=form)
    assert resp.status_code == 302 and resp.headers["Location"] == f"/settings/{sub_id}?saved=1"
    twilio_post(client, "/webhooks/twilio/voice", twilio_fixture("call_status__no_answer"))
    [text] = fake_twilio.messages
    assert text["body"].startswith("Acme Plumbing here - sorry we missed you! Book: https://ringback.example.com/b/")
    link = text["body"].split("Book: ")[1].split(" ")[0].removeprefix("https://ringback.example.com")
    assert client.get(link).headers["Location"] == "https://acme.example/book-now"  # the saved link
    saved = client.get(f"/settings/{sub_id}?saved=1").data
    assert b'value="Contacted"' in saved and b'value="12"' in saved


def test_switched_off_means_no_text(client, rt, tenants, fake_twilio):
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    sub_id = tenants["Acme Plumbing"]
    form = {"csrf_token": csrf(client.get(f"/settings/{sub_id}")), "business_hours": "24/7",
            "timezone": "America/Chicago", "dedupe_hours": "24"}  # no "enabled": the box is unticked
    assert client.post(f"/settings/{sub_id}", data=form).status_code == 302
    twilio_post(client, "/webhooks/twilio/voice", twilio_fixture("call_status__no_answer"))
    assert fake_twilio.messages == []


def test_preview_counts_segments_and_names_bad_fields(client, tenants):
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    sub_id = tenants["Acme Plumbing"]
    token = csrf(client.get(f"/settings/{sub_id}"))
    hdrs = {"X-CSRFToken": token}
    ok = client.post(f"/settings/{sub_id}/preview", json={"template": "Hi {first_name}, {business_name} 🙂"},
                     headers=hdrs)
    assert ok.json["text"].startswith("Hi there, Acme Plumbing 🙂") and ok.json["encoding"] == "UCS-2"
    bad = client.post(f"/settings/{sub_id}/preview", json={"template": "{nope}"}, headers=hdrs)
    assert bad.status_code == 400 and "nope" in bad.json["error"]


def test_a_test_text_reaches_the_users_phone_at_most_five_times_an_hour(client, tenants, fake_twilio):
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    sub_id = tenants["Acme Plumbing"]
    hdrs = {"X-CSRFToken": csrf(client.get(f"/settings/{sub_id}"))}
    for _ in range(5):
        resp = client.post(f"/settings/{sub_id}/test-text", json={"phone": "(512) 555-0123"}, headers=hdrs)
        assert resp.status_code == 200, resp.json
    assert [m["to"] for m in fake_twilio.messages] == [CALLER] * 5
    assert fake_twilio.messages[0]["body"].startswith("[Test] ")
    assert client.post(f"/settings/{sub_id}/test-text", json={"phone": CALLER}, headers=hdrs).status_code == 429
    assert client.post(f"/settings/{sub_id}/test-text", json={"phone": "12"}, headers=hdrs).status_code == 400


def test_hubspots_page_opened_on_its_own_offers_a_hubspot_sign_in(client, rt, hubspot_sub):
    page = client.get(f"/settings/{hubspot_sub.id}")
    assert page.status_code == 401 and b'id="hubspot-sign-in" href="/oauth/hubspot/install"' in page.data
    start = client.get("/oauth/hubspot/install")
    assert start.headers["Location"].startswith("https://app.hubspot.com/oauth/authorize?")


def test_the_pack_workflows_are_switched_and_set_on_the_page(client, rt, tenants):
    from integration.models import SubAccount
    from integration.settings_store import pack_settings
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    sub_id = tenants["Acme Plumbing"]
    page = client.get(f"/settings/{sub_id}")
    assert b'id="wf_follow_ups" value="true" checked' in page.data
    form = {"csrf_token": csrf(page), "enabled": "true", "business_hours": "24/7", "timezone": "America/Chicago",
            "dedupe_hours": "24", "workflows_shown": "1", "wf_reply_router": "true", "wf_escalation": "true",
            "urgent_words": "flooding, no heat", "answer_hours": "Open 24/7.", "touches": "2",
            "second_after_minutes": "90", "quiet_start": "20:00", "quiet_end": "09:00",
            "on_call_numbers": "(512) 555-0177", "no_booking_hours": "6", "average_job_value": "275",
            "lost_after_days": "5"}  # follow-ups and booking sync unticked
    assert client.post(f"/settings/{sub_id}", data=form).status_code == 302
    with rt.sessions() as s:
        pack = pack_settings(s, s.get(SubAccount, sub_id))
    assert pack.replies.urgent_words == ("flooding", "no heat") and pack.replies.answers == {"hours": "Open 24/7."}
    assert (pack.follow_ups.enabled, pack.follow_ups.touches, pack.follow_ups.second_after_minutes) == (False, 2, 90)
    assert pack.escalation.on_call_numbers == ("+15125550177",) and pack.booking.enabled is False
    form |= {"touches": "4", "csrf_token": csrf(client.get(f"/settings/{sub_id}"))}
    refused = client.post(f"/settings/{sub_id}", data=form)
    assert refused.status_code == 400 and b"follow_ups.touches" in refused.data
    # A trade pack in one step.
    form = {"csrf_token": csrf(client.get(f"/settings/{sub_id}")), "enabled": "true", "business_hours": "24/7",
            "timezone": "America/Chicago", "dedupe_hours": "24", "workflows_shown": "1", "pack": "auto_repair"}
    assert client.post(f"/settings/{sub_id}", data=form).status_code == 302
    with rt.sessions() as s:
        assert pack_settings(s, s.get(SubAccount, sub_id)).booking.average_job_value == 450.0


def test_wording_is_edited_on_the_page_and_an_emptied_box_goes_back_to_ringbacks(client, rt, tenants):
    from integration.models import SubAccount
    from integration.settings_store import pack_settings
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    sub_id = tenants["Acme Plumbing"]
    base = {"enabled": "true", "business_hours": "24/7", "timezone": "America/Chicago", "dedupe_hours": "24",
            "workflows_shown": "1", "wf_reply_router": "true", "wf_follow_ups": "true"}
    form = base | {"csrf_token": csrf(client.get(f"/settings/{sub_id}")),
                   "second_template": "{business_name} again: still need us? {booking_link}",
                   "book_reply": "Book here, {first_name}: {booking_link}"}
    assert client.post(f"/settings/{sub_id}", data=form).status_code == 302
    with rt.sessions() as s:
        pack = pack_settings(s, s.get(SubAccount, sub_id))
    assert pack.follow_ups.second_template.startswith("{business_name} again")
    assert pack.replies.book_reply == "Book here, {first_name}: {booking_link}"
    bad = base | {"csrf_token": csrf(client.get(f"/settings/{sub_id}")), "third_template": "Last try {nmae}"}
    refused = client.post(f"/settings/{sub_id}", data=bad)
    assert refused.status_code == 400 and b"unknown merge field {nmae}" in refused.data
    cleared = base | {"csrf_token": csrf(client.get(f"/settings/{sub_id}")), "second_template": "", "book_reply": ""}
    assert client.post(f"/settings/{sub_id}", data=cleared).status_code == 302
    with rt.sessions() as s:
        pack = pack_settings(s, s.get(SubAccount, sub_id))
    assert pack.follow_ups.second_template is None
    assert pack.replies.book_reply.startswith("Great! Pick a time")


def test_the_late_text_window_is_edited_on_the_page(client, rt, tenants):
    from integration.settings_store import text_back_settings
    ghl_sign_in(client, _ghl_user(activeLocation=LOC_A))
    sub_id = tenants["Acme Plumbing"]
    page = client.get(f"/settings/{sub_id}")
    assert b'name="late_text_minutes"' in page.data and b'value="15"' in page.data
    form = {"csrf_token": csrf(page), "enabled": "true", "business_hours": "24/7", "timezone": "America/Chicago",
            "dedupe_hours": "24", "late_text_minutes": "45"}
    assert client.post(f"/settings/{sub_id}", data=form).status_code == 302
    with rt.sessions() as s:
        assert text_back_settings(s, s.get(SubAccount, sub_id)).late_text_seconds == 45 * 60
    refused = client.post(f"/settings/{sub_id}", data=form | {"late_text_minutes": "9999"})
    assert refused.status_code == 400 and b"Not saved" in refused.data
