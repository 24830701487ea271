"""A recovery's whole life, with the clock frozen and moved (time-machine): text-back, follow-ups,
replies, escalation, booking, lost; the sweeper runs as the worker's would."""
from __future__ import annotations

import json
import re
import time as time_mod
from datetime import datetime

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import select

from integration.worker import tasks
from integration.cli import main
from integration.models import Message, Recovery, Step, SubAccount
from integration.routes.booking import sign as booking_sign
from integration.settings_store import save_workflow
from tests.conftest import BUSINESS_NUMBER, CALLER
from tests.vendors.twilio import fixture, post
from workflows.hours import zone

CT = zone("America/Chicago")
ON_CALL = "+15125550177"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CT)


@pytest.fixture
def weekday_sub(rt):
    """A Texas plumber open weekdays 08:00-18:00 (US and Texas holidays), with a booking page."""
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="twilio", external_id=BUSINESS_NUMBER,
                         phone_number=BUSINESS_NUMBER, timezone="America/Chicago",
                         business_hours="mon-fri 08:00-18:00", booking_url="https://acme.example/book")
        s.add(sub)
        s.flush()
        save_workflow(s, sub, "follow_ups", subdivision="TX")
        save_workflow(s, sub, "escalation", on_call_numbers=[ON_CALL])
        save_workflow(s, sub, "booking_sync", average_job_value=350.0)
    return sub


def _call(client, sid: str):
    assert post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer") | {"CallSid": sid}).status_code == 200


def _reply(client, body: str, sid: str):
    params = fixture("inbound_sms__reply") | {"Body": body, "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid}
    assert post(client, "/webhooks/twilio/sms", params).status_code == 200


def _to_caller(fake_twilio):
    return [m["body"] for m in fake_twilio.messages if m["to"] == CALLER]


def _rec(rt) -> Recovery:
    with rt.sessions() as s:
        return s.scalar(select(Recovery).order_by(Recovery.id.desc()))


def _steps(rt) -> dict:
    with rt.sessions() as s:
        return {st.idempotency_key.split(":", 2)[-1]: (st.status, st.due_at) for st in s.scalars(select(Step))}


def test_a_whole_recovery_across_a_holiday_a_weekend_and_dst(client, rt, weekday_sub, fake_twilio):
    # The Wednesday before Thanksgiving, 17:30: the text-back goes out at once.
    with time_machine.travel(at("2026-11-25T17:30:00"), tick=False):
        _call(client, "CA" + "1" * 32)
        assert len(_to_caller(fake_twilio)) == 1
        assert _steps(rt)["touch:2"] == ("pending", at("2026-11-25T19:30:00"))
    with time_machine.travel(at("2026-11-25T19:29:00"), tick=False):
        tasks.sweep()
        assert len(_to_caller(fake_twilio)) == 1  # not yet
    with time_machine.travel(at("2026-11-25T19:31:00"), tick=False):
        tasks.sweep()
        assert len(_to_caller(fake_twilio)) == 2 and "just checking in" in _to_caller(fake_twilio)[1]
        # Thursday is Thanksgiving and, in Texas, Friday the Day after Thanksgiving; then a
        # weekend: the last touch is Monday at opening.
        assert _steps(rt)["touch:3"] == ("pending", at("2026-11-30T08:00:00"))
        tasks.sweep()  # a second sweep sends nothing twice
        assert len(_to_caller(fake_twilio)) == 2
    with time_machine.travel(at("2026-11-27T08:01:00"), tick=False):
        tasks.sweep()
        assert len(_to_caller(fake_twilio)) == 2
    with time_machine.travel(at("2026-11-30T08:01:00"), tick=False):
        tasks.sweep()
    texts = _to_caller(fake_twilio)
    assert len(texts) == 3 and "one last time" in texts[2]
    assert _rec(rt).touches == 3
    # Every text carries the recovery's own tracked booking link.
    link = re.search(r"/b/[\w-]+", texts[0]).group(0)
    assert all(link in t for t in texts)
    # Nothing more, ever: three touches in all.
    with time_machine.travel(at("2026-12-02T12:00:00"), tick=False):
        tasks.sweep()
    assert len(_to_caller(fake_twilio)) == 3


def test_a_saturday_call_follows_up_monday_after_the_spring_dst_change(client, rt, weekday_sub, fake_twilio):
    with time_machine.travel(at("2027-03-13T11:00:00"), tick=False):  # Saturday: the text-back still goes out
        _call(client, "CA" + "2" * 32)
        assert len(_to_caller(fake_twilio)) == 1
    steps = _steps(rt)
    assert steps["touch:2"][1] == at("2027-03-15T08:00:00")  # Monday 08:00 CDT, after a 23-hour Sunday
    with time_machine.travel(at("2027-03-15T08:00:30"), tick=False):
        tasks.sweep()
    assert _steps(rt)["touch:3"][1] == at("2027-03-16T08:00:00")


def test_a_reply_stops_the_follow_ups_and_books_through_the_link(client, rt, weekday_sub, fake_twilio):
    with time_machine.travel(at("2026-11-17T10:00:00"), tick=False):
        _call(client, "CA" + "3" * 32)
    with time_machine.travel(at("2026-11-17T10:20:00"), tick=False):
        _reply(client, "Can I book for tomorrow?", "SM" + "a" * 32)
        answer = _to_caller(fake_twilio)[-1]
        assert answer.startswith("Great! Pick a time that suits you here: https://ringback.example.com/b/")
        assert _steps(rt)["touch:2"][0] == "cancelled"
        assert _rec(rt).state == "replied"
        # The caller opens the link: counted, and forwarded to the booking page.
        path = answer.split("https://ringback.example.com")[1]
        assert client.get(path).headers["Location"] == "https://acme.example/book"
        assert _rec(rt).link_clicks == 1
    with time_machine.travel(at("2026-11-17T13:00:00"), tick=False):
        tasks.sweep()
    assert len(_to_caller(fake_twilio)) == 2  # the text-back and the answer: no follow-up


def _book(client, rt, sub_id, body: dict, **headers):
    raw = json.dumps(body).encode()
    with rt.sessions.begin() as s:
        sub = s.get(SubAccount, sub_id)
        if not sub.booking_secret:
            sub.booking_secret = rt.vault.seal("booking-secret-for-tests-0123456789")
    sig = booking_sign("booking-secret-for-tests-0123456789", raw)
    hdrs = {"X-Ringback-Account": str(sub_id), "X-Ringback-Signature": sig, "Content-Type": "application/json"} | headers
    return client.post("/webhooks/booking", data=raw, headers=hdrs)


def test_a_signed_booking_closes_the_recovery_with_the_average_job_value(client, rt, weekday_sub, fake_twilio):
    with time_machine.travel(at("2026-11-17T10:00:00"), tick=False):
        _call(client, "CA" + "4" * 32)
        resp = _book(client, rt, weekday_sub.id, {"phone": "(512) 555-0123", "booking_id": "cal-991",
                                                  "starts_at": "2026-11-18T15:00:00Z"})
        assert resp.status_code == 202
        rec = _rec(rt)
        assert (rec.state, rec.value, rec.open_key) == ("booked", 350.0, None)
        assert {k: v[0] for k, v in _steps(rt).items() if k != "touch:1"} == {
            "touch:2": "cancelled", "escalate": "cancelled", "lost": "cancelled"}
        again = _book(client, rt, weekday_sub.id, {"phone": "(512) 555-0123", "booking_id": "cal-991"})
        assert again.json == {"status": "duplicate"}


@pytest.mark.parametrize("headers, body, status, why", [
    ({"X-Ringback-Account": "999"}, {"phone": CALLER}, 401, "names no sub-account"),
    ({"X-Ringback-Signature": "v1=abc"}, {"phone": CALLER}, 401, "must be t=<unix seconds>,v1=<hex>"),
    ({"X-Ringback-Signature": "t=1000000000,v1=abc"}, {"phone": CALLER}, 401, "more than 5 minutes"),
    ({"X-Ringback-Signature": "t={now},v1=" + "0" * 64}, {"phone": CALLER}, 401, "does not match"),
    ({}, {"name": "Dana"}, 400, "phone"),
])
def test_bad_booking_webhooks_are_refused(client, rt, weekday_sub, headers, body, status, why):
    # The time is taken when the test runs, not when the suite is collected (minutes earlier).
    headers = {k: v.replace("{now}", str(int(time_mod.time()))) for k, v in headers.items()}
    resp = _book(client, rt, weekday_sub.id, body, **headers)
    assert resp.status_code == status and why in resp.json["error"]


def test_an_urgent_reply_alerts_the_on_call_phone_with_the_conversation(client, rt, weekday_sub, fake_twilio):
    with time_machine.travel(at("2026-11-17T22:40:00"), tick=False):  # after hours
        _call(client, "CA" + "5" * 32)
        _reply(client, "Pipe burst, water everywhere!!", "SM" + "b" * 32)
    [alert] = [m for m in fake_twilio.messages if m["to"] == ON_CALL]
    assert alert["from"] == BUSINESS_NUMBER and "URGENT" in alert["body"] and "Pipe burst" in alert["body"]
    assert _to_caller(fake_twilio)[-1].startswith("We're on it")
    with rt.sessions() as s:
        assert s.scalar(select(Message.intent).where(Message.direction == "inbound")) == "urgent"


def test_a_wrong_number_closes_the_recovery(client, rt, weekday_sub, fake_twilio):
    with time_machine.travel(at("2026-11-17T10:00:00"), tick=False):
        _call(client, "CA" + "6" * 32)
        _reply(client, "wrong number", "SM" + "c" * 32)
    rec = _rec(rt)
    assert (rec.state, rec.open_key) == ("lost", None)
    assert _to_caller(fake_twilio)[-1] == "Sorry about that! We won't text you again."
    assert _steps(rt)["touch:2"][0] == "cancelled"


def test_no_reply_for_a_week_goes_lost_and_no_booking_is_escalated(client, rt, weekday_sub, fake_twilio):
    with time_machine.travel(at("2026-11-17T10:00:00"), tick=False):
        _call(client, "CA" + "7" * 32)
    with time_machine.travel(at("2026-11-18T10:01:00"), tick=False):
        tasks.sweep()
        assert _steps(rt)["escalate"][0] == "done" and _rec(rt).state == "texted"
    with time_machine.travel(at("2026-11-24T10:01:00"), tick=False):
        tasks.sweep()
    assert _rec(rt).state == "lost"


def test_a_trade_pack_is_applied_in_one_step_and_refusals_name_the_field(rt, config, weekday_sub, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    cli = CliRunner()
    done = cli.invoke(main, ["subaccount", "pack", str(weekday_sub.id), "dental"])
    assert done.exit_code == 0 and "Dental and clinic applied to reply_router, follow_ups, escalation" in done.output
    shown = cli.invoke(main, ["subaccount", "workflow", str(weekday_sub.id), "booking_sync"])
    assert "average_job_value: 250.0" in shown.output
    bad = cli.invoke(main, ["subaccount", "workflow", str(weekday_sub.id), "follow_ups", "--set", "touches=5"])
    assert bad.exit_code == 1 and "follow_ups.touches: Must be greater than or equal to 1" in bad.output
    bad = cli.invoke(main, ["subaccount", "workflow", str(weekday_sub.id), "escalation", "--set",
                            'on_call_numbers=["555"]'])
    assert bad.exit_code == 1 and "escalation.on_call_numbers" in bad.output
    off = cli.invoke(main, ["subaccount", "workflow", str(weekday_sub.id), "follow_ups", "--off"])
    assert off.exit_code == 0 and "follow_ups for Acme Plumbing (#" in off.output and ": OFF" in off.output


def test_agency_defaults_apply_until_a_sub_account_overrides_them(rt, weekday_sub):
    from integration.models import Agency
    from integration.settings_store import pack_settings
    with rt.sessions.begin() as s:
        agency = Agency(name="Growth Agency")
        s.add(agency)
        s.flush()
        sub = s.get(SubAccount, weekday_sub.id)
        sub.agency_id = agency.id
        save_workflow(s, None, "follow_ups", agency_id=agency.id, touches=2, second_after_minutes=60)
        assert pack_settings(s, sub).follow_ups.touches == 2
        save_workflow(s, sub, "follow_ups", touches=3)
        fu = pack_settings(s, sub).follow_ups
        assert (fu.touches, fu.second_after_minutes) == (3, 60)


def test_report_counts_what_happened_per_day_and_in_total(client, rt, config, weekday_sub, fake_twilio, monkeypatch):
    with time_machine.travel(at("2026-11-17T10:00:00"), tick=False):
        _call(client, "CA" + "8" * 32)
        _book(client, rt, weekday_sub.id, {"phone": CALLER, "booking_id": "b1", "value": 480})
    with time_machine.travel(at("2026-11-18T10:00:00"), tick=False):
        params = fixture("call_status__no_answer") | {"CallSid": "CA" + "9" * 32, "From": "+15125550166",
                                                       "Caller": "+15125550166"}
        post(client, "/webhooks/twilio/voice", params)
        stop = fixture("inbound_sms__stop") | {"From": "+15125550166"}
        post(client, "/webhooks/twilio/sms", stop)
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    out = CliRunner().invoke(main, ["report", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    days = {d["day"]: d for d in data["days"]}
    assert days["2026-11-17"]["booked"] == 1 and days["2026-11-17"]["revenue"] == 480.0
    assert days["2026-11-18"]["opted_out"] == 1 and days["2026-11-18"]["texted"] == 1
    total = data["total"]
    assert (total["missed_calls"], total["texted"], total["booked"], total["booking_rate"]) == (2, 2, 1, 0.5)
    assert total["median_seconds_to_text"] is not None and total["median_seconds_to_text"] < 5
    csv = CliRunner().invoke(main, ["report", "--format", "csv", "--since", "2026-11-18"]).output.splitlines()
    assert csv[0].startswith("day,missed_calls,texted") and csv[1].startswith("2026-11-18,1,1")
    table = CliRunner().invoke(main, ["report", "--subaccount", str(weekday_sub.id)]).output
    assert "total" in table and "$480" in table


def test_quiet_hours_hold_where_the_caller_lives(client, rt, weekday_sub, fake_twilio):
    """A Los Angeles caller (area code 213) of a Chicago business: 08:00 in Chicago is 06:00 for them."""
    la = "+12135550123"
    with time_machine.travel(at("2026-11-17T06:00:00"), tick=False):
        params = fixture("call_status__no_answer") | {"CallSid": "CA" + "a" * 32, "From": la, "Caller": la}
        post(client, "/webhooks/twilio/voice", params)
    assert [m["to"] for m in fake_twilio.messages] == [la]  # the text-back goes at once, at any hour
    assert _steps(rt)["touch:2"][1] == at("2026-11-17T10:00:00")  # 08:00 in Los Angeles


def test_one_sub_accounts_report_uses_its_own_days(client, rt, config, weekday_sub, fake_twilio, monkeypatch):
    # 20:00 in Chicago on the 17th is already the 18th in UTC.
    with time_machine.travel(at("2026-11-17T20:00:00"), tick=False):
        _call(client, "CA" + "b" * 32)
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    mine = json.loads(CliRunner().invoke(main, ["report", "--subaccount", str(weekday_sub.id), "--format", "json"]).output)
    everyone = json.loads(CliRunner().invoke(main, ["report", "--format", "json"]).output)
    assert [d["day"] for d in mine["days"]] == ["2026-11-17"]
    assert [d["day"] for d in everyone["days"]] == ["2026-11-18"]
