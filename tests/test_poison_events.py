"""Events that cannot be processed: bounded attempts, then they rest as failed with their reason,
shown by `ringback events list --failed` and replayed by `ringback events retry`; one retry
chain per event whatever the sweeper does."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from integration.worker import outcomes, sweeper, tasks
from integration.models import InboxEvent, Message, utcnow
from tests.conftest import BUSINESS_NUMBER
from tests.conftest import run_scheduled
from tests.vendors.twilio import fixture, post


def _event(rt, event_id: int) -> InboxEvent:
    with rt.sessions() as s:
        return s.get(InboxEvent, event_id)


def _stored_before_the_door_checked_it(rt, sub) -> int:
    """A call-status event as an earlier Ringback stored it: a duration no column holds."""
    payload = fixture("call_status__no_answer") | {"CallDuration": "99999999999999999999999"}
    with rt.sessions.begin() as s:
        ev = InboxEvent(provider="twilio", kind="voice", event_key="voice:old:no-answer", sub_account_id=sub.id,
                        payload=payload, status="pending", attempts=0, received_at=utcnow())
        s.add(ev)
        s.flush()
        return ev.id


def test_a_poison_event_fails_after_a_bounded_number_of_attempts_with_its_reason(app, rt, sub, fake_twilio):
    event_id = _stored_before_the_door_checked_it(rt, sub)
    tasks.process_event(event_id)
    assert _event(rt, event_id).status == "pending" and _event(rt, event_id).attempts == 1
    run_scheduled(rt)  # the retries, 2, 4, 8 and 16 s apart: failed within a minute
    ev = _event(rt, event_id)
    assert ev.status == "failed" and ev.attempts == outcomes.FAILED_ATTEMPTS
    assert ev.result.startswith("failed after 5 attempt(s):") and "CallDuration" in ev.result
    assert sweeper.due_work(rt, now=utcnow() + timedelta(hours=1))[1] == []  # the sweeper leaves it be
    assert fake_twilio.messages == []


def test_the_door_refuses_what_once_became_a_poison_event(client, rt, sub):
    params = fixture("call_status__no_answer") | {"CallDuration": "99999999999999999999999"}
    resp = post(client, "/webhooks/twilio/voice", params)
    assert resp.status_code == 400 and b"CallDuration" in resp.data
    with rt.sessions() as s:
        assert s.scalars(select(InboxEvent)).all() == []


def test_a_status_for_a_text_ringback_never_sent_gives_up_after_a_few_tries(client, rt, sub):
    status = fixture("message_status__delivered") | {"MessageSid": "SM" + "ef" * 16, "SmsSid": "SM" + "ef" * 16}
    assert post(client, "/webhooks/twilio/message-status", status).status_code == 200
    [ev] = _all(rt)
    assert ev.status == "pending" and ev.attempts == 1
    # A sweeper pass (or a lost job come back) holding the old attempt count starts nothing.
    tasks.process_event(ev.id, 0)
    assert _event(rt, ev.id).attempts == 1
    # While its retry is scheduled the sweeper leaves it alone (even an event received long ago);
    # once the retry is long overdue (lost with a queue) it re-queues it, at its attempt count.
    with rt.sessions.begin() as s:
        s.get(InboxEvent, ev.id).received_at = utcnow() - timedelta(minutes=10)
    assert sweeper.due_work(rt)[1] == []
    assert sweeper.due_work(rt, now=utcnow() + timedelta(minutes=1))[1] == [(ev.id, 1)]
    run_scheduled(rt)
    ev = _event(rt, ev.id)
    # Received ten minutes ago, it is past the window for a text being recorded: given up now.
    assert ev.status == "done" and ev.attempts == 2
    assert ev.result.startswith("gave up after 2 attempt(s): not yet: no message")


def test_a_fresh_status_for_an_unknown_text_costs_at_most_ten_attempts(client, rt, sub):
    status = fixture("message_status__delivered") | {"MessageSid": "SM" + "cd" * 16, "SmsSid": "SM" + "cd" * 16}
    assert post(client, "/webhooks/twilio/message-status", status).status_code == 200
    run_scheduled(rt)
    [ev] = _all(rt)
    assert ev.status == "done" and ev.attempts == outcomes.NOT_YET_ATTEMPTS
    assert ev.result.startswith("gave up after 10 attempt(s): not yet: no message")


def test_events_list_and_retry(cli, client, rt, sub, fake_twilio, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", rt.config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(rt.config.data_dir))
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", rt.config.twilio_account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", rt.config.twilio_auth_token)
    monkeypatch.setenv("TWILIO_API_URL", rt.config.twilio_api_url)
    event_id = _stored_before_the_door_checked_it(rt, sub)
    tasks.process_event(event_id)
    run_scheduled(rt)
    listed = cli("events", "list", "--failed")
    assert listed.exit_code == 0 and f"{event_id:>6}" in listed.output and "failed after 5 attempt(s)" in listed.output
    # What failed is mended (here, the payload as a fixed parser would read it); retry replays it.
    with rt.sessions.begin() as s:
        ev = s.get(InboxEvent, event_id)
        ev.payload = dict(ev.payload) | {"CallDuration": "0"}
    retried = cli("events", "retry", str(event_id))
    assert retried.exit_code == 0, retried.output
    assert f"event {event_id}: done:" in retried.output
    with rt.sessions() as s:
        [msg] = s.scalars(select(Message)).all()
    assert msg.from_number == BUSINESS_NUMBER and len(fake_twilio.messages) == 1
    assert cli("events", "list", "--failed").output.strip() == "no failed events"
    again = cli("events", "retry", str(event_id), "999")
    assert again.exit_code == 1 and f"not failed events: {event_id}, 999" in again.output


def _all(rt):
    with rt.sessions() as s:
        return s.scalars(select(InboxEvent).order_by(InboxEvent.id)).all()
