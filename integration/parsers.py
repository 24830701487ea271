"""Which parser reads which source's stored payloads: each vendor's provider (connectors/registry.py),
plus the two sources of Ringback's own: CRM workflow actions and the booking webhook."""
from __future__ import annotations

from datetime import timezone

from connectors import registry
from connectors.base import iso_time
from workflows.events import BookingEvent, CallEvent

PARSERS = {
    **{key: vendor.parse_stored for key, vendor in registry.PROVIDERS.items()},
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
