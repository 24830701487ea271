"""Ringback as a user runs it: `ringback serve` on a real port, the fake Twilio on another.

SQLite with the SQLite job queue (the embedded default), and PostgreSQL with the Redis queue.
"""
from __future__ import annotations

import subprocess
import time

import pytest
import requests
from sqlalchemy import select

from integration.db import make_engine, make_sessionmaker
from integration.models import Call, Message
from tests.conftest import BUSINESS_NUMBER, CALLER, sign
from tests.servers import RINGBACK, start_server, wait_until
from tests.vendors.twilio import fixture

pytestmark = pytest.mark.e2e
@pytest.fixture
def server(request, db_url, fake_twilio, tmp_path):
    """`ringback serve` with a Twilio-number sub-account."""
    running = start_server(request, db_url, fake_twilio, tmp_path)
    yield running
    running["stop"]()


def _callback(server, name, **changes):
    params = fixture(name) | changes
    path = "/webhooks/twilio/" + ("sms" if name.startswith("inbound_sms") else "voice")
    return requests.post(server["url"] + path, data=params, timeout=5,
                         headers={"X-Twilio-Signature": sign(server["url"] + path, params)})


def _wait_for_call(sessions, call_sid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as s:
            call = s.scalar(select(Call).where(Call.call_id == call_sid))
            if call is not None and call.outcome:
                return call
        time.sleep(0.05)
    raise AssertionError(f"no decision on {call_sid}")


def test_missed_call_texted_once_then_stop_is_honoured(server, db_url, fake_twilio):
    sessions = make_sessionmaker(make_engine(db_url))
    assert _callback(server, "call_status__no_answer").status_code == 200
    [text] = fake_twilio.wait_for(1)
    assert text["to"] == CALLER and text["from"] == BUSINESS_NUMBER
    assert text["body"].startswith("Hi there, it's Acme Plumbing. Sorry we missed your call!")
    assert text["body"].endswith("Reply STOP to opt out.")
    link = text["body"].split("book: ")[1].split(" ")[0]  # the recovery's tracked link
    assert link.startswith(server["url"] + "/b/")
    assert requests.get(link, allow_redirects=False, timeout=5).headers["Location"] == "https://acme.example/book"

    # Twilio delivers the same callback again: acknowledged, still one text.
    assert _callback(server, "call_status__no_answer").status_code == 200
    # Twilio reports delivery to our status callback URL (signed, with the real validator).
    assert fake_twilio.deliver(text["sid"]) == [200, 200]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sessions() as s:
            if s.scalar(select(Message.status).where(Message.provider_sid == text["sid"])) == "delivered":
                break
        time.sleep(0.05)
    else:
        raise AssertionError("delivery status never recorded")
    assert len(fake_twilio.messages) == 1

    # STOP: confirmed once; the next missed call from that caller gets nothing.
    assert _callback(server, "inbound_sms__stop").status_code == 200
    confirmation = fake_twilio.wait_for(2)[1]
    assert "unsubscribed" in confirmation["body"]
    assert _callback(server, "call_status__busy").status_code == 200
    call = _wait_for_call(sessions, fixture("call_status__busy")["CallSid"])
    assert call.outcome == "suppressed" and "opted out" in call.reason
    assert len(fake_twilio.messages) == 2


def test_simulate_call_shows_what_ringback_did(server, fake_twilio):
    result = subprocess.run([RINGBACK, "simulate-call", "--to", BUSINESS_NUMBER, "--from", "+15125550177"],
                            env=server["env"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "outcome: texted (no-answer; missed call, business hours)" in result.stdout
    assert fake_twilio.messages[0]["sid"] in result.stdout
    assert "Sorry we missed your call!" in result.stdout

    answered = subprocess.run([RINGBACK, "simulate-call", "--to", BUSINESS_NUMBER, "--from", "+15125550178",
                               "--status", "completed", "--duration", "120"],
                              env=server["env"], capture_output=True, text=True, timeout=60)
    assert "outcome: answered" in answered.stdout
    assert len(fake_twilio.messages) == 1


def test_metrics_add_up_every_process_in_multiprocess_mode(request, db_url, fake_twilio, tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR (what the Procfile's processes share), what the worker counted
    is in /metrics, read from the shared directory rather than one process's memory."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    server = start_server(request, db_url, fake_twilio, tmp_path, env_extra={"PROMETHEUS_MULTIPROC_DIR": str(shared)})
    try:
        assert _callback(server, "call_status__no_answer").status_code == 200
        fake_twilio.wait_for(1)
        scrape = lambda: requests.get(server["url"] + "/metrics", timeout=5).text  # noqa: E731
        # Observed when Twilio's answer is back (a moment after the fake has the text).
        wait_until(lambda: 'ringback_textback_seconds_count{provider="twilio"} 1.0' in scrape(), what="the latency")
        assert 'ringback_calls_decided_total{outcome="texted"} 1.0' in scrape()
        assert list(shared.glob("*.db"))  # the counts live in the shared files
    finally:
        server["stop"]()
