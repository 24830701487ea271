"""Statements of the hot path, built once.

Values travel as bind parameters: building a statement with literal values (coercion, cache
keys) costs more than running it, and the ORM's unit of work more still. Profiling put a
missed call's decision at 8.5 ms through the ORM and 2 ms through these.
"""
from __future__ import annotations

from sqlalchemy import bindparam, exists, or_, select, update

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
CALLER_STATE = select(
    exists().where(opt_outs_table.c.sub_account_id == bindparam("_sub"), opt_outs_table.c.phone == bindparam("_phone")),
    exists().where(messages_table.c.sub_account_id == bindparam("_sub"), messages_table.c.to_number == bindparam("_phone"),
                   messages_table.c.direction == "outbound"),
)
JOIN_RECOVERY = recoveries_table.update().where(recoveries_table.c.id == bindparam("_id")).values(
    calls_count=recoveries_table.c.calls_count + 1)
UPDATE_RECOVERY = recoveries_table.update().where(recoveries_table.c.id == bindparam("_id"))
# A text-back moves its recovery forward (never backward) and stamps the first text.
TEXTED_RECOVERY = recoveries_table.update().where(
    recoveries_table.c.id == select(steps_table.c.recovery_id).where(
        steps_table.c.id == bindparam("_step"), steps_table.c.kind == "text_back").scalar_subquery(),
    recoveries_table.c.state == "missed",
).values(state="texted", texted_at=bindparam("_now"))

TOUCHED_RECOVERY = recoveries_table.update().where(recoveries_table.c.id == bindparam("_id")).values(
    touches=recoveries_table.c.touches + 1)

SENT_MESSAGE = messages_table.update().where(messages_table.c.id == bindparam("_id"))
DONE_STEP = steps_table.update().where(steps_table.c.id == bindparam("_id"))
