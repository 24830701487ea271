"""Forgetting callers after RINGBACK_RETENTION_DAYS, and log lines that never carry a whole number."""
from __future__ import annotations

import logging
import re
from datetime import timedelta

from sqlalchemy import func, select

from integration import logs, retention
from integration.models import Call, InboxEvent, Message, OptOut, Recovery, Step, utcnow
from tests.conftest import BUSINESS_NUMBER, CALLER
from tests.vendors.twilio import fixture, post


def _counts(rt) -> dict:
    with rt.sessions() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) for m in (Call, Recovery, Message, InboxEvent)}


def _missed_and_stopped(client, other: str = "+15125550188") -> None:
    """One caller texted back who then said STOP (recovery closed), another texted back (still open)."""
    assert post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer")).status_code == 200
    assert post(client, "/webhooks/twilio/sms", fixture("inbound_sms__stop")).status_code == 200
    assert post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer") | {
        "From": other, "Caller": other, "CallSid": "CA" + "9" * 32}).status_code == 200


def test_old_texts_and_numbers_are_forgotten_and_the_counts_stay(client, rt, sub, fake_twilio):
    _missed_and_stopped(client)
    before = _counts(rt)
    done = retention.apply(rt, days=30, now=utcnow() + timedelta(days=31))
    assert _counts(rt) == before
    with rt.sessions() as s:
        stopped = s.scalar(select(Recovery).where(Recovery.caller.like("%0123")))
        assert stopped.caller == "+…0123" and stopped.open_key is None
        for msg in s.scalars(select(Message).where(Message.recovery_id == stopped.id)):
            assert msg.body == "" and CALLER not in (msg.to_number, msg.from_number)
            assert "+…0123" in (msg.to_number, msg.from_number) and msg.status  # its delivery status stays
        assert {c.caller for c in s.scalars(select(Call)) if c.recovery_id == stopped.id} == {"+…0123"}
        # STOP is kept whole: that number is never texted again, however long ago it said so.
        assert [o.phone for o in s.scalars(select(OptOut))] == [CALLER]
        # The caller whose recovery is still open keeps everything: they may still reply.
        still = s.scalar(select(Recovery).where(Recovery.open_key.is_not(None)))
        assert still.caller == "+15125550188"
        assert all(m.body for m in s.scalars(select(Message).where(Message.recovery_id == still.id)))
        assert {e.payload == {} for e in s.scalars(select(InboxEvent))} == {True}
        assert all("to" not in (st.payload or {}) for st in s.scalars(select(Step)) if st.status == "done"
                   and st.recovery_id == stopped.id)
    assert done.messages >= 2 and done.calls == 1 and done.recoveries == 1 and done.events == 3
    assert retention.apply(rt, days=30, now=utcnow() + timedelta(days=31)).line.startswith(
        "forgot 0 text(s), 0 call(s), 0 recover(ies), 0 webhook payload(s)")  # each row once


def test_nothing_is_forgotten_before_its_time_or_without_the_setting(client, rt, sub, fake_twilio):
    _missed_and_stopped(client)
    assert vars(retention.apply(rt, days=30)) == vars(retention.Forgotten())  # all of it is minutes old
    assert rt.config.retention_days is None
    assert vars(retention.apply(rt, now=utcnow() + timedelta(days=400))) == vars(retention.Forgotten())


def test_the_command_needs_a_number_of_days(ringback, client, rt, sub, fake_twilio):
    refused = ringback("retention")
    assert refused.exit_code != 0 and "RINGBACK_RETENTION_DAYS is not set" in refused.output
    done = ringback("retention", "--days", "30")
    assert done.exit_code == 0 and "older than 30 days" in done.output


def test_a_bad_retention_setting_is_one_clear_line():
    import pytest

    from integration.config import Config, ConfigError
    with pytest.raises(ConfigError, match="RINGBACK_RETENTION_DAYS must be a whole number"):
        Config.from_env({"RINGBACK_RETENTION_DAYS": "a month"})
    assert Config.from_env({"RINGBACK_RETENTION_DAYS": "90"}).retention_days == 90


def test_log_lines_carry_only_the_last_four_digits(caplog):
    logs.install()
    with caplog.at_level(logging.INFO, logger="ringback.test"):
        logging.getLogger("ringback.test").info("caller %s texted from %s (sid %s, event 1234567)", CALLER,
                                                BUSINESS_NUMBER, "CA" + "12345678" * 4)
    [line] = caplog.messages
    assert CALLER not in line and BUSINESS_NUMBER not in line
    assert "caller +…0123 texted from +…0100" in line
    assert "CA" + "12345678" * 4 in line and "event 1234567" in line  # ids are not numbers to hide


def test_a_missed_call_logs_no_whole_number(client, rt, sub, fake_twilio, caplog):
    """Through the real path: webhook, worker, the text (every logger of the process)."""
    with caplog.at_level(logging.DEBUG):
        assert post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer")).status_code == 200
        assert len(fake_twilio.messages) == 1
    assert caplog.records and not [r.getMessage() for r in caplog.records if CALLER in r.getMessage()]


def test_a_webhooks_request_id_follows_its_event_into_the_worker(client, rt, sub, fake_twilio, caplog):
    """The id the web gave the webhook is kept with the stored event, so the job that handles it (run
    here in a fresh context, as a worker process would) logs with the same id, and so does the send."""
    import contextvars

    from integration.worker import tasks
    rt.huey.immediate = False  # store only: the job runs below, outside the request
    try:
        answer = post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"),
                      headers={"X-Request-Id": "lb-7f3a9c"})
    finally:
        rt.huey.immediate = True
    assert answer.headers["X-Request-Id"] == "lb-7f3a9c"
    with rt.sessions() as s:
        [ev] = s.scalars(select(InboxEvent)).all()
    assert ev.request_id == "lb-7f3a9c" and ev.status == "pending"
    with caplog.at_level(logging.INFO):
        contextvars.Context().run(tasks.process_event.call_local, ev.id)
    assert len(fake_twilio.messages) == 1
    jobs = [r for r in caplog.records if r.name == "ringback.jobs" and "event" in r.getMessage()]
    assert jobs and {r.request_id for r in jobs} == {"lb-7f3a9c"}


def test_a_request_gets_an_id_and_a_junk_one_is_replaced(client):
    answer = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", answer.headers["X-Request-Id"])
    junk = client.get("/healthz", headers={"X-Request-Id": "<script>" + "x" * 100})
    assert re.fullmatch(r"[0-9a-f]{16}", junk.headers["X-Request-Id"])


def test_json_log_lines_carry_the_request_id_and_no_whole_number():
    import json
    logs.install()
    with logs.bound("req-42"):
        record = logging.getLogger("ringback.test").makeRecord(
            "ringback.test", logging.INFO, __file__, 1, "texted %s", (CALLER,), None)
    line = json.loads(logs.formatter("json").format(record))
    assert line["request_id"] == "req-42" and line["message"] == "texted +…0123"
    assert line["level"] == "INFO" and line["logger"] == "ringback.test"


def test_a_bad_log_format_is_one_clear_line():
    import pytest

    from integration.config import Config, ConfigError
    with pytest.raises(ConfigError, match="RINGBACK_LOG_FORMAT must be one of text, json"):
        Config.from_env({"RINGBACK_LOG_FORMAT": "xml"})
    assert Config.from_env({"RINGBACK_LOG_FORMAT": "JSON"}).log_format == "json"
