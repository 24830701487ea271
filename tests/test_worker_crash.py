"""A worker process killed in the middle of sending: the next one finishes the job, once."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from integration.app import create_app
from integration.models import Message, Recovery, Step, SubAccount
from integration.runtime import Runtime
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL
from tests.vendors.twilio import fixture, post

pytestmark = pytest.mark.e2e
RINGBACK = str(Path(sys.executable).with_name("ringback"))


def _worker(db_url, fake_twilio, data_dir, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RINGBACK_", "TWILIO_", "REDIS_", "DATABASE_"))}
    env.update(DATABASE_URL=db_url, RINGBACK_DATA_DIR=str(data_dir), TWILIO_ACCOUNT_SID=ACCOUNT_SID,
               TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_API_URL=fake_twilio.url, RINGBACK_PUBLIC_URL=PUBLIC_URL,
               RINGBACK_STEP_LEASE_SECONDS="2")
    return subprocess.Popen([RINGBACK, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_worker_killed_while_twilio_answers_then_restarted_sends_exactly_once(config, fake_twilio, tmp_path):
    cfg = dataclasses.replace(config, queue_immediate=False)
    rt = Runtime(cfg)
    app = create_app(cfg, rt=rt)
    with rt.sessions.begin() as s:
        s.add(SubAccount(name="Acme Plumbing", provider="twilio", external_id=BUSINESS_NUMBER,
                         phone_number=BUSINESS_NUMBER, timezone="America/Chicago", business_hours="24/7"))
    fake_twilio.answer_delay = 3.0  # Twilio has the text, but the answer is slow: the worker dies waiting
    assert post(app.test_client(), "/webhooks/twilio/voice", fixture("call_status__no_answer")).status_code == 200
    log = open(tmp_path / "workers.log", "w+")
    first = _worker(cfg.database_url, fake_twilio, cfg.data_dir, log)
    try:
        assert _wait(lambda: len(fake_twilio.messages) == 1), "the first worker never sent"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    with rt.sessions() as s:
        assert s.scalar(select(Step.status).where(Step.kind == "text_back")) == "running"
        assert s.scalar(select(Message.status)) == "pending" and s.scalar(select(Message.provider_sid)) is None
    fake_twilio.answer_delay = 0.0
    time.sleep(2.1)  # the killed worker's lease runs out
    second = _worker(cfg.database_url, fake_twilio, cfg.data_dir, log)
    try:
        def recorded():
            with rt.sessions() as s:
                return s.scalar(select(Step.status).where(Step.kind == "text_back")) == "done"
        assert _wait(recorded), "the second worker never finished the step"
    finally:
        second.terminate()
        assert second.wait(timeout=30) == 0
    assert len(fake_twilio.messages) == 1, "the text was sent twice"
    with rt.sessions() as s:
        assert s.scalar(select(Message.provider_sid)) == fake_twilio.messages[0]["sid"]
        assert s.scalar(select(Recovery.state)) == "texted"
    log.seek(0)
    assert "sweeper re-queued 1 step(s)" in log.read()
    rt.close()


def _quiet_free_country(today) -> str:
    """A holidays calendar where today is a working day (the test runs in real time)."""
    import holidays
    return next(c for c in ("US", "GB", "DE", "JP", "BR") if today not in holidays.country_holidays(c, years=today.year))


def test_a_sequence_interrupted_by_stopping_workers_sends_every_touch_once(config, fake_twilio, tmp_path):
    from datetime import date, timedelta

    from integration.models import utcnow
    from integration.settings_store import save_workflow
    cfg = dataclasses.replace(config, queue_immediate=False)
    rt = Runtime(cfg)
    app = create_app(cfg, rt=rt)
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="twilio", external_id=BUSINESS_NUMBER,
                         phone_number=BUSINESS_NUMBER, timezone="America/Chicago", business_hours="24/7")
        s.add(sub)
        s.flush()
        # Follow-ups a minute apart, no quiet hours: the sequence runs in real time.
        save_workflow(s, sub, "follow_ups", second_after_minutes=1, third="after_minutes", third_after_minutes=1,
                      quiet_start="00:00", quiet_end="00:00", country=_quiet_free_country(date.today()))
    caller = fixture("call_status__no_answer")["From"]
    to_caller = lambda: [m for m in fake_twilio.messages if m["to"] == caller]  # noqa: E731

    def make_due(touch: int) -> None:
        with rt.sessions.begin() as s:
            step = s.scalar(select(Step).where(Step.idempotency_key.like(f"%:touch:{touch}")))
            step.due_at = utcnow() - timedelta(seconds=1)

    log = open(tmp_path / "workers.log", "w+")
    assert post(app.test_client(), "/webhooks/twilio/voice", fixture("call_status__no_answer")).status_code == 200
    a = _worker(cfg.database_url, fake_twilio, cfg.data_dir, log)  # touch 1, then stopped gracefully
    assert _wait(lambda: len(to_caller()) == 1), "the text-back never went"
    a.terminate()
    assert a.wait(timeout=30) == 0

    make_due(2)
    fake_twilio.answer_delay = 3.0  # touch 2 reaches Twilio, then its worker is killed waiting
    b = _worker(cfg.database_url, fake_twilio, cfg.data_dir, log)
    try:
        assert _wait(lambda: len(to_caller()) == 2), "touch 2 never went"
        b.send_signal(signal.SIGKILL)
        b.wait(timeout=10)
    finally:
        if b.poll() is None:
            b.kill()
    fake_twilio.answer_delay = 0.0
    time.sleep(2.1)  # the killed worker's lease runs out

    c = _worker(cfg.database_url, fake_twilio, cfg.data_dir, log)  # finds touch 2 at Twilio, schedules touch 3
    try:
        def touch_3_scheduled():
            with rt.sessions() as s:
                return s.scalar(select(Step.id).where(Step.idempotency_key.like("%:touch:3"))) is not None
        assert _wait(touch_3_scheduled), "touch 2 was never recorded"
    finally:
        c.terminate()
        assert c.wait(timeout=30) == 0
    make_due(3)
    d = _worker(cfg.database_url, fake_twilio, cfg.data_dir, log)
    try:
        assert _wait(lambda: len(to_caller()) == 3), "touch 3 never went"
        time.sleep(1.0)  # long enough for a duplicate to show
    finally:
        d.terminate()
        assert d.wait(timeout=30) == 0
    bodies = [m["body"] for m in to_caller()]
    assert len(bodies) == 3 and len(set(bodies)) == 3, bodies
    with rt.sessions() as s:
        assert s.scalar(select(Recovery.touches)) == 3
        assert {st.status for st in s.scalars(select(Step).where(Step.kind.in_(("text_back", "follow_up"))))} == {"done"}
    rt.close()
