"""Statements of the hot path, built once.

Values travel as bind parameters: building a statement with literal values (coercion, cache
keys) costs more than running it, and the ORM's unit of work more still. Profiling put a
missed call's decision at 8.5 ms through the ORM and 2 ms through these.
"""
from __future__ import annotations

from sqlalchemy import Boolean, bindparam, case, exists, literal, or_, select, true, update

from .models import Call, InboxEvent, Installation, Message, OptOut, Recovery, Step, SubAccount

inbox_table, calls_table, recoveries_table = InboxEvent.__table__, Call.__table__, Recovery.__table__
steps_table, messages_table, subs_table, opt_outs_table = (Step.__table__, Message.__table__, SubAccount.__table__,
                                                           OptOut.__table__)

# What the hot path reads of a sub-account (text_back_settings takes such a row).
SUB_COLUMNS = tuple(subs_table.c[n] for n in (
    "id", "agency_id", "name", "provider", "phone_number", "timezone", "business_hours", "booking_url",
    "default_region"))
SELECT_SUB = select(*SUB_COLUMNS).where(subs_table.c.id == bindparam("_id"))
SUB_BY_NUMBER = select(*SUB_COLUMNS).where(subs_table.c.phone_number == bindparam("_number"))
SUB_BY_EXTERNAL = select(*SUB_COLUMNS).where(subs_table.c.provider == bindparam("_provider"),
                                             subs_table.c.external_id == bindparam("_external"))

INSERT_EVENT = inbox_table.insert()
# Installation health's "last event": stamped at most once a minute. Every event of a location
# updating the same row would make concurrent webhooks wait on its row lock, and write a row
# version each time; a row that is fresh enough fails the WHERE and is neither locked nor written.
TOUCH_INSTALLATION = update(Installation.__table__).where(
    Installation.__table__.c.sub_account_id == bindparam("_sub"),
    or_(Installation.__table__.c.last_event_at.is_(None),
        Installation.__table__.c.last_event_at < bindparam("_stale_before")),
).values(last_event_at=bindparam("last_event_at"))
# A Salesforce Outbound Message's installation, by the hash of the secret in its URL.
_inst = Installation.__table__
INSTALLATION_BY_SECRET = select(_inst.c.sub_account_id, subs_table.c.external_id).join(
    subs_table, subs_table.c.id == _inst.c.sub_account_id,
).where(_inst.c.provider == bindparam("_provider"), _inst.c.webhook_secret_hash == bindparam("_hash"))

# PostgreSQL: a webhook stored in one round trip, autocommitted (integration.inbox). The
# sub-account lookup, the insert (a repeat delivery conflicts on (provider, event_key) or the
# idempotency token and inserts nothing) and the installation's "last event" stamp are one
# data-modifying CTE, so one statement is one transaction: no BEGIN and COMMIT round trips.
# https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING
_STORE_ONCE = """
WITH sub AS (SELECT id FROM sub_accounts WHERE {where} LIMIT 1),
ins AS (
    INSERT INTO inbox_events (provider, kind, event_key, idempotency_token, sub_account_id, payload, status,
                              attempts, received_at, found_by, request_id, result)
    SELECT %(provider)s, %(kind)s, %(event_key)s, %(token)s, sub.id, %(payload)s,
           CASE WHEN sub.id IS NOT NULL OR %(unroutable_ok)s THEN %(status)s ELSE 'unroutable' END,
           0, %(now)s, %(found_by)s, %(request_id)s,
           CASE WHEN sub.id IS NULL AND NOT %(unroutable_ok)s THEN %(unroutable_why)s END
    FROM (SELECT 1) AS one LEFT JOIN sub ON true
    ON CONFLICT DO NOTHING
    RETURNING id, sub_account_id, status),
touched AS (
    UPDATE installations SET last_event_at = %(now)s
    WHERE %(touch)s AND sub_account_id = (SELECT sub_account_id FROM ins)
      AND (last_event_at IS NULL OR last_event_at < %(stale_before)s))
SELECT ins.id, ins.sub_account_id, ins.status FROM ins
"""
STORE_ONCE_BY = {
    "sub_id": _STORE_ONCE.format(where="id = %(by)s"),
    "number": _STORE_ONCE.format(where="phone_number = %(by)s"),
    "account": _STORE_ONCE.format(where="provider = %(provider)s AND external_id = %(by)s"),
    None: _STORE_ONCE.format(where="false"),
}
SELECT_EVENT = select(
    inbox_table.c.id, inbox_table.c.provider, inbox_table.c.kind, inbox_table.c.status, inbox_table.c.payload,
    inbox_table.c.sub_account_id, inbox_table.c.received_at, inbox_table.c.attempts, inbox_table.c.found_by,
    inbox_table.c.request_id,
).where(inbox_table.c.id == bindparam("_id")).with_for_update()
FINISH_EVENT = inbox_table.update().where(inbox_table.c.id == bindparam("_id")).values(
    attempts=inbox_table.c.attempts + 1, next_attempt_at=None)

SELECT_CALL = select(
    calls_table.c.id, calls_table.c.status, calls_table.c.status_rank, calls_table.c.decided_at, calls_table.c.outcome,
).where(calls_table.c.provider == bindparam("_provider"), calls_table.c.call_id == bindparam("_call_id")).with_for_update()
UPDATE_CALL = calls_table.update().where(calls_table.c.id == bindparam("_id"))

SELECT_OPEN_RECOVERY = select(recoveries_table.c.id, recoveries_table.c.opened_at).where(
    recoveries_table.c.open_key == bindparam("_key")).with_for_update()
# A missed caller's state in one round trip: their open recovery (locked: a second call from
# them waits here, then joins it), whether they opted out, whether they were ever texted.
_open = SELECT_OPEN_RECOVERY.subquery("open_recovery")
CALLER_STATE = select(
    _open.c.id, _open.c.opened_at,
    exists().where(opt_outs_table.c.sub_account_id == bindparam("_sub"), opt_outs_table.c.phone == bindparam("_phone")
                   ).label("opted_out"),
    exists().where(messages_table.c.sub_account_id == bindparam("_sub"), messages_table.c.to_number == bindparam("_phone"),
                   messages_table.c.direction == "outbound").label("texted_before"),
).select_from(select(literal(1).label("one")).subquery("one").outerjoin(_open, true()))
JOIN_RECOVERY = recoveries_table.update().where(recoveries_table.c.id == bindparam("_id")).values(
    calls_count=recoveries_table.c.calls_count + 1)
UPDATE_RECOVERY = recoveries_table.update().where(recoveries_table.c.id == bindparam("_id"))
# A text sent to a recovery's caller counts as a touch; a text-back also moves the recovery
# forward (never backward) and stamps the first text. One statement: every SET reads the row as
# it was, so ``texted_at`` comes back as ``_now`` exactly when this text moved it.
def _sent_to_recovery(id_param: str):
    moves = bindparam("_text_back", type_=Boolean) & (recoveries_table.c.state == "missed")
    return recoveries_table.update().where(recoveries_table.c.id == bindparam(id_param)).values(
        touches=recoveries_table.c.touches + 1,
        state=case((moves, "texted"), else_=recoveries_table.c.state),
        texted_at=case((moves, bindparam("_now", type_=recoveries_table.c.texted_at.type)),
                       else_=recoveries_table.c.texted_at),
    ).returning(recoveries_table.c.texted_at)


SENT_TO_RECOVERY = _sent_to_recovery("_id")

SENT_MESSAGE = messages_table.update().where(messages_table.c.id == bindparam("_id"))
DONE_STEP = steps_table.update().where(steps_table.c.id == bindparam("_id"))

# PostgreSQL: a sent text's bookkeeping (the message's sid and status, its step done, the
# recovery's touch) in one statement of data-modifying CTEs instead of three.
SENT_ALL_AT_ONCE = select(_sent_to_recovery("_recovery").cte("touched").c.texted_at).add_cte(
    messages_table.update().where(messages_table.c.id == bindparam("_message")).values(
        provider_sid=bindparam("provider_sid"), status=bindparam("status"), provider=bindparam("provider"),
        updated_at=bindparam("_updated_at", type_=messages_table.c.updated_at.type)).cte("sent_message"),
    steps_table.update().where(steps_table.c.id == bindparam("_step")).values(
        status="done", lease_until=None, finished_at=bindparam("_finished_at", type_=steps_table.c.finished_at.type),
    ).cte("done_step"),
)
