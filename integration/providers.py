"""Which connector parses which provider's stored webhook payloads."""
from __future__ import annotations

from datetime import timezone

from connectors.base import iso_time
from connectors.ghl import webhook as ghl_webhook
from connectors.hubspot import webhook as hubspot_webhook
from connectors.salesforce import webhook as salesforce_webhook
from connectors.twilio import webhook as twilio_webhook
from workflows.events import BookingEvent, CallEvent

PARSERS = {
    "twilio": twilio_webhook.parse,
    "ghl": lambda _kind, payload: ghl_webhook.parse(payload),
    "hubspot": lambda _kind, payload: hubspot_webhook.parse(payload),
    "salesforce": lambda _kind, payload: salesforce_webhook.to_event(salesforce_webhook.Notification(
        payload["id"], payload["type"], payload["fields"])),
    # A CRM workflow's "Send missed-call text back" action: a call Ringback missed from a contact.
    "action": lambda _kind, payload: CallEvent(**payload["call"]),
    # POST /webhooks/booking: a scheduling tool's booking, matched to the caller by phone.
    "booking": lambda _kind, payload: _booking(payload),
}


def _booking(payload: dict) -> BookingEvent:
    status = str(payload.get("status") or "booked").lower()
    starts_at = iso_time(payload.get("starts_at"))
    if starts_at is not None and starts_at.tzinfo is None:  # stored before offsets were required
        starts_at = starts_at.replace(tzinfo=timezone.utc)
    value = payload.get("value")
    return BookingEvent(provider="booking", booking_id=str(payload.get("booking_id") or ""),
                        phone=str(payload["phone"]), starts_at=starts_at,
                        value=float(value) if value is not None else None, status=status,
                        is_booking=status not in ("cancelled", "canceled", "no_show", "noshow"))


def parse_stored(provider: str, kind: str, payload: dict):
    return PARSERS[provider](kind, payload)
