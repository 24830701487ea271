"""Storing a verified webhook: the inbox row is committed before the vendor gets its 2xx."""
from __future__ import annotations

import hashlib
from datetime import timedelta
from dataclasses import dataclass

from psycopg.types.json import Json
from sqlalchemy.exc import IntegrityError

from connectors import registry

from . import logs, metrics
from .db import transaction
from .models import utcnow
from .statements import INSERT_EVENT, SELECT_SUB, STORE_ONCE_BY, SUB_BY_EXTERNAL, SUB_BY_NUMBER, TOUCH_INSTALLATION

CRM_PROVIDERS = frozenset(registry.CRMS)
TOUCH_EVERY = timedelta(minutes=1)  # how fresh an installation's "last event" is kept


@dataclass(frozen=True)
class Stored:
    event_id: int | None  # None: a duplicate delivery, already stored
    sub_id: int | None  # the sub-account the event routes to
    routed: bool
    extra: object = None  # what ``while_open`` returned


def store(runtime, *, provider: str, kind: str, key: str, payload: dict, number: str | None = None,
          account: str | None = None, token: str | None = None, unroutable_ok: bool = False,
          act: bool = True, while_open=None, sub_id: int | None = None, found_by: str | None = None) -> Stored:
    """Insert the event once (a duplicate ``key`` or ``token`` stores nothing) and commit.

    The sub-account is the one owning ``number`` (the business's number the event is
    addressed to) or, for a CRM, the one whose external id is ``account`` (GoHighLevel
    locationId...). An event no sub-account owns is kept as ``unroutable`` unless
    ``unroutable_ok``; one with ``act=False`` is kept as ``ignored``. ``while_open(session,
    sub)`` runs inside the transaction, for answers that need the sub-account's settings.
    """
    # What comes from a vendor is never longer than its column: a long key is kept as its hash
    # (still unique), a long kind (an ignored event's own type name) is cut.
    key, token, kind = _fits(key, 200), _fits(token, 200), kind[:40]
    if while_open is None and runtime.engine.dialect.name == "postgresql":
        return _store_in_one_statement(runtime, provider=provider, kind=kind, key=key, token=token, payload=payload,
                                       number=number, account=account, sub_id=sub_id, unroutable_ok=unroutable_ok,
                                       act=act, found_by=found_by)
    try:
        with transaction(runtime.sessions) as s:
            conn = s.connection()
            sub = None
            if sub_id is not None:  # Ringback's own events (a CRM workflow's action) name it
                sub = conn.execute(SELECT_SUB, {"_id": sub_id}).one_or_none()
            elif number:
                sub = conn.execute(SUB_BY_NUMBER, {"_number": number}).one_or_none()
            elif account:
                sub = conn.execute(SUB_BY_EXTERNAL, {"_provider": provider, "_external": account}).one_or_none()
            routed = sub is not None or unroutable_ok
            status = ("pending" if act else "ignored") if routed else "unroutable"
            event_id = conn.execute(INSERT_EVENT, {
                "provider": provider, "kind": kind, "event_key": key, "idempotency_token": token,
                "sub_account_id": sub.id if sub else None, "payload": payload, "status": status,
                "attempts": 0, "received_at": utcnow(), "found_by": found_by, "request_id": logs.REQUEST_ID.get(),
                "result": None if routed else f"no sub-account has {'the number ' + number if number else account}",
            }).inserted_primary_key[0]
            if sub is not None and provider in CRM_PROVIDERS:  # installation health: last event received
                now = utcnow()
                conn.execute(TOUCH_INSTALLATION, {"_sub": sub.id, "last_event_at": now,
                                                  "_stale_before": now - TOUCH_EVERY})
            extra = while_open(s, sub) if while_open else None
    except IntegrityError:
        return Stored(None, None, False)
    metrics.WEBHOOKS.labels(provider, status).inc()
    return Stored(event_id, sub.id if sub else None, routed and act, extra)


def _store_in_one_statement(runtime, *, provider, kind, key, token, payload, number, account, sub_id, unroutable_ok,
                            act, found_by) -> Stored:
    """``store`` on PostgreSQL: one autocommitted statement (statements.STORE_ONCE_BY)."""
    by, value = (("sub_id", sub_id) if sub_id is not None else ("number", number) if number
                 else ("account", account) if account else (None, None))
    now = utcnow()
    with runtime.autocommit_engine.connect() as conn:
        row = conn.exec_driver_sql(STORE_ONCE_BY[by], {
            "by": value, "provider": provider, "kind": kind, "event_key": key, "token": token,
            "payload": Json(payload), "unroutable_ok": unroutable_ok, "status": "pending" if act else "ignored",
            "now": now, "found_by": found_by, "request_id": logs.REQUEST_ID.get(),
            "unroutable_why": f"no sub-account has {'the number ' + number if number else account}",
            "touch": provider in CRM_PROVIDERS, "stale_before": now - TOUCH_EVERY,
        }).one_or_none()
    if row is None:  # the same delivery again: nothing inserted
        return Stored(None, None, False)
    metrics.WEBHOOKS.labels(provider, row.status).inc()
    return Stored(row.id, row.sub_account_id, row.status == "pending")


def _fits(value: str | None, size: int) -> str | None:
    if value is None or len(value) <= size:
        return value
    return value[:size - 72] + "#sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
