"""Applying a stored event (the worker's loop): lock the inbox row, complete the event from the
CRM where the webhook is thin, hand it to its handler, record the outcome; bounded retries."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.base import CrmError
from workflows.events import AppEvent, BookingEvent, CallEvent, CrmText, DeliveryUpdate, InboundSms

from .. import crm_reads, lifecycle, logs, metrics
from ..crm_session import CrmSession
from ..db import transaction
from ..models import InboxEvent, utcnow
from ..parsers import parse_stored
from ..statements import (FINISH_EVENT, SELECT_EVENT)

from .bookings import handle_booking
from .handlers import handle_call, handle_crm_text, handle_delivery, handle_sms
from .outcomes import Done, FAILED_ATTEMPTS, Incomplete, NOT_YET_ATTEMPTS, NotYet, Outcome, VENDOR_ATTEMPTS

log = logging.getLogger("ringback.worker")


def process_event(rt, event_id: int, now: datetime | None = None, expected_attempts: int | None = None,
                  crms: CrmSession | None = None) -> Outcome:
    """Apply one stored webhook. Safe to run twice, concurrently or after a crash. ``crms``: the
    job's CRM session (the installation read once for completing, sending and writing).

    ``expected_attempts``: a scheduled retry or the sweeper's re-queue runs only while the event
    has been tried exactly that often; any other run got there first (one retry chain per event).
    """
    now = now or utcnow()
    completed = None  # the event, once the vendor's API filled in what the webhook left out
    for attempt in range(4):
        try:
            with transaction(rt.sessions) as s:
                conn = s.connection()
                ev = conn.execute(SELECT_EVENT, {"_id": event_id}).one_or_none()
                if ev is None or ev.status != "pending":
                    return Outcome("already processed")
                if expected_attempts is not None and ev.attempts != expected_attempts:
                    return Outcome("another run of this event got there first")
                # This job's log lines, its text and its CRM writes carry the webhook's request id.
                logs.REQUEST_ID.set(ev.request_id or logs.REQUEST_ID.get())
                event = completed or parse_stored(ev.provider, ev.kind, ev.payload)
                if completed is None and (crm_reads.incomplete(event) or isinstance(event, AppEvent)):
                    raise Incomplete(ev.sub_account_id, event)
                outcome = _dispatch(s, rt, ev, event, now)
                conn.execute(FINISH_EVENT, {"_id": event_id, "status": "done", "result": outcome.summary,
                                            "processed_at": now})
            if outcome.decided:  # committed: a transaction run again after a race counts once
                metrics.CALLS.labels(outcome.decided).inc()
            return outcome
        except Incomplete as need:
            # Ask the vendor outside any transaction (a call's details, a contact's number),
            # then decide with the answer.
            try:
                if isinstance(need.event, AppEvent):  # installs and uninstalls talk to the vendor
                    completed = Done(lifecycle.apply(rt, need.event))
                else:
                    completed = crm_reads.complete(rt, need.sub_account_id, need.event, crms)
            except CrmError as exc:
                if exc.retryable:
                    asked_wait = exc.retry_after or 0.0  # the vendor's own interval, when it gave one
                    return _later(rt, event_id, now, f"asking {need.event.provider} first: {exc}", VENDOR_ATTEMPTS,
                                  lambda n: min(600.0, max(asked_wait, 5.0 * 2 ** (n - 1))), "failed")
                log.warning("event %s: could not be completed from %s: %s", event_id, need.event.provider, exc)
                completed = crm_reads.unresolved(need.event, exc)
        except IntegrityError:
            # A concurrent job inserted the same call, recovery or opt-out first: run again and
            # see its row (PostgreSQL raised only after the other transaction committed).
            if attempt == 3:
                raise
            log.info("event %s raced another job; retrying", event_id)
        except NotYet as exc:
            return _later(rt, event_id, now, f"not yet: {exc}", NOT_YET_ATTEMPTS,
                          lambda n: min(60.0, 0.2 * 2 ** (n - 1)), "done", window=exc.window)
    raise AssertionError("unreachable")


def event_failed(rt, event_id: int, exc: BaseException, now: datetime | None = None) -> Outcome:
    """An event whose processing raised: tried again a few times, then left as failed with the reason."""
    reason = f"{type(exc).__name__}: {str(exc)[:500]}"
    return _later(rt, event_id, now or utcnow(), reason, FAILED_ATTEMPTS, lambda n: float(2 ** n), "failed")


def _later(rt, event_id: int, now: datetime, reason: str, limit: int, delay, final: str,
           window: timedelta | None = None) -> Outcome:
    """Count an attempt that did not finish the event; schedule the next one, or stop for good
    (``final``: "done" when the event was about nothing of Ringback's, "failed" otherwise)."""
    with transaction(rt.sessions) as s:
        ev = s.get(InboxEvent, event_id, with_for_update=True)
        if ev is None or ev.status != "pending":
            return Outcome("already processed")
        ev.attempts += 1
        if ev.attempts >= limit or (window is not None and now - ev.received_at > window):
            verb = "gave up" if final == "done" else "failed"
            ev.status, ev.processed_at, ev.next_attempt_at = final, now, None
            ev.result = f"{verb} after {ev.attempts} attempt(s): {reason}"
            log.warning("event %s %s", event_id, ev.result)
            return Outcome(ev.result)
        wait = delay(ev.attempts)
        ev.next_attempt_at, ev.result = now + timedelta(seconds=wait), f"attempt {ev.attempts}: {reason}"
        return Outcome(f"{reason}; trying again in {wait:g}s", retry_in=wait, event_attempts=ev.attempts)


def retry_events(rt, event_ids: list[int]) -> list[int]:
    """Put failed events back to be processed from the start (`ringback events retry`); the ids that were."""
    with transaction(rt.sessions) as s:
        rows = s.scalars(select(InboxEvent).where(InboxEvent.id.in_(event_ids), InboxEvent.status == "failed")
                         .with_for_update()).all()
        for ev in rows:
            ev.status, ev.attempts, ev.next_attempt_at, ev.processed_at = "pending", 0, None, None
            ev.result = f"retried by hand after: {ev.result}"
        return sorted(ev.id for ev in rows)


def _dispatch(s: Session, rt, ev, event, now: datetime) -> Outcome:
    if isinstance(event, CallEvent):
        return handle_call(s, ev, event, now, (rt.sender.name, rt.lease, rt.config.public_url))
    if isinstance(event, InboundSms):
        return handle_sms(s, rt, ev, event, now)
    if isinstance(event, DeliveryUpdate):
        return handle_delivery(s, event, now)
    if isinstance(event, BookingEvent):
        return handle_booking(s, ev, event, now)
    if isinstance(event, CrmText):
        return handle_crm_text(s, ev, event, now)
    if isinstance(event, Done):
        return Outcome(event.summary)
    if isinstance(event, crm_reads.Unresolved):
        return Outcome(event.reason)
    return Outcome(f"stored; {type(event).__name__} is not acted on")
