"""Catch-up: a call whose webhook never came is found by asking its vendor, and handled as the
webhook would have been: texted while a text still helps, a call-back task when found too late,
never twice when the webhook did come. `ringback catch-up` runs the same pass as the worker."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from integration import catch_up, runtime
from integration.models import Call, InboxEvent, SubAccount
from integration.worker import tasks
from tests.conftest import ACCOUNT_SID, BUSINESS_NUMBER, CALLER, HUBSPOT_PORTAL
from tests.vendors.ghl import EVENT_CONTACT, LOCATION, known_caller, missed_call
from tests.vendors.hubspot import MISSED
from tests.vendors.salesforce import LEAD


def _pass(rt, **kwargs) -> list[catch_up.Pass]:
    """One catch-up pass, its new events handled as the worker would (jobs run inline in tests)."""
    runtime.install(rt)  # the jobs' runtime is this test's
    passes = catch_up.run(rt, **kwargs)
    for one in passes:
        for event_id in one.event_ids:
            tasks.process_event(event_id)
    return passes


def _calls(rt) -> list[tuple[str, str | None]]:
    with rt.sessions() as s:
        return [(c.caller, c.outcome) for c in s.scalars(select(Call).order_by(Call.id))]


def _sub(rt, sub_id: int) -> SubAccount:
    with rt.sessions() as s:
        return s.get(SubAccount, sub_id)


# ------------------------------------------------------------------ Twilio numbers

@pytest.fixture
def number_sub(rt, sub, fake_twilio):
    """The Twilio-number sub-account, its number one of the account's at the fake Twilio."""
    fake_twilio.own_number(ACCOUNT_SID, BUSINESS_NUMBER)
    return sub


def test_a_twilio_call_whose_webhook_was_lost_is_texted(rt, number_sub, fake_twilio):
    fake_twilio.call(BUSINESS_NUMBER, CALLER, "no-answer")  # Twilio never reached Ringback
    [one] = _pass(rt)
    assert (one.listed, one.new, one.error) == (1, 1, None)
    [text] = fake_twilio.messages
    assert text["to"] == CALLER and text["from"] == BUSINESS_NUMBER
    assert _calls(rt) == [(CALLER, "texted")]
    assert _pass(rt)[0].new == 0 and len(fake_twilio.messages) == 1  # the next pass sees it again: nothing new


def test_a_twilio_call_that_came_by_webhook_is_recognised_by_its_callsid(rt, client, number_sub, fake_twilio):
    from tests.vendors.twilio import fixture, post
    sid = fake_twilio.call(BUSINESS_NUMBER, CALLER, "no-answer")
    params = fixture("call_status__no_answer") | {"CallSid": sid, "From": CALLER, "To": BUSINESS_NUMBER,
                                                  "AccountSid": ACCOUNT_SID}
    assert post(client, "/webhooks/twilio/voice", params).status_code == 200
    [one] = _pass(rt)
    assert (one.listed, one.new) == (1, 0)
    assert len(fake_twilio.messages) == 1 and _calls(rt) == [(CALLER, "texted")]


def test_a_forwarded_call_that_came_by_webhook_costs_no_request_for_its_leg(rt, client, number_sub, fake_twilio):
    """Each pass lists the number's calls; only calls not decided yet need their <Dial> leg asked for."""
    from tests.vendors.twilio import fixture, post
    sid = fake_twilio.call(BUSINESS_NUMBER, CALLER, "completed", duration=40, leg_status="completed")
    params = fixture("call_status__no_answer") | {"CallSid": sid, "From": CALLER, "To": BUSINESS_NUMBER,
                                                  "AccountSid": ACCOUNT_SID, "CallStatus": "completed",
                                                  "CallDuration": "40"}
    assert post(client, "/webhooks/twilio/voice", params).status_code == 200
    assert _calls(rt) == [(CALLER, "answered")]
    [one] = _pass(rt)
    assert (one.listed, one.new) == (1, 0)
    assert [q for q in fake_twilio.call_lists if "ParentCallSid" in q] == []


@pytest.mark.parametrize("leg, outcome, texts", [("no-answer", "texted", 1), ("busy", "texted", 1),
                                                 ("completed", "answered", 0)])
def test_a_forwarded_call_is_judged_by_its_dial_leg(rt, number_sub, fake_twilio, leg, outcome, texts):
    """Twilio says "completed" for any call its TwiML answered; the <Dial> leg says whether a person did."""
    fake_twilio.call(BUSINESS_NUMBER, CALLER, "completed", duration=40, leg_status=leg)
    _pass(rt)
    assert _calls(rt) == [(CALLER, outcome)] and len(fake_twilio.messages) == texts


def test_a_call_found_after_the_window_is_never_texted_late(rt, number_sub, fake_twilio):
    with rt.sessions.begin() as s:  # the sub-account has been with Ringback for a while
        s.get(SubAccount, number_sub.id).created_at = datetime.now(timezone.utc) - timedelta(hours=3)
    fake_twilio.call(BUSINESS_NUMBER, CALLER, "no-answer", at=datetime.now(timezone.utc) - timedelta(hours=2))
    fake_twilio.call(BUSINESS_NUMBER, CALLER, "busy", at=datetime.now(timezone.utc) - timedelta(minutes=100))
    [one] = _pass(rt)
    assert one.new == 2 and fake_twilio.messages == []
    assert _calls(rt) == [(CALLER, "late"), (CALLER, "late")]
    # The caller calls again now: a fresh missed call is texted as usual.
    fake_twilio.call(BUSINESS_NUMBER, CALLER, "no-answer")
    _pass(rt)
    assert [m["to"] for m in fake_twilio.messages] == [CALLER]


def test_a_sandbox_number_has_no_calls_to_list(rt, sub):
    from dataclasses import replace
    rt.config = replace(rt.config, twilio_account_sid=None, twilio_auth_token=None)
    [one] = catch_up.run(rt)
    assert one.skipped and "no Twilio account" in one.skipped and one.error is None


# ------------------------------------------------------------------ GoHighLevel

def test_a_gohighlevel_call_whose_webhook_was_lost_is_texted(rt, ghl_crm_sub, fake_ghl, fake_twilio):
    known_caller(fake_ghl)
    fake_ghl.call(LOCATION, EVENT_CONTACT, "voicemail")
    [one] = _pass(rt)
    assert (one.listed, one.new) == (1, 1)
    [text] = fake_twilio.messages
    assert text["to"] == CALLER  # the caller's number asked of GoHighLevel, from the call's contact
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Texted back"
    with rt.sessions() as s:
        [ev] = s.scalars(select(InboxEvent)).all()
    assert (ev.found_by, ev.kind) == ("catch_up", "CallEvent")
    assert _sub(rt, ghl_crm_sub.id).catch_up_found == 1


def test_a_gohighlevel_call_that_came_by_webhook_is_not_texted_twice(client, rt, ghl_crm_sub, fake_ghl, fake_twilio,
                                                                      ghl_signing_keys):
    known_caller(fake_ghl)
    missed_call(client, ghl_signing_keys)
    with rt.sessions() as s:
        [call] = s.scalars(select(Call)).all()
    # The same call, as GoHighLevel's export lists it (the fixture's messageId).
    fake_ghl.call(LOCATION, EVENT_CONTACT, "voicemail")["id"] = call.call_id
    [one] = _pass(rt)
    assert (one.listed, one.new) == (1, 0) and len(fake_twilio.messages) == 1


def test_gohighlevel_calls_found_too_late_become_one_call_back_task(rt, ghl_crm_sub, fake_ghl, fake_twilio):
    known_caller(fake_ghl)
    with rt.sessions.begin() as s:
        s.get(SubAccount, ghl_crm_sub.id).created_at = datetime.now(timezone.utc) - timedelta(hours=3)
    for minutes in (90, 60):
        fake_ghl.call(LOCATION, EVENT_CONTACT, "no-answer", at=datetime.now(timezone.utc) - timedelta(minutes=minutes))
    _pass(rt)
    assert fake_twilio.messages == []
    [task] = fake_ghl.tasks
    assert task["title"].startswith(f"Call {CALLER} back: missed during an outage")
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Missed call"


def test_the_late_window_is_the_sub_accounts_setting(ringback, rt, ghl_crm_sub, fake_ghl, fake_twilio):
    known_caller(fake_ghl)
    with rt.sessions.begin() as s:
        s.get(SubAccount, ghl_crm_sub.id).created_at = datetime.now(timezone.utc) - timedelta(hours=3)
    changed = ringback("subaccount", "settings", str(ghl_crm_sub.id), "--late-text-minutes", "120")
    assert changed.exit_code == 0 and "texted up to 120 min after it" in changed.output
    fake_ghl.call(LOCATION, EVENT_CONTACT, "no-answer", at=datetime.now(timezone.utc) - timedelta(minutes=90))
    _pass(rt)
    assert [m["to"] for m in fake_twilio.messages] == [CALLER]


def test_a_vendor_that_will_not_list_leaves_the_cursor_where_it_was(rt, ghl_crm_sub, fake_ghl, fake_twilio):
    fake_ghl.fail_next(503)
    [one] = catch_up.run(rt)
    assert one.error and "503" in one.error
    sub = _sub(rt, ghl_crm_sub.id)
    assert sub.caught_up_until is None and sub.catch_up_error == one.error
    known_caller(fake_ghl)
    fake_ghl.call(LOCATION, EVENT_CONTACT, "voicemail")
    [again] = _pass(rt)  # the next pass asks from the same place, and finds the call
    assert (again.new, again.error) == (1, None) and len(fake_twilio.messages) == 1
    assert _sub(rt, ghl_crm_sub.id).catch_up_error is None


# ------------------------------------------------------------------ HubSpot and Salesforce

def test_a_hubspot_call_whose_webhook_was_lost_is_texted(rt, hubspot_sub, fake_hubspot, fake_twilio):
    fake_hubspot.put(HUBSPOT_PORTAL, "calls", "52000009", MISSED)
    fake_hubspot.put(HUBSPOT_PORTAL, "calls", "52000010", MISSED | {"hs_call_direction": "OUTBOUND"})
    [one] = _pass(rt)
    assert (one.listed, one.new) == (2, 2)
    assert [m["to"] for m in fake_twilio.messages] == [CALLER]
    assert sorted(o for _, o in _calls(rt)) == ["not_missed", "texted"]
    assert fake_hubspot.invalid == []


def test_a_salesforce_call_task_whose_message_was_lost_is_texted(rt, salesforce_sub, fake_salesforce, fake_twilio):
    fake_salesforce.put("Lead", LEAD, {"Phone": CALLER, "MobilePhone": None, "LastName": "Reyes"})
    fake_salesforce.call_task(LEAD, disposition="No Answer")
    [one] = _pass(rt)
    assert (one.listed, one.new, one.error) == (1, 1, None)
    assert [m["to"] for m in fake_twilio.messages] == [CALLER]
    assert fake_salesforce.records[("Lead", LEAD)].get("Status") == "Texted back"


# ------------------------------------------------------------------ the command and the health rows

def test_the_command_runs_one_pass_and_says_what_it_found(ringback, rt, number_sub, fake_twilio):
    fake_twilio.call(BUSINESS_NUMBER, CALLER, "no-answer")
    result = ringback("catch-up")
    assert result.exit_code == 0, result.output
    assert "1 call(s) since" in result.output and "1 not seen before" in result.output
    assert "caught up 1 of 1 sub-account(s); 1 call(s) no webhook brought" in result.output
    assert [m["to"] for m in fake_twilio.messages] == [CALLER]
    again = ringback("catch-up")
    assert "0 call(s) no webhook brought" in again.output and len(fake_twilio.messages) == 1


def test_the_installations_list_says_when_calls_were_last_caught_up(ringback, rt, hubspot_sub, fake_hubspot):
    import json
    [row] = json.loads(ringback("installations", "list", "--format", "json").output)
    assert row["caught_up"] == "never"
    _pass(rt)
    [row] = json.loads(ringback("installations", "list", "--format", "json").output)
    assert row["caught_up"] == "just now" and row["found_by_catch_up"] == 0


def test_the_pages_show_the_catch_up_and_take_the_late_window(client, rt, ghl_crm_sub, fake_ghl, fake_twilio):
    """The agency page says when each sub-account's calls were last caught up, and a failing catch-up
    shows there and on the sub-account's settings page, where the late-text window is edited."""
    from tests.vendors.ghl import SSO_KEY, cryptojs_encrypt
    from dataclasses import replace
    rt.config = replace(rt.config, ghl_sso_key=SSO_KEY)
    with rt.sessions.begin() as s:
        from integration.models import Agency
        agency = Agency(name="Acme Agency", provider="ghl", external_id="otg8dTQqGLh3Q6iQI55w")
        s.add(agency)
        s.flush()
        s.get(SubAccount, ghl_crm_sub.id).agency_id = agency.id
    user = {"userId": "u1", "companyId": "otg8dTQqGLh3Q6iQI55w", "role": "admin", "type": "agency",
            "email": "owner@acme.example"}
    assert client.post("/sso/ghl", json={"encryptedData": cryptojs_encrypt(user, SSO_KEY)}).status_code == 200
    assert "never" in client.get("/agency").get_data(as_text=True)
    fake_ghl.fail_next(503)
    catch_up.run(rt)
    page = client.get("/agency").get_data(as_text=True)
    assert "failing: " in page and "503" in page
    settings = client.get(f"/settings/{ghl_crm_sub.id}").get_data(as_text=True)
    assert "could not ask GoHighLevel for the calls it may have missed" in settings
    _pass(rt)
    assert "just now" in client.get("/agency").get_data(as_text=True)
