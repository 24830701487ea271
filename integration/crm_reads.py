"""What a webhook leaves out and the vendor's API must fill in, before anything is decided.

GoHighLevel's older call shape names the contact but not the caller's number; HubSpot's
webhooks say only that a call object changed. These reads happen outside any database
transaction, in the worker, just before the event is decided.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select

from connectors import registry
from connectors.base import CrmError
from workflows.events import BookingEvent, CallEvent, CallRef, MeetingRef

from .crm_session import CrmSession
from .models import Recovery, SubAccount


@dataclass(frozen=True)
class Unresolved:
    """An event that could not be completed; ``reason`` is recorded as its result."""

    provider: str
    reason: str


def incomplete(event) -> bool:
    if isinstance(event, (CallRef, MeetingRef)):
        return True
    if isinstance(event, BookingEvent):  # a HubSpot stage id: is it the Booked stage?
        vendor = registry.crm(event.provider)
        return event.is_booking is None and vendor is not None and vendor.stage_needs_lookup
    return isinstance(event, CallEvent) and not event.caller and bool(event.contact_ref)


def complete(rt, sub_account_id: int, event, crms: CrmSession | None = None):
    """The event with the missing facts filled in; raises CrmError (retryable or not). ``crms``:
    the job's CRM session, which goes on to send and write with the same installation."""
    crms = crms or CrmSession(rt)
    with rt.sessions() as s:
        sub = s.get(SubAccount, sub_account_id)
        crm = crms.port(sub.id, s) if sub is not None and registry.crm(sub.provider) is not None else None
    if isinstance(event, CallRef):
        if crm is None:
            raise CrmError(f"sub-account {sub_account_id} has no {event.provider} installation to fetch call {event.call_id}")
        return crms.call(crm, lambda c: c.get_call(event.call_id))[0]
    if isinstance(event, MeetingRef):
        if crm is None:
            raise CrmError(f"sub-account {sub_account_id} has no {event.provider} installation to fetch meeting "
                           f"{event.meeting_id}")
        return crms.call(crm, lambda c: c.get_meeting(event.meeting_id))[0]
    if isinstance(event, BookingEvent):
        with rt.sessions() as s:  # only Ringback's own deals can be a recovery's booking: ask nothing else
            ours = s.scalar(select(Recovery.id).where(Recovery.sub_account_id == sub_account_id,
                                                      Recovery.crm_refs["deal_id"].as_string() == event.deal_ref).limit(1))
        if ours is None:
            return replace(event, is_booking=False)
        if crm is None:
            raise CrmError(f"sub-account {sub_account_id} has no {event.provider} installation to read its stages")
        outcome = crms.call(crm, lambda c: c.stage_outcome(event.stage))[0]
        return replace(event, is_booking=outcome == "booked", is_lost=outcome == "lost")
    phone = crms.call(crm, lambda c: c.contact_phone(event.contact_ref))[0] if crm is not None else None
    return replace(event, caller=phone or "")


def unresolved(event, exc: Exception):
    """What is recorded when the vendor could not fill the event in: the vendor's own reason."""
    if isinstance(event, CallRef):
        return Unresolved(event.provider, f"call {event.call_id} could not be fetched: {exc}")
    if isinstance(event, MeetingRef):
        return Unresolved(event.provider, f"meeting {event.meeting_id} could not be fetched: {exc}")
    if isinstance(event, BookingEvent):
        return Unresolved(event.provider, f"deal {event.deal_ref}'s stage could not be checked: {exc}")
    # Decided without a caller: the call is recorded as not textable, with the vendor's reason.
    return replace(event, lookup_error=str(exc))
