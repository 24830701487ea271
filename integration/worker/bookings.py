"""Bookings and lost deals from the CRMs and booking tools: close the caller's recovery as booked
(with its value) or lost, cancel its scheduled texts, and write it to the CRM."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows.events import BookingEvent
from workflows.phones import UnusableNumber, to_e164
from workflows.stages import UnmappedStages
from workflows.stages import match as stages_match

from .. import actions, settings_store, sync
from ..models import Recovery, Step, SubAccount

from .outcomes import Outcome

log = logging.getLogger("ringback.worker")


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
