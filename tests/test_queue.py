"""The job queue on its real back ends: a SQLite file by default, Redis when REDIS_URL is set."""
from __future__ import annotations

import dataclasses
import time

import pytest

from integration.worker import tasks
from integration.queue import huey
from integration.runtime import Runtime, install
from integration.worker.consumer import make_consumer
from tests.vendors.twilio import fixture, post


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_worker_consumes_queued_events(backend, request, config, client, sub, fake_twilio):
    cfg = dataclasses.replace(config, queue_immediate=False)
    if backend == "redis":
        cfg = dataclasses.replace(cfg, redis_url=request.getfixturevalue("redis_url"))
    rt = install(Runtime(cfg))
    assert type(huey.storage).__name__ == ("PriorityQueue" if backend == "redis" else "QueueFile")
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    assert huey.pending_count() == 1 and fake_twilio.messages == []
    consumer = make_consumer(workers=2, in_process=True)
    consumer.start()
    try:
        assert len(fake_twilio.wait_for(1, timeout=10)) == 1
        deadline = time.monotonic() + 5
        while huey.pending_count() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert huey.pending_count() == 0
    finally:
        consumer.stop(graceful=True)
        rt.close()
    assert tasks.sweep() == (0, 0)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_text_goes_before_crm_writes_queued_earlier(backend, request, config):
    """In a backlog the next caller's text-back is not held up by CRM bookkeeping queued before it."""
    cfg = dataclasses.replace(config, queue_immediate=False)
    if backend == "redis":
        cfg = dataclasses.replace(cfg, redis_url=request.getfixturevalue("redis_url"))
    rt = install(Runtime(cfg))
    try:
        huey.flush()
        for recovery_id in (1, 2, 3):
            tasks.sync_recovery(recovery_id)
        tasks.process_event(7)
        first = huey.dequeue()
        assert (first.name.rsplit(".", 1)[-1], first.args) == ("process_event", (7,))
        assert [huey.dequeue().args[0] for _ in range(3)] == [1, 2, 3]  # the bookkeeping keeps its order
    finally:
        huey.flush()
        rt.close()
