"""Sending through the real Twilio SDK: retries, opt-outs, expiry, crashes and races."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from integration.worker import events, outcomes, steps, sweeper, tasks
from integration.models import Call, Message, OptOut, Recovery, Step, utcnow
from tests.conftest import CALLER
from tests.vendors.twilio import fixture, post


def _one(rt, model):
    """The row (for steps: the text-back's; follow-ups and checks are scheduled beside it)."""
    with rt.sessions() as s:
        where = [Step.kind == "text_back"] if model is Step else []
        return s.scalar(select(model).where(*where).order_by(model.id))


def _count(rt, model, *where):
    with rt.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _missed_call_step(client, rt, **overrides):
    """A missed call decided, its text-back step claimed and not yet sent (the queue is paused)."""
    rt.huey.immediate = False
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer") | overrides)
    outcome = events.process_event(rt, 1)
    assert outcome.claims, outcome.summary
    return outcome.claims[0]


@pytest.mark.parametrize("code", [20429, 20500])
def test_busy_or_broken_twilio_is_retried_with_backoff(code, client, rt, sub, fake_twilio):
    claim = _missed_call_step(client, rt)
    step_id = claim.step_id
    fake_twilio.fail_next(code, times=2)
    t0 = utcnow()
    first = steps.deliver(rt, claim, now=t0)
    assert first.retry_in == 1
    assert fake_twilio.messages == []
    # Not due yet: a second worker picking it up early does nothing.
    assert steps.run_step(rt, step_id, now=t0 + timedelta(seconds=0.5)).summary.startswith("step not due")
    second = steps.run_step(rt, step_id, now=t0 + timedelta(seconds=1))
    assert second.retry_in == 2
    third = steps.run_step(rt, step_id, now=t0 + timedelta(seconds=3))
    assert third.summary.startswith("sent SM")
    assert len(fake_twilio.messages) == 1
    assert _one(rt, Message).status == "queued" and _one(rt, Step).attempts == 3


def test_gives_up_after_the_retry_budget_and_says_why(client, rt, sub, fake_twilio):
    claim = _missed_call_step(client, rt)
    fake_twilio.fail_next(20429, times=outcomes.MAX_SEND_ATTEMPTS)
    later = utcnow()
    out = steps.deliver(rt, claim, now=later)
    for _ in range(outcomes.MAX_SEND_ATTEMPTS - 1):
        later += timedelta(seconds=31)
        out = steps.run_step(rt, claim.step_id, now=later)
    assert out.summary.startswith("failed: Twilio 429 20429")
    step, msg = _one(rt, Step), _one(rt, Message)
    assert step.status == "failed" and "20429" in step.last_error
    assert msg.status == "failed" and msg.error_code == 20429


def test_unsubscribed_recipient_21610_opts_the_caller_out(client, rt, sub, fake_twilio):
    claim = _missed_call_step(client, rt)
    fake_twilio.fail_next(21610)
    assert steps.deliver(rt, claim).summary.startswith("failed")
    assert _one(rt, OptOut).source == "twilio_21610"
    assert _one(rt, Recovery).open_key is None
    # The caller rings again: no text is even attempted.
    rt.huey.immediate = True
    post(client, "/webhooks/twilio/voice", fixture("call_status__busy"))
    assert fake_twilio.messages == []
    with rt.sessions() as s:
        assert s.scalar(select(Call.outcome).where(Call.status == "busy")) == "suppressed"


def test_twilio_error_after_accepting_is_reconciled_not_resent(client, rt, sub, fake_twilio):
    claim = _missed_call_step(client, rt)
    fake_twilio.fail_next(20500, after_accepting=True)
    assert steps.deliver(rt, claim).retry_in == 1
    assert len(fake_twilio.messages) == 1
    out = steps.run_step(rt, claim.step_id, now=utcnow() + timedelta(seconds=2))
    assert out.summary == f"sent {fake_twilio.messages[0]['sid']} (queued)"
    assert len(fake_twilio.messages) == 1  # found by listing, not sent twice
    assert _one(rt, Message).provider_sid == fake_twilio.messages[0]["sid"]


@pytest.mark.parametrize("twilio_had_it", [True, False])
def test_worker_killed_mid_send_loses_nothing_and_doubles_nothing(twilio_had_it, client, rt, sub, fake_twilio):
    """A worker killed between claiming a step and recording the send leaves exactly these rows."""
    claim = _missed_call_step(client, rt)
    p = claim.payload
    with rt.sessions.begin() as s:  # ... and its lease runs out
        s.get(Step, claim.step_id).lease_until = utcnow() - timedelta(seconds=1)
    assert _one(rt, Message).status == "pending"
    if twilio_had_it:
        rt.sender.send(to=p["to"], from_=p["from"], body=p["body"])
    rt.huey.immediate = True
    assert tasks.sweep() == (1, 0)
    assert len(fake_twilio.messages) == 1
    assert _one(rt, Step).status == "done"
    assert _one(rt, Message).provider_sid == fake_twilio.messages[0]["sid"]
    assert _one(rt, Recovery).state == "texted"


def test_a_late_text_is_dropped_not_sent(client, rt, sub, fake_twilio):
    claim = _missed_call_step(client, rt)
    out = steps.run_step(rt, claim.step_id, now=utcnow() + timedelta(seconds=601))
    assert out.summary.startswith("too late to send")
    assert fake_twilio.messages == []
    assert _one(rt, Step).status == "expired"


def test_caller_who_opts_out_while_a_send_waits_for_retry_is_not_texted(client, rt, sub, fake_twilio):
    claim = _missed_call_step(client, rt)
    fake_twilio.fail_next(20429)
    assert steps.deliver(rt, claim).retry_in == 1
    post(client, "/webhooks/twilio/sms", fixture("inbound_sms__stop_advanced_opt_out"))
    events.process_event(rt, 2)
    later = utcnow() + timedelta(seconds=5)
    assert steps.run_step(rt, claim.step_id, now=later).summary == "step not due, already taken or finished"
    assert _one(rt, Step).status == "cancelled"
    assert fake_twilio.messages == []


def test_pending_event_left_by_a_dead_worker_is_swept(client, rt, sub, fake_twilio):
    rt.huey.immediate = False
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    rt.huey.immediate = True
    assert tasks.sweep() == (0, 0)  # young events are still in the queue: leave them
    later = utcnow() + timedelta(seconds=31)
    steps, events = sweeper.due_work(rt, now=later)
    assert (steps, events) == ([], [(1, 0)])
    tasks.process_event(1)
    assert len(fake_twilio.messages) == 1


def test_delivery_report_racing_its_send_is_applied_once_the_send_is_recorded(client, rt, sub, fake_twilio):
    claim = _missed_call_step(client, rt)
    sid = "SM" + "ab" * 16
    status = fixture("message_status__delivered") | {"MessageSid": sid, "SmsSid": sid}
    post(client, "/webhooks/twilio/message-status", status)
    assert events.process_event(rt, 2).retry_in is not None  # not recorded yet: try again shortly
    steps.deliver(rt, claim)
    with rt.sessions.begin() as s:  # pretend Twilio had assigned this sid
        s.scalar(select(Message)).provider_sid = sid
    assert events.process_event(rt, 2).summary.endswith("delivered")
    assert _one(rt, Message).status == "delivered"


def _concurrently(n, fn):
    barrier = threading.Barrier(n)
    errors = []

    def run(i):
        try:
            barrier.wait()
            fn(i)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_concurrent_duplicate_webhooks_send_one_text(app, rt, sub, fake_twilio):
    params = fixture("call_status__no_answer")
    codes = []
    _concurrently(8, lambda i: codes.append(post(app.test_client(), "/webhooks/twilio/voice", params).status_code))
    assert codes == [200] * 8
    assert len(fake_twilio.messages) == 1


def test_concurrent_calls_from_one_caller_open_one_recovery(app, rt, sub, fake_twilio):
    base = fixture("call_status__no_answer")

    def call(i):
        sid = f"CA{i:032x}"
        assert post(app.test_client(), "/webhooks/twilio/voice", base | {"CallSid": sid}).status_code == 200

    _concurrently(6, call)
    assert len(fake_twilio.messages) == 1
    assert _count(rt, Recovery) == 1
    assert _one(rt, Recovery).calls_count == 6
    assert _count(rt, Call, Call.outcome == "joined") == 5


def test_after_the_dedupe_window_a_new_call_is_texted_again(client, rt, sub, fake_twilio):
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    with rt.sessions.begin() as s:
        s.scalar(select(Recovery)).opened_at = utcnow() - timedelta(hours=25)
    post(client, "/webhooks/twilio/voice", fixture("call_status__busy"))
    assert len(fake_twilio.messages) == 2
    assert "STOP" not in fake_twilio.messages[1]["body"]  # not the first text in the conversation
    assert _count(rt, Recovery) == 2


def test_stop_then_missed_call_gets_no_text_until_start(client, rt, sub, fake_twilio):
    post(client, "/webhooks/twilio/sms", fixture("inbound_sms__stop"))
    assert "unsubscribed" in fake_twilio.messages[-1]["body"]
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    assert len(fake_twilio.messages) == 1  # only the confirmation
    post(client, "/webhooks/twilio/sms", fixture("inbound_sms__start"))
    post(client, "/webhooks/twilio/voice", fixture("call_status__busy"))
    bodies = [m["body"] for m in fake_twilio.messages]
    assert len(bodies) == 3 and "resubscribed" in bodies[1] and "Sorry we missed your call" in bodies[2]
    assert _count(rt, OptOut, OptOut.phone == CALLER) == 0


def test_texts_that_did_not_arrive_are_explained_in_plain_words(client, rt, sub, fake_twilio):
    import re

    from tests.vendors.twilio import report
    claim = _missed_call_step(client, rt)
    steps.deliver(rt, claim)
    rt.huey.immediate = True
    [msg] = fake_twilio.messages
    report(client, msg["sid"], "undelivered", 30034)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/").data).group(1).decode()
    client.post("/dev/sign-in", data={"csrf_token": token, "next": "/settings/1"})
    page = client.get("/settings/1").data.decode()
    assert "Texts that did not reach the caller" in page
    assert "US carriers blocked it: this number is not in a registered A2P 10DLC campaign" in page
    assert "(Twilio 30034)" in client.get("/").data.decode()
