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
from tests.twilio_helpers import fixture, post

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
