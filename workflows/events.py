"""The vocabulary every connector parses vendor payloads into."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CallEvent:
    """One status report about one phone call, whatever the source."""

    provider: str  # twilio | ghl | hubspot | salesforce
    call_id: str  # the vendor's id for the call (Twilio CallSid, GHL messageId, ...)
    caller: str  # the raw number that called (normalised later with the sub-account's region)
    called: str  # the number that was called
    direction: str  # inbound | outbound
    status: str  # normalised: queued, ringing, in-progress, completed, busy, failed, no-answer, canceled, voicemail
    duration_seconds: int | None = None
    occurred_at: datetime | None = None
    sequence: int | None = None
    # Where a <Dial> reported on the forwarded leg: its status and talk time. This is better
    # evidence than the parent call's own status, which is "completed" as soon as Twilio
    # itself answered with TwiML.
    dial_status: str | None = None
    dial_duration_seconds: int | None = None
    # The CRM's contact, when the event names one (GoHighLevel's older call shape names only
    # the contact, not the caller's number).
    contact_ref: str | None = None
    # What the person or calling app recorded about the call (HubSpot disposition id,
    # Salesforce CallDisposition text); sub-accounts say which ones mean missed.
    disposition: str | None = None
    # Why the caller's number could not be read from the CRM, when it could not.
    lookup_error: str | None = None


@dataclass(frozen=True)
class CallRef:
    """A CRM says a call was logged or changed, without its details (HubSpot's webhooks):
    the call must be fetched before anything can be decided."""

    provider: str
    call_id: str


@dataclass(frozen=True)
class InboundSms:
    provider: str
    message_id: str
    sender: str
    recipient: str
    body: str
    # Twilio sets OptOutType when its own (Advanced) Opt-Out handling acted on the message
    # and already answered the sender: https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out
    opt_out_type: str | None = None
    contact_ref: str | None = None


@dataclass(frozen=True)
class DeliveryUpdate:
    provider: str
    message_id: str
    status: str
    error_code: int | None = None


@dataclass(frozen=True)
class BookingEvent:
    """A booking, or a deal moved in a way that may be one: matched to the caller's recovery by
    phone, the CRM contact, or the deal Ringback opened."""

    provider: str
    booking_id: str
    phone: str | None
    starts_at: datetime | None = None
    value: float | None = None
    contact_ref: str | None = None
    status: str | None = None
    extra: dict = field(default_factory=dict)
    deal_ref: str | None = None  # the deal/opportunity whose stage changed
    stage: str | None = None  # its new stage (a CRM stage name or id)
    # None: the stage still has to be compared with the sub-account's booked stage.
    is_booking: bool | None = True
    # A person moved Ringback's deal/opportunity to a lost stage: the recovery is lost, not booked.
    is_lost: bool = False


@dataclass(frozen=True)
class MeetingRef:
    """HubSpot says a meeting was logged, without its contact or time: fetch it first."""

    provider: str
    meeting_id: str


@dataclass(frozen=True)
class AppEvent:
    """A marketplace lifecycle event (install, uninstall), stored for the marketplace work."""

    provider: str
    kind: str  # install | uninstall
    account_ref: str | None  # GoHighLevel locationId, or companyId for agency-level events
    company_ref: str | None = None
    app_ref: str | None = None  # the marketplace app it is about (GoHighLevel appId): ours, or ignored


@dataclass(frozen=True)
class IgnoredEvent:
    """An authentic event Ringback does not act on: stored, acknowledged, named."""

    provider: str
    kind: str


@dataclass(frozen=True)
class CrmText:
    """A text the CRM sent to a contact that is not Ringback's (a person, a workflow, or the CRM's
    own missed-call text back): watched for callers who would get two texts."""

    provider: str
    message_id: str
    contact_ref: str | None
    source: str | None
    by_person: bool
    body: str = ""
