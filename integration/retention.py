"""Forgetting callers after a while (RINGBACK_RETENTION_DAYS): message bodies, callers' numbers
and the webhooks' payloads older than that are removed, while every row the reports count stays
(calls, recoveries and their states and values, texts and their delivery statuses).

What is kept on purpose: opt-outs (a number that said STOP must never be texted again, however
long ago), and anything about a recovery still open (its caller may still reply). Numbers are
cut to their last four digits, as in the logs (integration.logs), so a person can still match a
row to a caller who quotes their number.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Text, and_, cast, func, select, update

from .db import transaction
from .logs import redact
from .models import Call, InboxEvent, Message, Recovery, Step, utcnow

log = logging.getLogger("ringback.retention")
BATCH = 1000  # rows per transaction: a long backlog never holds a lock for long
FINISHED_EVENTS = ("done", "ignored", "failed", "unroutable")


@dataclass
class Forgotten:
    messages: int = 0
    calls: int = 0
    recoveries: int = 0
    events: int = 0
    steps: int = 0

    @property
    def line(self) -> str:
        return (f"forgot {self.messages} text(s), {self.calls} call(s), {self.recoveries} recover(ies), "
                f"{self.events} webhook payload(s) and {self.steps} step(s)")


def apply(rt, days: int | None = None, now: datetime | None = None) -> Forgotten:
    """Remove what is older than ``days`` (default RINGBACK_RETENTION_DAYS; None keeps everything)."""
    days = days if days is not None else rt.config.retention_days
    done = Forgotten()
    if not days:
        return done
    before = (now or utcnow()) - timedelta(days=days)
    closed = select(Recovery.id).where(Recovery.open_key.is_(None))
    done.messages = _batches(rt, Message, and_(Message.created_at < before, Message.body != ""),
                             lambda m: {"body": "", "to_number": redact(m.to_number), "from_number": redact(m.from_number)},
                             also=(Message.recovery_id.is_(None)) | Message.recovery_id.in_(closed))
    done.calls = _batches(rt, Call, and_(Call.started_at < before, Call.caller.like("+%"), ~Call.caller.like("+…%")),
                          lambda c: {"caller": redact(c.caller)},
                          also=(Call.recovery_id.is_(None)) | Call.recovery_id.in_(closed))
    done.recoveries = _batches(rt, Recovery, and_(Recovery.opened_at < before, Recovery.open_key.is_(None),
                                                  Recovery.caller.like("+%"), ~Recovery.caller.like("+…%")),
                               lambda r: {"caller": redact(r.caller)})
    done.events = _batches(rt, InboxEvent, and_(InboxEvent.received_at < before, InboxEvent.status.in_(FINISHED_EVENTS),
                                                func.coalesce(InboxEvent.result, "") != "payload removed (retention)"),
                           lambda e: {"payload": {}, "result": "payload removed (retention)"})
    done.steps = _batches(rt, Step, and_(Step.due_at < before, Step.status.in_(("done", "failed", "cancelled", "expired")),
                                         cast(Step.payload, Text) != "{}"),
                          lambda st: {"payload": {}})
    if any(vars(done).values()):
        log.info("retention (%d days): %s", days, done.line)
    return done


def _batches(rt, model, where, change, also=None) -> int:
    """Apply ``change(row)`` to the rows ``where`` (and ``also``) selects, BATCH at a time, each once."""
    total, after = 0, 0
    conditions = [where] + ([also] if also is not None else [])
    while True:
        with transaction(rt.sessions) as s:
            rows = s.scalars(select(model).where(model.id > after, *conditions).order_by(model.id).limit(BATCH)).all()
            for row in rows:
                s.execute(update(model).where(model.id == row.id).values(**change(row)))
        total += len(rows)
        if len(rows) < BATCH:
            return total
        after = rows[-1].id
