"""Writing each step of a recovery into the sub-account's CRM, in order, without losing any.

Every write is a row of the sync log, added in the same transaction as the change it
reports. ``run`` applies a recovery's rows strictly in order: a row that is waiting for a
retry holds back the ones after it (a note never lands before its deal exists), a 429 or 5xx
is retried after the vendor's Retry-After (or a backoff of at most BACKOFF_CAP, so writes
resume within seconds of a vendor's outage ending), for as long as RETRY_FOR from the
write's creation: a CRM down for minutes or hours loses nothing. After that, or at once for an
error no retry can mend (a 400, a deleted record), the row is kept as failed with the vendor's error, for `ringback sync list --failed` and
`ringback sync retry`. Nothing is dropped.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update

from connectors.base import CrmError
from connectors import registry
from workflows.stages import UnmappedStages

from . import metrics
from .crm_session import CrmSession
from .db import transaction
from .models import Installation, Recovery, SyncOp, utcnow

log = logging.getLogger("ringback.sync")

CRM_PROVIDERS = frozenset(registry.CRMS)  # whose records Ringback writes, and reads to complete events
READ_PROVIDERS = CRM_PROVIDERS
RETRY_FOR = timedelta(hours=24)  # a write the CRM keeps refusing (429/5xx/unreachable) is retried this long
BACKOFF_CAP = 15.0  # seconds; 1, 2, 4, 8, 15, each less up to a fifth so the writes held back don't retry as one
LEASE = timedelta(seconds=60)


def logs_sms(provider: str, config) -> bool:
    """Whether texts are logged where the CRM shows conversations (HubSpot: an SMS
    communication; GoHighLevel: the contact's conversation, through the app's conversation
    provider, so only when GHL_CONVERSATION_PROVIDER_ID is set; Salesforce: the note is a Task)."""
    vendor = registry.crm(provider)
    return vendor is not None and vendor.logs_texts(config)


def text_ops(provider: str, *, note: str, direction: str, body: str, config=None,
             in_crm_inbox: bool = False) -> list[tuple[str, dict]]:
    """The writes that record one text: a note, and the SMS itself where the CRM shows
    conversations, unless it went through that inbox already (``in_crm_inbox``)."""
    ops = [("note", {"body": note})]
    if not in_crm_inbox and logs_sms(provider, config):
        ops.append(("sms_log", {"direction": direction, "body": body}))
    return ops


def add(s, *, sub_account_id: int, recovery_id: int, provider: str, ops: list[tuple[str, dict]],
        now: datetime) -> None:
    """Queue CRM writes for a recovery, in the caller's transaction (a Session or a Connection)."""
    s.execute(insert(SyncOp.__table__), [
        {"sub_account_id": sub_account_id, "recovery_id": recovery_id, "provider": provider, "op": op,
         "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
         "updated_at": now}
        for op, payload in ops])


@dataclass
class SyncOutcome:
    summary: str
    retry_in: float | None = None


def run(rt, recovery_id: int, now: datetime | None = None, crms: CrmSession | None = None) -> SyncOutcome:
    """Apply the recovery's pending CRM writes in order, until one has to wait or fail. The CRM is
    opened once for them all (``crms``: the job's session, when it has one)."""
    crms = crms or CrmSession(rt)
    done = 0
    crm = None
    while True:
        now = now or utcnow()
        with transaction(rt.sessions) as s:
            # The next write and the ids the earlier ones produced, in one read.
            row = s.execute(select(SyncOp, Recovery.crm_refs).join(Recovery, Recovery.id == SyncOp.recovery_id)
                            .where(SyncOp.recovery_id == recovery_id, SyncOp.status != "done")
                            .order_by(SyncOp.id).limit(1)).one_or_none()
            if row is None:
                return SyncOutcome(f"{done} write(s) applied; in sync")
            op, refs = row[0], dict(row[1] or {})
            if op.status == "failed":
                return SyncOutcome(f"{done} write(s) applied; held back by failed write {op.id}: {op.last_error}")
            if op.status == "running" or op.next_attempt_at > now:
                wait = max((op.next_attempt_at - now).total_seconds(), 0.0)
                return SyncOutcome(f"{done} write(s) applied; next in {wait:.1f}s", retry_in=wait)
            claimed = s.execute(update(SyncOp).where(SyncOp.id == op.id, SyncOp.status == "pending",
                                                     SyncOp.next_attempt_at <= now)
                                .values(status="running", next_attempt_at=now + LEASE, attempts=SyncOp.attempts + 1,
                                        updated_at=now)
                                .execution_options(synchronize_session=False))  # ``op`` keeps the values read
            if claimed.rowcount != 1:
                return SyncOutcome("another worker is applying this recovery's writes")
            op_id, kind, payload, attempts, vendor = op.id, op.op, dict(op.payload), op.attempts + 1, op.provider
            setup_error = None
            if crm is None:
                try:
                    crm = crms.port(op.sub_account_id, s)
                except CrmError as exc:
                    setup_error = exc
        started = time.monotonic()
        try:
            if setup_error:
                raise setup_error
            result, crm = crms.call(crm, lambda c: apply(c, kind, payload, refs))
        except (CrmError, UnmappedStages) as exc:
            outcome = _failed(rt, op_id, exc, attempts, now)
            if not (isinstance(exc, CrmError) and exc.throttled):  # held back here: nothing was sent
                metrics.CRM_WRITES.labels(vendor, kind, "retry" if outcome.retry_in is not None else "failed") \
                    .observe(time.monotonic() - started)
            return outcome
        metrics.CRM_WRITES.labels(vendor, kind, "done").observe(time.monotonic() - started)
        with transaction(rt.sessions) as s:
            s.execute(update(SyncOp).where(SyncOp.id == op_id).values(status="done", result=result, last_error=None,
                                                                      updated_at=now))
            s.execute(update(Installation).where(Installation.id == crm.access.installation_id)
                      .values(last_write_at=now, last_error=None))
            if result:  # this run holds the recovery's only running write: nobody else changes its refs
                s.execute(update(Recovery).where(Recovery.id == recovery_id).values(crm_refs=refs | result))
        done += 1
        now = None


def apply(crm, op: str, payload: dict, refs: dict) -> dict:
    """One CRM write; returns the ids it produced (merged into the recovery's crm_refs)."""
    if op == "contact":
        return {"contact_id": crm.upsert_contact(phone=payload["phone"], first_name=payload.get("first_name"))}
    if op == "deal":
        return {"deal_id": crm.open_deal(contact_id=refs["contact_id"], name=payload["name"], stage=payload["stage"],
                                         value=payload.get("value"))}
    if op == "stage":
        crm.move_deal(deal_id=refs["deal_id"], stage=payload["stage"], value=payload.get("value"))
        return {"stage": payload["stage"]}
    if op == "note":
        crm.add_note(contact_id=refs["contact_id"], body=payload["body"])
        return {}
    if op == "sms_log":  # where the CRM shows conversations (HubSpot: an SMS communication)
        crm.log_sms(contact_id=refs["contact_id"], direction=payload["direction"], body=payload["body"])
        return {}
    if op == "text_status":
        crm.set_text_status(deal_id=refs["deal_id"], status=payload["status"])
        return {"text_status": payload["status"]}
    if op == "trigger":  # a CRM workflow subscribed to one of Ringback's triggers
        crm.fire_trigger(url=payload["url"], data=payload["data"] | {"contactId": refs.get("contact_id")})
        return {}
    if op == "task":
        crm.create_task(contact_id=refs["contact_id"], title=payload["title"],
                        due=datetime.fromisoformat(payload["due"]), body=payload.get("body"))
        return {}
    raise CrmError(f"unknown CRM write {op!r}")


def _failed(rt, op_id: int, exc: Exception, attempts: int, now: datetime) -> SyncOutcome:
    retryable = isinstance(exc, CrmError) and exc.retryable
    with transaction(rt.sessions) as s:
        op = s.get(SyncOp, op_id)
        if isinstance(exc, CrmError) and exc.throttled:  # not sent: wait for the slot, spend no attempt
            op.status, op.attempts = "pending", op.attempts - 1
            op.next_attempt_at, op.updated_at = now + timedelta(seconds=exc.retry_after), now
            return SyncOutcome(f"write {op_id} waits {exc.retry_after:.1f}s for a request slot",
                               retry_in=exc.retry_after)
        op.last_error, op.updated_at = str(exc), now
        if retryable and now - op.created_at < RETRY_FOR:
            backoff = min(2 ** (attempts - 1), BACKOFF_CAP) * random.uniform(0.8, 1.0)
            wait = max(getattr(exc, "retry_after", None) or 0, backoff)
            op.status, op.next_attempt_at = "pending", now + timedelta(seconds=wait)
            log.warning("CRM write %s (%s) will be retried in %.1fs: %s", op_id, op.op, wait, exc)
            return SyncOutcome(f"write {op_id} retried in {wait:.1f}s: {exc}", retry_in=wait)
        op.status = "failed"
        log.error("CRM write %s (%s) failed for good after %d attempt(s): %s", op_id, op.op, attempts, exc)
        return SyncOutcome(f"write {op_id} failed: {exc}")


def retry(rt, op_ids: list[int] | None = None, now: datetime | None = None) -> list[int]:
    """Put failed writes (these, or all) back in line; returns the recoveries to run again."""
    now = now or utcnow()
    with transaction(rt.sessions) as s:
        where = [SyncOp.status == "failed"] + ([SyncOp.id.in_(op_ids)] if op_ids else [])
        recs = sorted(set(s.scalars(select(SyncOp.recovery_id).where(*where)).all()))
        # A write put back in line starts a new retry budget: RETRY_FOR counts from now.
        s.execute(update(SyncOp).where(*where).values(status="pending", attempts=0, next_attempt_at=now,
                                                      created_at=now, updated_at=now))
    return recs


def due(rt, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Recoveries with a write due, or one whose worker died mid-write (lease run out)."""
    now = now or utcnow()
    with transaction(rt.sessions) as s:
        s.execute(update(SyncOp).where(SyncOp.status == "running", SyncOp.next_attempt_at < now)
                  .values(status="pending"))
        return sorted(set(s.scalars(select(SyncOp.recovery_id).where(and_(
            SyncOp.status == "pending", SyncOp.next_attempt_at <= now))).all()))[:limit]


def pending_or_failed(rt, failed_only: bool, limit: int = 200):
    with rt.sessions() as s:
        where = [SyncOp.status == "failed"] if failed_only else [or_(SyncOp.status != "done")]
        return s.scalars(select(SyncOp).where(*where).order_by(SyncOp.id).limit(limit)).all()
