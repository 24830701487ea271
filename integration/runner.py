"""Carrying out what workflows decide, durably. Every job of the worker lands here.

The pattern for every event: lock the inbox row, load state and settings, ask a pure
function in ``workflows`` what to do, and write the outcome in the same transaction: a text to
send is a step row, inserted already claimed (leased) by this worker with its message row, and
sent by ``deliver`` right after commit. Steps that are retried or fall due later are claimed by
``run_step``. Either way a worker killed at any point leaves rows the sweeper re-claims.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.base import CrmError, SendError
from connectors.twilio.client import OPTED_OUT_CODES
from workflows import replies, templates
from workflows.decide import CallerState, classify_call, decide_reply, decide_text_back
from workflows.events import AppEvent, BookingEvent, CallEvent, CrmText, DeliveryUpdate, InboundSms
from workflows.phones import UnusableNumber, to_e164
from workflows.stages import UnmappedStages
from workflows.stages import match as stages_match
from workflows.statuses import call_rank, message_advances, recovery_advances

from . import actions, crm_reads, lifecycle, senders, sequence, settings_store, sync
from .db import transaction
from .models import InboxEvent, Message, OptOut, Recovery, Step, SubAccount, utcnow
from .providers import parse_stored
from .statements import (CALLER_STATE, DONE_STEP, FINISH_EVENT, JOIN_RECOVERY, SELECT_CALL, SELECT_EVENT,
                         SELECT_OPEN_RECOVERY, SELECT_SUB, SENT_MESSAGE, TEXTED_RECOVERY, TOUCHED_RECOVERY, UPDATE_CALL,
                         UPDATE_RECOVERY, calls_table, messages_table, recoveries_table, steps_table)
from .settings_store import text_back_settings

log = logging.getLogger("ringback.runner")

MAX_SEND_ATTEMPTS = 6
EVENT_RETRY_WINDOW = timedelta(minutes=10)
# Every way an event is tried again is bounded: then it rests, done ("gave up") or failed with
# its reason, for `ringback events list --failed` and `ringback events retry`.
NOT_YET_ATTEMPTS = 10  # a report about a text not recorded yet: 0.2 s doubling, about 100 s in all
VENDOR_ATTEMPTS = 12  # a vendor asked first is down or throttling: 5 s doubling up to 10 min, ~50 min
FAILED_ATTEMPTS = 5  # an unexpected error: 2, 4, 8, 16 s, so a poison event fails within a minute
STOPPED_STEP_KINDS = {"text_back", "follow_up"}
CRM_TEXT_STATUSES = {"delivered", "undelivered", "failed", "read"}  # written to the CRM's field  # kinds never sent to a number that opted out meanwhile


class _Incomplete(Exception):
    def __init__(self, sub_account_id: int, event):
        super().__init__(type(event).__name__)
        self.sub_account_id, self.event = sub_account_id, event


@dataclass(frozen=True)
class _Done:
    """Work done outside the transaction (a marketplace install): only its summary is recorded."""

    summary: str


class NotYet(Exception):
    """The event refers to something not recorded yet (a status callback racing its send).
    After ``window`` it is given up: it was about something that is not Ringback's."""

    def __init__(self, message: str, window: timedelta = EVENT_RETRY_WINDOW):
        super().__init__(message)
        self.window = window


@dataclass(frozen=True)
class Claim:
    """A step this worker holds the lease on, with everything needed to send it."""

    step_id: int
    message_id: int
    payload: dict
    attempts: int
    reconcile: bool  # an earlier attempt may have reached the provider: look before sending
    since: datetime


@dataclass
class Outcome:
    summary: str
    claims: list[Claim] = field(default_factory=list)  # steps claimed in this transaction: send now
    retry_in: float | None = None
    syncs: list[int] = field(default_factory=list)  # recoveries with CRM writes to apply
    # An event's attempts when its retry was scheduled: the retry runs only if nothing ran since.
    event_attempts: int | None = None


# ---------------------------------------------------------------- events

def process_event(rt, event_id: int, now: datetime | None = None, expected_attempts: int | None = None) -> Outcome:
    """Apply one stored webhook. Safe to run twice, concurrently or after a crash.

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
                event = completed or parse_stored(ev.provider, ev.kind, ev.payload)
                if completed is None and (crm_reads.incomplete(event) or isinstance(event, AppEvent)):
                    raise _Incomplete(ev.sub_account_id, event)
                outcome = _dispatch(s, rt, ev, event, now)
                conn.execute(FINISH_EVENT, {"_id": event_id, "status": "done", "result": outcome.summary,
                                            "processed_at": now})
            return outcome
        except _Incomplete as need:
            # Ask the vendor outside any transaction (a call's details, a contact's number),
            # then decide with the answer.
            try:
                if isinstance(need.event, AppEvent):  # installs and uninstalls talk to the vendor
                    completed = _Done(lifecycle.apply(rt, need.event))
                else:
                    completed = crm_reads.complete(rt, need.sub_account_id, need.event)
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
    if isinstance(event, _Done):
        return Outcome(event.summary)
    if isinstance(event, crm_reads.Unresolved):
        return Outcome(event.reason)
    return Outcome(f"stored; {type(event).__name__} is not acted on")


def handle_call(s: Session, ev, call: CallEvent, now: datetime, sender: tuple[str, timedelta, str]) -> Outcome:
    """A call status report. The hot path of Ringback, so written as plain statements (Core):
    the ORM's unit of work cost more than everything else a missed call needs, together.
    """
    conn = s.connection()
    sub = conn.execute(SELECT_SUB, {"_id": ev.sub_account_id}).one()
    rows = settings_store.workflow_rows(s, sub)  # one query for the text back's and the pack's settings
    settings = text_back_settings(s, sub, rows)
    row = conn.execute(SELECT_CALL, {"_provider": call.provider, "_call_id": call.call_id}).one_or_none()
    if row is not None and row.decided_at is not None:
        return Outcome(f"call already decided ({row.outcome}); {call.status} ignored")
    if row is not None and call.dial_status is None and call_rank(call.status) < row.status_rank:
        return Outcome(f"older status {call.status} after {row.status}: ignored")
    values = {"status": call.status, "status_rank": call_rank(call.status)}
    if row is not None and call_rank(call.status) < row.status_rank:  # a <Dial> report during the call
        values = {}
    if call.duration_seconds is not None:
        values["duration_seconds"] = call.duration_seconds
    verdict = classify_call(call, settings)
    summary, claims, syncs = verdict.reason, [], []
    if verdict.final:
        values.update(missed=verdict.missed, reason=verdict.reason, decided_at=now)
        if not verdict.missed:
            values["outcome"] = "answered" if "answered" in verdict.reason else "not_missed"
            summary = f"not missed: {verdict.reason}"
        else:
            summary, claim = _missed_call(s, sub, settings, call, verdict.reason, values, now, sender,
                                          heard_at=getattr(ev, "received_at", None) or now, rows=rows)
            claims = [claim] if claim else []
            if claim and claim.payload.get("crm"):
                syncs = [values["recovery_id"]]
    if row is None:
        conn.execute(calls_table.insert(), {
            "sub_account_id": sub.id, "provider": call.provider, "call_id": call.call_id, "caller": call.caller[:40],
            "called": call.called[:40], "started_at": now, "status": call.status, "status_rank": call_rank(call.status),
        } | values)
    elif values:
        conn.execute(UPDATE_CALL, {"_id": row.id} | values)
    return Outcome(summary, claims=claims, syncs=syncs)


def _missed_call(s: Session, sub, settings, call: CallEvent, why: str, values: dict, now: datetime,
                 sender: tuple[str, timedelta, str], heard_at: datetime | None = None,
                 rows: list | None = None) -> tuple[str, Claim | None]:
    """Decide and record what a missed call leads to; ``values`` collects the call row's outcome."""
    try:
        caller = to_e164(call.caller, settings.default_region)
    except UnusableNumber as exc:
        problem = str(exc)
        if not call.caller and call.contact_ref:
            problem = f"the event names only contact {call.contact_ref}, not the caller's number"
            if call.lookup_error:
                problem += f", and {call.provider} could not say it: {call.lookup_error}"
        values.update(outcome="unusable_number", reason=f"{why}; {problem}")
        return f"missed, not texted: {problem}", None
    values["caller"] = caller
    # A Twilio call texts back from the number that was called; a CRM's call from the
    # sub-account's own sending number. Through GoHighLevel's conversations the location's
    # own number is the default, so none is needed.
    via_ghl = settings.send_via == "ghl" and sub.provider == "ghl"
    from_number = sub.phone_number
    if call.provider == "twilio":
        try:
            from_number = to_e164(call.called, settings.default_region)
        except UnusableNumber:
            pass
    if via_ghl:
        from_number = from_number or ""
    elif not from_number:
        values.update(outcome="no_sender", reason=f"{why}; the sub-account has no number to text from")
        return "missed, not texted: the sub-account has no number to text from", None
    key = f"{sub.id}:{caller}"
    conn = s.connection()
    open_rec = conn.execute(SELECT_OPEN_RECOVERY, {"_key": key}).one_or_none()
    opted_out, texted_before = conn.execute(CALLER_STATE, {"_sub": sub.id, "_phone": caller}).one()
    state = CallerState(opted_out=bool(opted_out), open_recovery_id=open_rec.id if open_rec else None,
                        open_recovery_opened_at=open_rec.opened_at if open_rec else None,
                        first_text_already_sent=bool(texted_before))
    # The booking link in every text of this recovery is its own tracked link (/b/<token>).
    token = sequence.new_link_token() if settings.booking_link else None
    link = sequence.tracked_link(sender[2], token)
    decision = decide_text_back(caller, state, settings.with_overrides(booking_link=link) if token else settings, now)
    values["reason"] = f"{why}; {decision.reason}"
    if decision.action == "suppress":
        values["outcome"] = "suppressed"
        return f"missed, not texted: {decision.reason}", None
    if decision.action == "join":
        conn.execute(JOIN_RECOVERY, {"_id": open_rec.id})
        values.update(outcome="joined", recovery_id=open_rec.id)
        return f"missed, joined recovery {open_rec.id}: {decision.reason}", None
    if open_rec is not None:  # older than the dedupe window: a new recovery takes the key
        conn.execute(UPDATE_RECOVERY, {"_id": open_rec.id, "open_key": None})
    rec_id = conn.execute(recoveries_table.insert(), {
        "sub_account_id": sub.id, "caller": caller, "state": "missed", "open_key": key,
        "opened_at": min(heard_at or now, now),  # when the missed call was heard: the report's clock starts
        "calls_count": 1, "crm_refs": {}, "link_token": token, "link_clicks": 0, "touches": 0,
    }).inserted_primary_key[0]
    crm = sub.provider if sub.provider in sync.CRM_PROVIDERS else None
    if crm:
        sync.add(conn, sub_account_id=sub.id, recovery_id=rec_id, provider=crm, now=now, ops=[
            ("contact", {"phone": caller}),
            ("deal", {"name": f"Missed call from {caller}", "stage": "missed_call"}),
        ])
    seg = templates.segments(decision.body)
    step = Step(sub_account_id=sub.id, recovery_id=rec_id, kind="text_back",
                idempotency_key=f"recovery:{rec_id}:touch:1", due_at=now,
                expires_at=now + timedelta(seconds=settings.validity_seconds),
                payload={"to": caller, "from": from_number, "body": decision.body, "template": decision.template,
                         "segments": seg.count, "encoding": seg.encoding, "validity_seconds": settings.validity_seconds,
                         "crm": crm})
    if via_ghl:
        step.payload.update(via="ghl", contact_id=call.contact_ref if call.provider == "ghl" else None)
        sender = ("ghl", sender[1], sender[2])
    claim = _claim_new(s, step, sender, now)
    # The rest of the sequence, as steps: follow-ups, the escalation check, the lost check.
    sequence.schedule_after_text_back(conn, sub, settings_store.pack_settings(s, sub, rows), rec_id,
                                      dict(step.payload), link, now)
    values.update(outcome="texted", recovery_id=rec_id)
    return f"missed ({why}): texting back ({decision.template})", claim


CLASSIFIER: replies.Classifier = replies.RuleClassifier()  # a language model can stand in here


def handle_sms(s: Session, rt, ev: InboxEvent, sms: InboundSms, now: datetime) -> Outcome:
    sub = s.get(SubAccount, ev.sub_account_id)
    try:
        sender = to_e164(sms.sender, sub.default_region)
    except UnusableNumber as exc:
        return Outcome(f"reply from an unusable number ignored: {exc}")
    key = f"{sub.id}:{sender}"
    rec = s.scalar(select(Recovery).where(Recovery.open_key == key).with_for_update())
    seg = templates.segments(sms.body)
    inbound = Message(sub_account_id=sub.id, recovery_id=rec.id if rec else None, direction="inbound",
                      to_number=sms.recipient, from_number=sender, body=sms.body, provider=sms.provider,
                      provider_sid=sms.message_id, status="received", segments=seg.count, encoding=seg.encoding)
    s.add(inbound)
    decision = decide_reply(sms, business_name=sub.name, business_phone=sub.phone_number)
    pack = settings_store.pack_settings(s, sub)
    intent = None
    if decision.action == "reply" and pack.replies.enabled:
        intent = CLASSIFIER.classify(sms.body, pack.replies.urgent_words)
        inbound.intent = intent.name
    summary, crm_ops, answer, alerts = "reply recorded", [], decision.answer, []
    if decision.action == "opt_out" or (intent is not None and intent.name == "opt_out"):
        _record_opt_out(s, sub.id, sender, "keyword" if decision.action == "opt_out" else "reply", now)
        summary = "opted out"
        if intent is not None:  # "please stop texting me": confirmed once, never texted again
            answer = f"You're unsubscribed from {sub.name} texts and won't get more."
    elif decision.action == "opt_in":
        s.execute(delete(OptOut).where(OptOut.sub_account_id == sub.id, OptOut.phone == sender))
        summary = "opted back in"
    elif decision.action == "help":
        summary = "help requested"
    elif rec is not None:
        # Any reply stops the follow-ups at once.
        sequence.cancel_follow_ups(s, rec.id, "the caller replied", now)
        if recovery_advances(rec.state, "replied"):
            rec.state, rec.replied_at = "replied", now
            crm_ops.append(("stage", {"stage": "replied"}))
            crm_ops += actions.trigger_ops(s, sub.id, "caller_replied", {"phone": sender, "message": sms.body,
                                                                         "recoveryId": rec.id})
        summary = f"reply recorded; recovery {rec.id} {rec.state}"
        if intent is not None:
            action = replies.route(intent, pack.replies, business_name=sub.name, caller=sender,
                                   booking_link=sequence.tracked_link(rt.config.public_url, rec.link_token))
            summary += f"; {intent.name}" + (f" ({intent.matched})" if intent.matched else "")
            answer = action.answer
            if action.close:  # wrong number: the recovery ends here
                rec.state, rec.open_key, rec.closed_at = action.state, None, now
                crm_ops.append(("stage", {"stage": "lost"}))
            if action.task:
                conversation = _conversation(s, rec.id, sms.body)
                crm_ops.append(("task", {"title": action.task[:250], "due": now.isoformat(), "body": conversation}))
            if action.alert_staff:
                alerts = _staff_alerts(s, sub, pack, rec, sender, sms, now)
    if rec is not None and sub.provider in sync.CRM_PROVIDERS:
        crm_ops += sync.text_ops(sub.provider, note=f"{sender} replied to Ringback's text: {sms.body}",
                                 direction="inbound", body=sms.body, config=rt.config,
                                 in_crm_inbox=sms.provider == sub.provider)
        sync.add(s, sub_account_id=sub.id, recovery_id=rec.id, provider=sub.provider, ops=crm_ops, now=now)
    claims = [_claim_new(s, step, (rt.sender.name, rt.lease), now) for step in alerts]
    # Answers go back the way the text came: Twilio, or the GoHighLevel conversation.
    # (A CRM's own inbox answers STOP itself, e.g. GoHighLevel's DND; Ringback records the opt-out.)
    if answer and sms.provider in ("twilio", "ghl") and (sms.provider == "twilio" or intent is not None):
        step = Step(sub_account_id=sub.id, recovery_id=rec.id if rec else None, kind="reply_answer",
                    idempotency_key=f"answer:{sms.provider}:{sms.message_id}", due_at=now,
                    expires_at=now + timedelta(minutes=10),
                    payload={"to": sender, "from": sms.recipient or sub.phone_number or "", "body": answer,
                             "crm": sub.provider if rec is not None and sub.provider in sync.CRM_PROVIDERS else None})
        via = ("ghl", rt.lease) if sms.provider == "ghl" else (rt.sender.name, rt.lease)
        if sms.provider == "ghl":
            step.payload.update(via="ghl", contact_id=sms.contact_ref)
        claims.append(_claim_new(s, step, via, now))
    return Outcome(summary, claims=claims, syncs=[rec.id] if crm_ops else [])


def _conversation(s: Session, rec_id: int, latest: str) -> str:
    """The texts of a recovery so far, oldest first, for a person picking it up."""
    rows = s.execute(select(Message.direction, Message.body).where(Message.recovery_id == rec_id)
                     .order_by(Message.id)).all()
    lines = [f"{'Caller' if d == 'inbound' else 'Ringback'}: {b}" for d, b in rows]
    if not rows or rows[-1].body != latest:
        lines.append(f"Caller: {latest}")
    return "\n".join(lines[-10:])


def _staff_alerts(s: Session, sub, pack, rec: Recovery, caller: str, sms: InboundSms, now: datetime) -> list[Step]:
    """Texts to the on-call numbers, now: who needs help and what they wrote (one per number
    per reply, whatever retries the reply's webhook sees)."""
    body = sms.body
    esc = pack.escalation
    if not (esc.enabled and esc.on_call_numbers and sub.phone_number):
        return []
    alert = templates.render(esc.alert_template, business_name=sub.name, first_name=None, booking_link=None,
                             first_in_conversation=False)
    text = f"{alert} {caller} wrote: \"{body[:300]}\" Call them now."
    return [Step(sub_account_id=sub.id, recovery_id=rec.id, kind="staff_alert",
                 idempotency_key=f"alert:{sms.provider}:{sms.message_id}:{number}", due_at=now,
                 expires_at=now + timedelta(hours=1), payload={"to": number, "from": sub.phone_number, "body": text})
            for number in esc.on_call_numbers]


def handle_delivery(s: Session, upd: DeliveryUpdate, now: datetime) -> Outcome:
    msg = s.scalar(select(Message).where(Message.provider_sid == upd.message_id).with_for_update())
    if msg is None:
        # Twilio reports only Ringback's own texts. A CRM reports every text sent through its
        # API, other apps' too: one not recorded within a minute is not Ringback's.
        raise NotYet(f"no message {upd.message_id} recorded yet",
                     EVENT_RETRY_WINDOW if upd.provider == "twilio" else timedelta(minutes=1))
    if upd.error_code in OPTED_OUT_CODES:
        _record_opt_out(s, msg.sub_account_id, msg.to_number, f"twilio_{upd.error_code}", now)
    if not message_advances(msg.status, upd.status):
        return Outcome(f"status {upd.status} after {msg.status}: ignored")
    msg.status = upd.status
    if upd.error_code:
        msg.error_code = upd.error_code
    syncs = []
    if upd.status in CRM_TEXT_STATUSES and msg.recovery_id and (msg.idempotency_key or "").startswith("recovery:"):
        sub = s.get(SubAccount, msg.sub_account_id)
        if sub.provider in sync.CRM_PROVIDERS:
            status = upd.status + (f" ({upd.error_code})" if upd.error_code else "")
            ops = [("text_status", {"status": status})]
            if upd.status in ("undelivered", "failed") and upd.error_code not in OPTED_OUT_CODES:
                ops.append(_call_back_task(msg.to_number, f"the text back did not reach them ({status})", now))
            sync.add(s, sub_account_id=sub.id, recovery_id=msg.recovery_id, provider=sub.provider, now=now, ops=ops)
            syncs = [msg.recovery_id]
    return Outcome(f"message {msg.id} {upd.status}", syncs=syncs)


DOUBLE_TEXT_WINDOW = timedelta(minutes=2)
CRM_TEXT_STATUS = "sent_by_crm"  # a text the CRM itself sent a caller Ringback had just texted


def handle_crm_text(s: Session, ev, text: CrmText, now: datetime) -> Outcome:
    """A text the CRM sent, not by a person, within two minutes of Ringback's text-back to the
    same contact: most likely the CRM's own missed-call text back, so the caller got two texts.
    Recorded (the settings page warns); a person's own texts are not Ringback's business."""
    if text.by_person or not text.contact_ref:
        return Outcome("a person's text: not Ringback's")
    rec = s.scalar(select(Recovery).where(Recovery.sub_account_id == ev.sub_account_id,
                                          Recovery.crm_refs["contact_id"].as_string() == text.contact_ref,
                                          Recovery.texted_at >= now - DOUBLE_TEXT_WINDOW).limit(1))
    if rec is None:
        return Outcome("a text of the CRM's own, not near a Ringback text-back")
    seg = templates.segments(text.body or "")
    s.add(Message(sub_account_id=ev.sub_account_id, recovery_id=rec.id, direction="outbound", to_number=rec.caller,
                  from_number="", body=text.body or "", provider=text.provider, provider_sid=f"crm:{text.message_id}",
                  status=CRM_TEXT_STATUS, segments=seg.count, encoding=seg.encoding,
                  error_message=f"sent by {text.provider} itself ({text.source or 'no source'}), not by Ringback"))
    log.warning("sub-account %s: %s texted caller %s too (its own missed-call text back?)", ev.sub_account_id,
                text.provider, rec.caller)
    return Outcome(f"double text: {text.provider} also texted the caller of recovery {rec.id}")


BOOKABLE_STATES = ("missed", "texted", "replied")
BOOKING_MATCH_WINDOW = timedelta(days=30)


def _lost_in_crm(s: Session, sub: SubAccount, booking: BookingEvent, now: datetime) -> Outcome:
    """A person moved Ringback's deal or opportunity to a lost stage: the recovery is lost (its
    scheduled texts cancelled); the CRM is already where the person put it, so only a note is added."""
    rec = s.scalar(select(Recovery).where(Recovery.sub_account_id == sub.id, Recovery.state.in_(BOOKABLE_STATES),
                                          Recovery.crm_refs["deal_id"].as_string() == booking.deal_ref)
                   .order_by(Recovery.opened_at.desc()).limit(1).with_for_update())
    if rec is None:
        return Outcome("lost stage on a deal that is not an open recovery of Ringback's")
    rec.state, rec.open_key, rec.closed_at = "lost", None, now
    s.execute(update(Step).where(Step.recovery_id == rec.id, Step.status == "pending")
              .values(status="cancelled", last_error="marked lost in the CRM", finished_at=now))
    syncs = []
    if sub.provider in sync.CRM_PROVIDERS:
        sync.add(s, sub_account_id=sub.id, recovery_id=rec.id, provider=sub.provider, now=now,
                 ops=[("note", {"body": f"{rec.caller} marked lost in {booking.provider} ({booking.stage}): Ringback "
                                        "stopped texting them."})])
        syncs = [rec.id]
    return Outcome(f"recovery {rec.id} lost: moved to {booking.stage} in the CRM", syncs=syncs)


def handle_booking(s: Session, ev, booking: BookingEvent, now: datetime) -> Outcome:
    """A booking matched to the caller's recovery closes it as booked: the deal moves to Booked
    with its value, scheduled texts are cancelled, and workflows subscribed to "Caller booked" fire."""
    sub = s.get(SubAccount, ev.sub_account_id)
    is_booking = booking.is_booking
    if is_booking is None:  # a stage name (Salesforce): the sub-account's mapping, or the name, says
        overrides = settings_store.stage_mapping(s, sub)
        try:
            stages_match({booking.stage: booking.stage}, overrides.get("opportunity") or overrides.get("stages"),
                         needed=("booked",))
            is_booking = True
        except UnmappedStages:
            is_booking = False
    if not is_booking:
        lost = booking.is_lost
        if not lost and booking.is_booking is None and booking.deal_ref:  # a stage name: mapped to Lost?
            try:
                stages_match({booking.stage: booking.stage}, overrides.get("opportunity") or overrides.get("stages"),
                             needed=("lost",))
                lost = True
            except UnmappedStages:
                pass
        if lost and booking.deal_ref:
            return _lost_in_crm(s, sub, booking, now)
        return Outcome(f"not a booking ({booking.stage or booking.status})")
    where = [Recovery.sub_account_id == sub.id, Recovery.state.in_(BOOKABLE_STATES),
             Recovery.opened_at >= now - BOOKING_MATCH_WINDOW]
    if booking.deal_ref:
        where.append(Recovery.crm_refs["deal_id"].as_string() == booking.deal_ref)
    elif booking.contact_ref:
        where.append(Recovery.crm_refs["contact_id"].as_string() == booking.contact_ref)
    elif booking.phone:
        try:
            where.append(Recovery.caller == to_e164(booking.phone, sub.default_region))
        except UnusableNumber as exc:
            return Outcome(f"booking not matched: {exc}")
    else:
        return Outcome("booking names no caller, contact or deal")
    rec = s.scalar(select(Recovery).where(*where).order_by(Recovery.opened_at.desc()).limit(1).with_for_update())
    if rec is None:
        return Outcome("booking not matched to a recovery Ringback is working on")
    value = booking.value
    if value is None:  # the sub-account's average job value stands in
        value = settings_store.pack_settings(s, sub).booking.average_job_value
    rec.state, rec.value, rec.closed_at, rec.booked_at = "booked", value, now, now
    rec.open_key = None
    s.execute(update(Step).where(Step.recovery_id == rec.id, Step.status == "pending")
              .values(status="cancelled", last_error="the caller booked", finished_at=now))
    syncs = []
    if sub.provider in sync.CRM_PROVIDERS:
        when = f" for {booking.starts_at.isoformat()}" if booking.starts_at else ""
        ops = [("stage", {"stage": "booked", "value": rec.value}),
               ("note", {"body": f"{rec.caller} booked{when} after Ringback's text ({booking.provider} "
                                 f"{booking.booking_id})."})]
        ops += actions.trigger_ops(s, sub.id, "caller_booked", {"phone": rec.caller, "recoveryId": rec.id,
                                                                "value": rec.value})
        sync.add(s, sub_account_id=sub.id, recovery_id=rec.id, provider=sub.provider, ops=ops, now=now)
        syncs = [rec.id]
    return Outcome(f"recovery {rec.id} booked", syncs=syncs)


def _run_task_step(s: Session, step: Step, now: datetime) -> Outcome:
    """A step that sends nothing: the escalation check, the lost check."""
    rec = s.get(Recovery, step.recovery_id, with_for_update=True)
    crm = (step.payload or {}).get("crm")
    if rec is None:
        _finish(step, "cancelled", now, "no recovery")
        return Outcome("no recovery")
    if step.kind == "escalate":
        if rec.state in ("booked", "lost") or rec.open_key is None:
            _finish(step, "done", now, f"nothing to escalate: recovery is {rec.state}")
            return Outcome(step.last_error)
        _finish(step, "done", now)
        if not crm:
            return Outcome("no booking yet; no CRM to give a task to")
        sync.add(s, sub_account_id=rec.sub_account_id, recovery_id=rec.id, provider=crm, now=now,
                 ops=[_call_back_task(rec.caller, "no booking yet since the missed call", now)])
        return Outcome(f"no booking yet: task for a person to call {rec.caller}", syncs=[rec.id])
    # mark_lost: a caller who never replied, after the days set
    if rec.state not in ("missed", "texted") or rec.open_key is None:
        _finish(step, "done", now, f"not lost: recovery is {rec.state}")
        return Outcome(step.last_error)
    rec.state, rec.open_key, rec.closed_at = "lost", None, now
    sequence.cancel_follow_ups(s, rec.id, "the recovery went lost", now)
    _finish(step, "done", now)
    if crm:
        sync.add(s, sub_account_id=rec.sub_account_id, recovery_id=rec.id, provider=crm, now=now,
                 ops=[("stage", {"stage": "lost"})])
    return Outcome(f"recovery {rec.id} lost: no reply", syncs=[rec.id] if crm else [])


# ---------------------------------------------------------------- steps

def _claim_new(s: Session, step: Step, sender: tuple[str, timedelta], now: datetime) -> Claim:
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
            return _run_task_step(s, step, now)
        if step.kind == sequence.FOLLOW_UP:
            sub = s.get(SubAccount, step.sub_account_id)
            why, later = sequence.follow_up_blocked(s, step, now, settings_store.pack_settings(s, sub), sub)
            if later is not None:  # quiet hours, a closed day or a holiday: deferred, never dropped
                step.status, step.due_at, step.lease_until, step.attempts = "pending", later, None, step.attempts - 1
                return Outcome(f"deferred to {later.isoformat()}", retry_in=(later - now).total_seconds())
            if why:
                _finish(step, "cancelled", now, why)
                return Outcome(why)
        if step.expires_at is not None and now > step.expires_at:
            _finish(step, "expired", now, "too late to send: the caller would get it long after the call")
            _mark_message(s, step, "expired")
            return Outcome(step.last_error)
        if step.kind in STOPPED_STEP_KINDS and _opted_out(s, step.sub_account_id, p["to"]):
            _finish(step, "cancelled", now, "caller opted out")
            return Outcome("caller opted out")
        msg = s.scalar(select(Message).where(Message.idempotency_key == step.idempotency_key))
        if msg is not None and msg.provider_sid:
            _finish(step, "done", now)
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


def deliver(rt, claim: Claim, now: datetime | None = None) -> Outcome:
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
                                 status_callback=rt.status_callback_url() if sender.name == "twilio" else None,
                                 validity_seconds=p.get("validity_seconds"))
        return result

    try:
        result = senders.send_with(rt, p, send)
    except SendError as err:
        return _send_failed(rt, claim.step_id, claim.message_id, err, claim.attempts, now)
    with rt.engine.begin() as conn:
        conn.execute(SENT_MESSAGE, {"_id": claim.message_id, "provider_sid": result.sid, "status": result.status,
                                    "updated_at": now, "provider": used[-1] if used else rt.sender.name})
        conn.execute(DONE_STEP, {"_id": claim.step_id, "status": "done", "finished_at": now, "lease_until": None})
        # A text-back moves its recovery forward (never backward) and stamps the first text.
        moved = conn.execute(TEXTED_RECOVERY, {"_step": claim.step_id, "_now": now}).rowcount
        if p.get("kind") in ("text_back", sequence.FOLLOW_UP) and p.get("recovery_id"):
            conn.execute(TOUCHED_RECOVERY, {"_id": p["recovery_id"]})
        syncs = []
        if p.get("crm") and p.get("recovery_id") and p.get("kind") != "staff_alert":
            note = {"text_back": f"Ringback texted {p['to']} back after a missed call: {p['body']}",
                    sequence.FOLLOW_UP: f"Ringback followed up with {p['to']} (touch {p.get('touch')}): {p['body']}",
                    }.get(p.get("kind"), f"Ringback answered {p['to']}: {p['body']}")
            ops = sync.text_ops(p["crm"], note=note,
                                direction="outbound", body=p["body"], config=rt.config,
                                in_crm_inbox=p.get("via") == p["crm"])
            if moved:
                ops.insert(0, ("stage", {"stage": "texted_back"}))
                if p["crm"] == "ghl":
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
        _finish(step, "failed", now, str(err))
        syncs = []
        if err.opted_out:
            _record_opt_out(s, msg.sub_account_id, msg.to_number, f"twilio_{err.code}", now)
        if step.kind == "text_back" and step.recovery_id:
            sequence.cancel_follow_ups(s, step.recovery_id, "the text-back could not be sent", now)
        if not err.opted_out and step.kind == "text_back" and step.payload.get("crm") and step.recovery_id:
            # The caller was not texted: a person should call them.
            sync.add(s, sub_account_id=step.sub_account_id, recovery_id=step.recovery_id, provider=step.payload["crm"],
                     now=now, ops=[_call_back_task(msg.to_number, f"the text back could not be sent: {err}", now)])
            syncs = [step.recovery_id]
        log.error("send for step %s failed for good: %s", step_id, err)
        return Outcome(f"failed: {err}", syncs=syncs)


def _call_back_task(caller: str, why: str, now: datetime) -> tuple[str, dict]:
    """A CRM task asking a person to call the caller, due now."""
    return ("task", {"title": f"Call {caller} back: {why}"[:250], "due": now.isoformat()})


def _finish(step: Step, status: str, now: datetime, error: str | None = None) -> None:
    step.status, step.finished_at, step.lease_until = status, now, None
    if error:
        step.last_error = error


def _mark_message(s: Session, step: Step, status: str) -> None:
    msg = s.scalar(select(Message).where(Message.idempotency_key == step.idempotency_key))
    if msg is not None and not msg.provider_sid:
        msg.status = status


def _opted_out(s: Session, sub_account_id: int, phone: str) -> bool:
    return bool(s.scalar(select(exists().where(OptOut.sub_account_id == sub_account_id, OptOut.phone == phone))))


def _record_opt_out(s: Session, sub_account_id: int | None, phone: str, source: str, now: datetime) -> None:
    """Never text ``phone`` from this sub-account again, whatever said so (STOP, Twilio's 21610):
    record it once, close the caller's open recovery, cancel the texts still scheduled."""
    if sub_account_id is None:
        return
    if not _opted_out(s, sub_account_id, phone):
        s.add(OptOut(sub_account_id=sub_account_id, phone=phone, source=source, created_at=now))
    rec = s.scalar(select(Recovery).where(Recovery.open_key == f"{sub_account_id}:{phone}"))
    if rec is not None:
        rec.open_key, rec.closed_at = None, now
    s.execute(update(Step).where(Step.sub_account_id == sub_account_id, Step.status == "pending",
                                 Step.kind.in_(STOPPED_STEP_KINDS), Step.payload["to"].as_string() == phone)
              .values(status="cancelled", last_error="caller opted out", finished_at=now))


# ---------------------------------------------------------------- sweeper

def due_work(rt, now: datetime | None = None, limit: int = 500) -> tuple[list[int], list[tuple[int, int]]]:
    """Steps that are due or whose lease ran out, and inbox events left pending (id, attempts): for re-queueing."""
    now = now or utcnow()
    with transaction(rt.sessions) as s:
        steps = s.scalars(select(Step.id).where(or_(
            and_(Step.status == "pending", Step.due_at <= now),
            and_(Step.status == "running", Step.lease_until < now),
        )).order_by(Step.due_at).limit(limit)).all()
        # Only events whose scheduled retry is long overdue (or that never had one): the retry of
        # a pending event is its chain's own; a second chain would multiply the work.
        events = s.execute(select(InboxEvent.id, InboxEvent.attempts).where(
            InboxEvent.status == "pending", InboxEvent.received_at < now - timedelta(seconds=30),
            or_(InboxEvent.next_attempt_at.is_(None), InboxEvent.next_attempt_at < now - timedelta(seconds=30)),
        ).order_by(InboxEvent.id).limit(limit)).all()
    return list(steps), [tuple(e) for e in events]
