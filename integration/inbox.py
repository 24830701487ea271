"""Storing a verified webhook: the inbox row is committed before the vendor gets its 2xx."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from .db import transaction
from .models import utcnow
from .statements import INSERT_EVENT, SUB_BY_NUMBER


@dataclass(frozen=True)
class Stored:
    event_id: int | None  # None: a duplicate delivery, already stored
    sub: object | None  # the sub-account row the event routes to
    routed: bool
    extra: object = None  # what ``while_open`` returned


def store(runtime, *, provider: str, kind: str, key: str, payload: dict, number: str | None,
          token: str | None = None, unroutable_ok: bool = False, while_open=None) -> Stored:
    """Insert the event once (a duplicate ``key`` or ``token`` stores nothing) and commit.

    ``number`` is the business's number the event is addressed to; an event no sub-account
    owns is kept as ``unroutable`` (unless ``unroutable_ok``). ``while_open(session, sub)`` runs
    inside the transaction, for answers that need the sub-account's settings.
    """
    try:
        with transaction(runtime.sessions) as s:
            conn = s.connection()
            sub = conn.execute(SUB_BY_NUMBER, {"_number": number}).one_or_none() if number else None
            routed = sub is not None or unroutable_ok
            event_id = conn.execute(INSERT_EVENT, {
                "provider": provider, "kind": kind, "event_key": key, "idempotency_token": token,
                "sub_account_id": sub.id if sub else None, "payload": payload,
                "status": "pending" if routed else "unroutable", "attempts": 0, "received_at": utcnow(),
                "result": None if routed else f"no sub-account has the number {number}",
            }).inserted_primary_key[0]
            extra = while_open(s, sub) if while_open else None
    except IntegrityError:
        return Stored(None, None, False)
    return Stored(event_id, sub, routed, extra)
