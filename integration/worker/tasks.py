"""The huey tasks. Thin: each one calls the worker's function for it and queues what it says comes next.

Each job opens a CRM session (integration.crm_session): a sub-account's installation is read and
its token unsealed once, then used for every CRM call of that job: completing the event and
sending through the CRM's conversations in `process_event`, every write of a recovery in
`sync_recovery`. The writes stay a job of their own, queued behind the events that arrived
first: in a burst, every missed caller is texted before any CRM note is written."""
from __future__ import annotations

import contextvars
import logging

from huey import crontab

from .. import logs, metrics, runtime, sync
from ..crm_session import CrmSession
from . import events, steps
from .sweeper import due_work
from .outcomes import Claim, Outcome
from ..queue import BOOKKEEPING, QUEUE_AWAY, TEXTS, huey

log = logging.getLogger("ringback.jobs")


@huey.task(priority=TEXTS)
def process_event(event_id: int, expected_attempts: int | None = None) -> None:
    """Apply a stored event. A retry (or the sweeper's re-queue) carries the attempts it expects:
    if another run got there first it does nothing, so an event has one retry chain at most."""
    rt = runtime.current()
    crms = CrmSession(rt)
    with logs.bound(None):  # events.process_event binds the event's own request id
        try:
            outcome = events.process_event(rt, event_id, expected_attempts=expected_attempts, crms=crms)
        except Exception as exc:  # a poison event: bounded retries, then it rests as failed
            log.exception("event %s: processing failed", event_id)
            outcome = events.event_failed(rt, event_id, exc)
        log.info("event %s: %s", event_id, outcome.summary)
        if outcome.retry_in is not None:
            process_event.schedule((event_id, outcome.event_attempts), delay=outcome.retry_in)
        for claim in outcome.claims:
            send(rt, claim, crms)
        _sync(outcome)


def queue_event(event_id: int) -> bool:
    """Queue a stored event's processing. Its inbox row is committed already, so when the queue is
    away the event is not lost: the worker's sweeper queues it within SWEEP_SECONDS of the queue
    coming back, and the vendor still gets its 2xx (an error would only make it send a duplicate)."""
    try:
        process_event(event_id)
        return True
    except QUEUE_AWAY as exc:
        metrics.QUEUE_UNAVAILABLE.inc()
        log.warning("queue unavailable key=queue.unavailable event %s is stored; the sweeper will queue it: %s",
                    event_id, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        return False


@huey.task(retries=5, retry_delay=2, priority=TEXTS)
def run_step(step_id: int) -> None:
    rt = runtime.current()
    outcome = steps.claim_step(rt, step_id)
    if isinstance(outcome, Claim):
        send(rt, outcome)
    else:
        _report(step_id, outcome)


def send(rt, claim: Claim, crms: CrmSession | None = None) -> None:
    """Send a claimed step's text on the send pool (inline when jobs run immediately, in tests)."""
    if rt.huey.immediate:
        _deliver(rt, claim, crms)
    else:
        rt.send_pool.submit(contextvars.copy_context().run, _deliver, rt, claim, crms)  # with the request id


def _deliver(rt, claim: Claim, crms: CrmSession | None) -> None:
    try:
        _report(claim.step_id, steps.deliver(rt, claim, crms=crms))
    except Exception:  # the step keeps its lease; when it runs out the sweeper tries again
        log.exception("step %s: sending failed unexpectedly", claim.step_id)


def _report(step_id: int, outcome) -> None:
    log.info("step %s: %s", step_id, outcome.summary)
    if outcome.retry_in is not None:
        run_step.schedule((step_id,), delay=outcome.retry_in)
    _sync(outcome)


def _sync(outcome: Outcome) -> None:
    for recovery_id in outcome.syncs:
        sync_recovery(recovery_id, logs.REQUEST_ID.get())


@huey.task(retries=3, retry_delay=5, priority=BOOKKEEPING)
def sync_recovery(recovery_id: int, request_id: str | None = None) -> None:
    """Apply a recovery's CRM writes in order; come back when the CRM says to."""
    with logs.bound(request_id):
        outcome = sync.run(runtime.current(), recovery_id)
        log.info("crm sync for recovery %s: %s", recovery_id, outcome.summary)
    if outcome.retry_in is not None:
        sync_recovery.schedule((recovery_id, request_id), delay=max(outcome.retry_in, 0.05))


def sweep() -> tuple[int, int]:
    """Re-queue steps that are due or abandoned and events left pending (a killed worker's work, a
    queue that lost its jobs). Run by the consumer's sweeper thread (worker.consumer.SWEEP_SECONDS)."""
    rt = runtime.current()
    emptied = rt.huey.was_emptied()
    if emptied:
        log.info("the job queue is new or was emptied (a Redis restart): re-queueing every pending event")
    steps, events = due_work(rt, queue_emptied=emptied)
    for step_id in steps:
        run_step(step_id)
    for event_id, attempts in events:
        process_event(event_id, attempts)
    if steps or events:
        log.warning("sweeper re-queued %d step(s) and %d event(s)", len(steps), len(events))
    for recovery_id in sync.due(rt):
        sync_recovery(recovery_id)
    return len(steps), len(events)


@huey.periodic_task(crontab(minute="*/5"))
def catch_up() -> None:
    """Every five minutes (and when the worker starts): the calls no webhook brought (integration.catch_up)."""
    from .. import catch_up as catching_up
    rt = runtime.current()
    due = catching_up.due(rt)
    if not due:
        return
    for one in catching_up.run(rt, sub_ids=due):
        for event_id in one.event_ids:
            process_event(event_id)


def queue_catch_up() -> None:
    """Queue a catch-up pass now (as a worker starts); if the queue is away, the schedule's next one does it."""
    try:
        catch_up()
    except QUEUE_AWAY as exc:
        log.warning("queue unavailable key=queue.unavailable catch-up waits for its schedule: %s", exc)


@huey.periodic_task(crontab(minute="43", hour="3"))
def retention() -> None:
    """Daily: forget message bodies and callers' numbers older than RINGBACK_RETENTION_DAYS."""
    from .. import retention as forgetting
    forgetting.apply(runtime.current())


@huey.periodic_task(crontab(minute="17"))
def sender_checks() -> None:
    """Hourly: ask the vendors about the senders not checked for CHECK_EVERY (integration.sender_check)."""
    from .. import sender_check
    checked = sender_check.check_due(runtime.current())
    if checked:
        log.info("sender checks: %d sub-account(s) checked", checked)


@huey.periodic_task(crontab(minute="7"))
def weekly_summaries() -> None:
    """Hourly: the business owners' weekly summaries that are due (integration.summaries)."""
    from .. import summaries
    for line in summaries.send_due(runtime.current()):
        log.info("weekly summary: %s", line)
