"""What the periodic sweeper re-queues: steps due or abandoned, events left pending."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select


from ..db import transaction
from ..models import InboxEvent, Step, utcnow


log = logging.getLogger("ringback.worker")


GRACE = timedelta(seconds=30)  # an event pending this long has lost its job (or its retry's): queue it again


def due_work(rt, now: datetime | None = None, limit: int = 500,
             queue_emptied: bool = False) -> tuple[list[int], list[tuple[int, int]]]:
    """Steps that are due or whose lease ran out, and inbox events left pending (id, attempts): for re-queueing.
    ``queue_emptied``: the queue lost every job (Redis restarted), so no pending event's job is still in it."""
    now = now or utcnow()
    grace = timedelta(0) if queue_emptied else GRACE
    with transaction(rt.sessions) as s:
        steps = s.scalars(select(Step.id).where(or_(
            and_(Step.status == "pending", Step.due_at <= now),
            and_(Step.status == "running", Step.lease_until < now),
        )).order_by(Step.due_at).limit(limit)).all()
        # Only events whose scheduled retry is long overdue (or that never had one): the retry of
        # a pending event is its chain's own; a second chain would multiply the work.
        events = s.execute(select(InboxEvent.id, InboxEvent.attempts).where(
            InboxEvent.status == "pending", InboxEvent.received_at <= now - grace,
            or_(InboxEvent.next_attempt_at.is_(None), InboxEvent.next_attempt_at <= now - grace),
        ).order_by(InboxEvent.id).limit(limit)).all()
    return list(steps), [tuple(e) for e in events]
