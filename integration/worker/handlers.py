"""What each kind of event does: a call (missed or not), a caller's text, a delivery report, a text
the CRM itself sent. Each writes its outcome in the caller's transaction."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from connectors import registry
from connectors.twilio.client import OPTED_OUT_CODES
from workflows import replies, templates
from workflows.decide import CallerState, classify_call, decide_reply, decide_text_back, too_late_to_text
from workflows.events import CallEvent, CrmText, DeliveryUpdate, InboundSms
from workflows.phones import UnusableNumber, to_e164
from workflows.statuses import call_rank, message_advances, recovery_advances

from .. import actions, sequence, settings_store, sync
from ..models import CRM_TEXT_STATUS, InboxEvent, Message, OptOut, Recovery, Step, SubAccount
from ..statements import (CALLER_STATE, JOIN_RECOVERY, SELECT_CALL, SELECT_OPEN_RECOVERY, UPDATE_CALL,
                         UPDATE_RECOVERY, calls_table, recoveries_table)
from ..settings_store import crm_sends_texts, text_back_settings, texts_through_crm

from .optouts import record_opt_out
from .outcomes import CRM_TEXT_STATUSES, Claim, EVENT_RETRY_WINDOW, NotYet, Outcome
from .steps import call_back_task, claim_new

log = logging.getLogger("ringback.worker")


def handle_call(s: Session, ev, call: CallEvent, now: datetime, sender: tuple[str, timedelta, str]) -> Outcome:
    """A call status report. The hot path of Ringback, so written as plain statements (Core):
    the ORM's unit of work cost more than everything else a missed call needs, together.
    """
    conn = s.connection()
    sub, rows = settings_store.sub_with_workflows(s, ev.sub_account_id)  # the text back's and the pack's settings
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
            # Found by catch-up (its webhook lost) too long after it happened: a person calls back.
            late = getattr(ev, "found_by", None) == "catch_up" and too_late_to_text(call.occurred_at, now, settings)
            summary, claim = _missed_call(s, sub, settings, call, verdict.reason, values, now, sender,
                                          heard_at=getattr(ev, "received_at", None) or now, rows=rows, late=late)
            claims = [claim] if claim else []
            if (claim and claim.payload.get("crm")) or (values.get("outcome") == "late" and values.get("recovery_id")
                                                         and registry.crm(sub.provider) is not None):
                syncs = [values["recovery_id"]]
    if row is None:
        conn.execute(calls_table.insert(), {
            "sub_account_id": sub.id, "provider": call.provider, "call_id": call.call_id, "caller": call.caller[:40],
            "called": call.called[:40], "started_at": now, "status": call.status, "status_rank": call_rank(call.status),
        } | values)
    elif values:
        conn.execute(UPDATE_CALL, {"_id": row.id} | values)
    return Outcome(summary, claims=claims, syncs=syncs, decided=values.get("outcome"))


def _missed_call(s: Session, sub, settings, call: CallEvent, why: str, values: dict, now: datetime,
                 sender: tuple[str, timedelta, str], heard_at: datetime | None = None,
                 rows: list | None = None, late: bool = False) -> tuple[str, Claim | None]:
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
    if late:
        return _late_call(s, sub, settings, caller, why, values, now), None
    # A Twilio call texts back from the number that was called; a CRM's call from the
    # sub-account's own sending number. Through GoHighLevel's conversations the location's
    # own number is the default, so none is needed.
    via_ghl = texts_through_crm(sub, settings)
    from_number = sub.phone_number
    if registry.crm(call.provider) is None:  # a phone number's own call event (Twilio's)
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
    found = conn.execute(CALLER_STATE, {"_key": key, "_sub": sub.id, "_phone": caller}).one()
    open_rec = found if found.id is not None else None
    state = CallerState(opted_out=bool(found.opted_out), open_recovery_id=found.id,
                        open_recovery_opened_at=found.opened_at, first_text_already_sent=bool(found.texted_before))
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
                         "crm": crm, "source": call.provider,
                         "heard_at": (heard_at or now).isoformat()})  # for the text-back latency (metrics)
    if via_ghl:
        step.payload.update(via=sub.provider, contact_id=call.contact_ref if call.provider == sub.provider else None)
        sender = (sub.provider, sender[1], sender[2])
    claim = claim_new(s, step, sender, now)
    # The rest of the sequence, as steps: follow-ups, the escalation check, the lost check.
    sequence.schedule_after_text_back(conn, sub, settings_store.pack_settings(s, sub, rows), rec_id,
                                      dict(step.payload), link, now)
    values.update(outcome="texted", recovery_id=rec_id)
    return f"missed ({why}): texting back ({decision.template})", claim


def _late_call(s: Session, sub, settings, caller: str, why: str, values: dict, now: datetime) -> str:
    """A missed call found after the late-text window (its webhook lost in an outage): never a late
    text, but one CRM task per caller to call them back. Late calls of one caller share a recovery
    of their own (key ``<sub>:<caller>:late``), so a caller who calls again later is texted as usual."""
    conn = s.connection()
    key = f"{sub.id}:{caller}:late"
    found = conn.execute(SELECT_OPEN_RECOVERY, {"_key": key}).one_or_none()
    if found is not None and now - found.opened_at < timedelta(seconds=settings.dedupe_window_seconds):
        conn.execute(JOIN_RECOVERY, {"_id": found.id})
        values.update(outcome="late", recovery_id=found.id,
                      reason=f"{why}; found late, the caller's call-back task is already there")
        return f"missed, found late: joined recovery {found.id} (its call-back task is already there)"
    if found is not None:
        conn.execute(UPDATE_RECOVERY, {"_id": found.id, "open_key": None})
    rec_id = conn.execute(recoveries_table.insert(), {
        "sub_account_id": sub.id, "caller": caller, "state": "missed", "open_key": key, "opened_at": now,
        "calls_count": 1, "crm_refs": {}, "link_token": None, "link_clicks": 0, "touches": 0,
    }).inserted_primary_key[0]
    crm = registry.crm(sub.provider)
    if crm is not None:
        sync.add(conn, sub_account_id=sub.id, recovery_id=rec_id, provider=sub.provider, now=now, ops=[
            ("contact", {"phone": caller}),
            ("deal", {"name": f"Missed call from {caller}", "stage": "missed_call"}),
            call_back_task(caller, "missed during an outage, found too late to text", now),
        ])
    minutes = settings.late_text_seconds // 60
    values.update(outcome="late", recovery_id=rec_id,
                  reason=f"{why}; found more than {minutes} min after the call: a call back, not a late text")
    return (f"missed, found late: {'a call-back task in ' + crm.name if crm else 'to be called back'}, "
            "no late text")


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
        record_opt_out(s, sub.id, sender, "keyword" if decision.action == "opt_out" else "reply", now)
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
    claims = [claim_new(s, step, (rt.sender.name, rt.lease), now) for step in alerts]
    # Answers go back the way the text came: Twilio, or the GoHighLevel conversation.
    # (A CRM's own inbox answers STOP itself, e.g. GoHighLevel's DND; Ringback records the opt-out.)
    by_number, by_crm = registry.crm(sms.provider) is None, crm_sends_texts(sms.provider)
    if answer and (by_number or (by_crm and intent is not None)):
        step = Step(sub_account_id=sub.id, recovery_id=rec.id if rec else None, kind="reply_answer",
                    idempotency_key=f"answer:{sms.provider}:{sms.message_id}", due_at=now,
                    expires_at=now + timedelta(minutes=10),
                    payload={"to": sender, "from": sms.recipient or sub.phone_number or "", "body": answer,
                             "crm": sub.provider if rec is not None and sub.provider in sync.CRM_PROVIDERS else None})
        via = (sms.provider, rt.lease) if by_crm else (rt.sender.name, rt.lease)
        if by_crm:
            step.payload.update(via=sms.provider, contact_id=sms.contact_ref)
        claims.append(claim_new(s, step, via, now))
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
                     EVENT_RETRY_WINDOW if registry.crm(upd.provider) is None else timedelta(minutes=1))
    if upd.error_code in OPTED_OUT_CODES:
        record_opt_out(s, msg.sub_account_id, msg.to_number, f"twilio_{upd.error_code}", now)
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
                ops.append(call_back_task(msg.to_number, f"the text back did not reach them ({status})", now))
            sync.add(s, sub_account_id=sub.id, recovery_id=msg.recovery_id, provider=sub.provider, now=now, ops=ops)
            syncs = [msg.recovery_id]
    return Outcome(f"message {msg.id} {upd.status}", syncs=syncs)


DOUBLE_TEXT_WINDOW = timedelta(minutes=2)


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
