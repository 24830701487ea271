"""When the job queue is away (Redis restarting, and it keeps nothing on disk): a vendor's event is
still stored and acknowledged, and the worker's sweeper queues it once Redis is back."""
from __future__ import annotations

import dataclasses
import socket
import threading
import time
from datetime import timedelta

import time_machine

from integration.app import create_app
from integration.models import InboxEvent, utcnow
from integration.queue import huey
from integration.runtime import Runtime, install
from integration.worker import tasks
from integration.worker.consumer import Sweeper, make_consumer
from tests.vendors.twilio import fixture, post


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def _samples(client) -> dict[str, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_a_missed_call_is_kept_while_redis_is_away_and_texted_when_it_is_back(config, rt, sub, fake_twilio,
                                                                              redis_url, caplog):
    away = dataclasses.replace(config, queue_immediate=False, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    down = Runtime(away)
    client = create_app(away, rt=down).test_client()
    answer = post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    assert answer.status_code == 200  # stored: a vendor's retry would only be a duplicate
    with rt.sessions() as s:
        [event] = s.query(InboxEvent).all()
    assert event.status == "pending"
    assert "queue unavailable key=queue.unavailable" in caplog.text
    metrics = _samples(client)
    assert metrics["ringback_queue_up"] == 0 and metrics["ringback_queue_unavailable_total"] >= 1
    down.close()

    back = install(Runtime(dataclasses.replace(away, redis_url=redis_url)))  # Redis is back, and empty
    try:
        assert huey.pending_count() == 0
        # The queue is new (or was emptied by a restart): the pending event is queued at once,
        # without waiting out the grace that spares events whose jobs are merely slow.
        assert tasks.sweep() == (0, 1)
        assert tasks.sweep() == (0, 0)
        with time_machine.travel(utcnow() + timedelta(seconds=31), tick=False):
            assert tasks.sweep() == (0, 1)  # still pending half a minute on: its job was lost after all
        huey.flush()
        tasks.process_event(event.id)
        client = create_app(back.config, rt=back).test_client()
        metrics = _samples(client)
        assert metrics["ringback_queue_up"] == 1 and metrics["ringback_queue_jobs_waiting"] == 1
        assert metrics["ringback_queue_oldest_seconds"] >= 0
        consumer = make_consumer(workers=1, in_process=True)
        consumer.start()
        try:
            [text] = fake_twilio.wait_for(1, timeout=10)
        finally:
            consumer.stop(graceful=True)
        assert text["to"] == fixture("call_status__no_answer")["From"]
    finally:
        back.close()


def test_the_queue_head_reports_how_long_it_has_waited(config, redis_url):
    back = install(Runtime(dataclasses.replace(config, queue_immediate=False, redis_url=redis_url)))
    try:
        assert huey.oldest_waiting_seconds() == 0.0
        with time_machine.travel(time.time() - 42, tick=False):
            tasks.process_event(123456)
        tasks.process_event(123457)
        assert huey.pending_count() == 2
        assert 41 <= huey.oldest_waiting_seconds() <= 60
    finally:
        huey.flush()
        back.close()


def test_the_sweeper_keeps_sweeping_after_a_failed_pass(caplog):
    passes, done = [], threading.Event()

    def sweep():
        passes.append(time.monotonic())
        if len(passes) == 1:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        if len(passes) == 3:
            done.set()

    sweeper = Sweeper(sweep, every=0.05)
    sweeper.start()
    try:
        assert done.wait(5), passes
    finally:
        sweeper.stopping.set()
        sweeper.join(5)
    assert not sweeper.is_alive()
    assert "sweep failed key=worker.sweep_failed" in caplog.text and "Connection refused" in caplog.text
