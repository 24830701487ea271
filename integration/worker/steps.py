"""The step machine: claim a due step (leased), send its text once (reconciled after a crash),
record the result; steps that send nothing (the escalation and lost checks)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from connectors import registry
from connectors.base import SendError
from workflows import templates

from .. import actions, metrics, senders, sequence, settings_store, sync
from ..db import transaction
from ..models import Message, Recovery, Step, SubAccount, utcnow
from ..statements import DONE_STEP, SENT_ALL_AT_ONCE, SENT_MESSAGE, SENT_TO_RECOVERY, messages_table, steps_table

from .optouts import opted_out, record_opt_out
from .outcomes import Claim, MAX_SEND_ATTEMPTS, Outcome, STOPPED_STEP_KINDS

log = logging.getLogger("ringback.worker")


def run_task_step(s: Session, step: Step, now: datetime) -> Outcome:
    """A step that sends nothing: the escalation check, the lost check."""
    rec = s.get(Recovery, step.recovery_id, with_for_update=True)
    crm = (step.payload or {}).get("crm")
    if rec is None:
        finish(step, "cancelled", now, "no recovery")
        return Outcome("no recovery")
    if step.kind == "escalate":
        if rec.state in ("booked", "lost") or rec.open_key is None:
            finish(step, "done", now, f"nothing to escalate: recovery is {rec.state}")
            return Outcome(step.last_error)
        finish(step, "done", now)
        if not crm:
            return Outcome("no booking yet; no CRM to give a task to")
        sync.add(s, sub_account_id=rec.sub_account_id, recovery_id=rec.id, provider=crm, now=now,
                 ops=[call_back_task(rec.caller, "no booking yet since the missed call", now)])
        return Outcome(f"no booking yet: task for a person to call {rec.caller}", syncs=[rec.id])
    # mark_lost: a caller who never replied, after the days set
    if rec.state not in ("missed", "texted") or rec.open_key is None:
        finish(step, "done", now, f"not lost: recovery is {rec.state}")
        return Outcome(step.last_error)
    rec.state, rec.open_key, rec.closed_at = "lost", None, now
    sequence.cancel_follow_ups(s, rec.id, "the recovery went lost", now)
    finish(step, "done", now)
    if crm:
        sync.add(s, sub_account_id=rec.sub_account_id, recovery_id=rec.id, provider=crm, now=now,
                 ops=[("stage", {"stage": "lost"})])
    return Outcome(f"recovery {rec.id} lost: no reply", syncs=[rec.id] if crm else [])


def claim_new(s: Session, step: Step, sender: tuple[str, timedelta], now: datetime) -> Claim:
    """Insert a step already claimed by this worker, with its outbound message row.

    The text-back is sent by the job that decided it, straight after commit: no second trip
    through the queue. Should this worker die first, the lease runs out and the sweeper
    hands the step to another, which looks for the text at the provider before sending.
    """
    sender_name, lease = sender[0], sender[1]
    conn = s.connection()
    step_id = conn.execute(steps_table.insert(), {
        "sub_account_id": step.sub_account_id, "recovery_id": step.recovery_id, "kind": step.kind,
        "idempotency_key": step.idempotency_key, "payload": step.payload, "status": "running", "due_at": step.due_at,
        "expires_at": step.expires_at, "lease_until": now + lease, "attempts": 1, "created_at": now,
    }).inserted_primary_key[0]
    msg = _new_message(step, sender_name, now)
    msg_id = conn.execute(messages_table.insert(), {c.key: getattr(msg, c.key) for c in messages_table.columns if c.key != "id"}
                          ).inserted_primary_key[0]
    return Claim(step_id, msg_id, step.payload | {"recovery_id": step.recovery_id, "kind": step.kind,
                                                  "sub_account_id": step.sub_account_id}, 1, False, now)


def _new_message(step: Step, sender_name: str, now: datetime) -> Message:
    p = step.payload
    seg = templates.segments(p["body"])
    return Message(sub_account_id=step.sub_account_id, recovery_id=step.recovery_id, direction="outbound",
                   to_number=p["to"], from_number=p["from"], body=p["body"], provider=sender_name,
                   status="pending", idempotency_key=step.idempotency_key, segments=seg.count,
                   encoding=seg.encoding, created_at=now, updated_at=now)


def run_step(rt, step_id: int, now: datetime | None = None) -> Outcome:
    """Claim a due (or abandoned) step and send its text: at most once, whatever crashed before."""
    now = now or utcnow()
    claim = claim_step(rt, step_id, now)
    return deliver(rt, claim, now) if isinstance(claim, Claim) else claim


def claim_step(rt, step_id: int, now: datetime | None = None) -> Claim | Outcome:
    """Take the lease on a due (or abandoned) step; an Outcome says why there is nothing to send."""
    now = now or utcnow()
    with transaction(rt.sessions) as s:
        claimed = s.execute(update(Step).where(
            Step.id == step_id,
            or_(and_(Step.status == "pending", Step.due_at <= now),
                and_(Step.status == "running", Step.lease_until < now)),
        ).values(status="running", lease_until=now + rt.lease, attempts=Step.attempts + 1))
        if claimed.rowcount != 1:
            return Outcome("step not due, already taken or finished")
        step = s.get(Step, step_id)
        p = step.payload
        if step.kind in sequence.TASK_KINDS:
            return run_task_step(s, step, now)
        if step.kind == sequence.FOLLOW_UP:
            sub = s.get(SubAccount, step.sub_account_id)
            why, later = sequence.follow_up_blocked(s, step, now, settings_store.pack_settings(s, sub), sub)
            if later is not None:  # quiet hours, a closed day or a holiday: deferred, never dropped
                step.status, step.due_at, step.lease_until, step.attempts = "pending", later, None, step.attempts - 1
                return Outcome(f"deferred to {later.isoformat()}", retry_in=(later - now).total_seconds())
            if why:
                finish(step, "cancelled", now, why)
                return Outcome(why)
        if step.expires_at is not None and now > step.expires_at:
            finish(step, "expired", now, "too late to send: the caller would get it long after the call")
            mark_message(s, step, "expired")
            return Outcome(step.last_error)
        if step.kind in STOPPED_STEP_KINDS and opted_out(s, step.sub_account_id, p["to"]):
            finish(step, "cancelled", now, "caller opted out")
            return Outcome("caller opted out")
        msg = s.scalar(select(Message).where(Message.idempotency_key == step.idempotency_key))
        if msg is not None and msg.provider_sid:
            finish(step, "done", now)
            return Outcome("already sent")
        reconcile = msg is not None and msg.status == "pending"
        if msg is None:
            msg = _new_message(step, p.get("via") or rt.sender.name, now)
            s.add(msg)
            s.flush()
        msg.status = "pending"
        return Claim(step.id, msg.id, p | {"recovery_id": step.recovery_id, "sub_account_id": step.sub_account_id,
                                           "kind": step.kind},
                     step.attempts, reconcile, msg.created_at)


def deliver(rt, claim: Claim, now: datetime | None = None, crms=None) -> Outcome:
    """Send a claimed step's text and record the result (the only place a text leaves)."""
    now = now or utcnow()
    p = claim.payload
    used = []

    def send(sender):
        used.append(sender.name)  # the account or channel that really sent it, for the record
        result = None
        if claim.reconcile:
            result = sender.find_sent(to=p["to"], from_=p["from"], body=p["body"],
                                      since=claim.since - timedelta(minutes=5))
        if result is None:
            result = sender.send(to=p["to"], from_=p["from"], body=p["body"],
                                 status_callback=rt.status_callback_url() if sender.reports_by_callback else None,
                                 validity_seconds=p.get("validity_seconds"))
        return result

    try:
        result = senders.send_with(rt, p, send, crms)
    except SendError as err:
        return _send_failed(rt, claim.step_id, claim.message_id, err, claim.attempts, now)
    if p.get("kind") == "text_back" and p.get("heard_at"):
        metrics.TEXTBACK.labels(p.get("source") or "unknown").observe(
            max((utcnow() - datetime.fromisoformat(p["heard_at"])).total_seconds(), 0.0))
    to_crm = bool(p.get("crm") and p.get("recovery_id") and p.get("kind") != "staff_alert")
    at_once = rt.engine.dialect.name == "postgresql"  # the bookkeeping as one statement
    with (rt.autocommit_engine if at_once and not to_crm else rt.engine).begin() as conn:
        moved = _record_sent(conn, at_once, claim, p, result, used[-1] if used else rt.sender.name, now)
        syncs = []
        if to_crm:
            note = {"text_back": f"Ringback texted {p['to']} back after a missed call: {p['body']}",
                    sequence.FOLLOW_UP: f"Ringback followed up with {p['to']} (touch {p.get('touch')}): {p['body']}",
                    }.get(p.get("kind"), f"Ringback answered {p['to']}: {p['body']}")
            ops = sync.text_ops(p["crm"], note=note,
                                direction="outbound", body=p["body"], config=rt.config,
                                in_crm_inbox=p.get("via") == p["crm"])
            if moved:
                ops.insert(0, ("stage", {"stage": "texted_back"}))
                if registry.crm(p["crm"]).has_workflow_triggers:
                    ops += actions.trigger_ops(conn, p["sub_account_id"], "missed_call_texted_back", {
                        "phone": p["to"], "message": p["body"], "recoveryId": p["recovery_id"]})
            sync.add(conn, sub_account_id=p["sub_account_id"], recovery_id=p["recovery_id"], provider=p["crm"],
                     ops=ops, now=now)
            syncs = [p["recovery_id"]]
    if p.get("kind") == sequence.FOLLOW_UP and p.get("touch") == 2:
        with transaction(rt.sessions) as s:
            rec, sub = s.get(Recovery, p["recovery_id"]), s.get(SubAccount, p["sub_account_id"])
            link = sequence.tracked_link(rt.config.public_url, rec.link_token)
            sequence.schedule_touch_3(s, sub, settings_store.pack_settings(s, sub), rec, p, link, now)
    return Outcome(f"sent {result.sid} ({result.status})", syncs=syncs)


def _record_sent(conn, at_once: bool, claim: Claim, p: dict, result, provider: str, now: datetime) -> bool:
    """The text's sid and status, its step done, its recovery touched; True when this text-back
    moved the recovery to texted (first text)."""
    touch = p.get("kind") in ("text_back", sequence.FOLLOW_UP) and p.get("recovery_id")
    text_back = p.get("kind") == "text_back"
    if at_once:
        texted_at = conn.execute(SENT_ALL_AT_ONCE, {
            "_message": claim.message_id, "provider_sid": result.sid, "status": result.status, "provider": provider,
            "_updated_at": now, "_step": claim.step_id, "_finished_at": now,
            "_recovery": p["recovery_id"] if touch else None, "_text_back": text_back, "_now": now,
        }).scalar_one_or_none()
        return bool(touch and text_back and texted_at == now)
    conn.execute(SENT_MESSAGE, {"_id": claim.message_id, "provider_sid": result.sid, "status": result.status,
                                "updated_at": now, "provider": provider})
    conn.execute(DONE_STEP, {"_id": claim.step_id, "status": "done", "finished_at": now, "lease_until": None})
    if not touch:
        return False
    texted_at = conn.execute(SENT_TO_RECOVERY, {"_id": p["recovery_id"], "_now": now,
                                                "_text_back": text_back}).scalar_one_or_none()
    return text_back and texted_at == now


def _send_failed(rt, step_id: int, msg_id: int, err: SendError, attempts: int, now: datetime) -> Outcome:
    with transaction(rt.sessions) as s:
        msg, step = s.get(Message, msg_id), s.get(Step, step_id)
        step.last_error = str(err)
        if err.retryable and attempts < MAX_SEND_ATTEMPTS:
            delay = max(min(2 ** (attempts - 1), 30), getattr(err, "retry_after", None) or 0)
            step.status, step.due_at, step.lease_until = "pending", now + timedelta(seconds=delay), None
            msg.status = "pending" if err.maybe_sent else "retrying"
            log.warning("send for step %s failed (%s); retry %s in %ss", step_id, err, attempts, delay)
            return Outcome(f"retrying in {delay}s: {err}", retry_in=delay)
        msg.status, msg.error_code, msg.error_message = "failed", err.code, str(err)
        finish(step, "failed", now, str(err))
        syncs = []
        if err.opted_out:
            record_opt_out(s, msg.sub_account_id, msg.to_number, f"twilio_{err.code}", now)
        if step.kind == "text_back" and step.recovery_id:
            sequence.cancel_follow_ups(s, step.recovery_id, "the text-back could not be sent", now)
        if not err.opted_out and step.kind == "text_back" and step.payload.get("crm") and step.recovery_id:
            # The caller was not texted: a person should call them.
            sync.add(s, sub_account_id=step.sub_account_id, recovery_id=step.recovery_id, provider=step.payload["crm"],
                     now=now, ops=[call_back_task(msg.to_number, f"the text back could not be sent: {err}", now)])
            syncs = [step.recovery_id]
        log.error("send for step %s failed for good: %s", step_id, err)
        return Outcome(f"failed: {err}", syncs=syncs)


def call_back_task(caller: str, why: str, now: datetime) -> tuple[str, dict]:
    """A CRM task asking a person to call the caller, due now."""
    return ("task", {"title": f"Call {caller} back: {why}"[:250], "due": now.isoformat()})


def finish(step: Step, status: str, now: datetime, error: str | None = None) -> None:
    step.status, step.finished_at, step.lease_until = status, now, None
    if error:
        step.last_error = error


def mark_message(s: Session, step: Step, status: str) -> None:
    msg = s.scalar(select(Message).where(Message.idempotency_key == step.idempotency_key))
    if msg is not None and not msg.provider_sid:
        msg.status = status
