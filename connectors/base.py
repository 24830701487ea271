"""The ports every connector implements. Adding a provider is one folder behind these."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


def iso_time(value) -> datetime | None:
    """A vendor's ISO 8601 time ("...Z" included), or None when absent or unreadable."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class WebhookRejected(Exception):
    """A webhook that must not be processed. ``status`` is the HTTP answer, ``log_key`` the reason."""

    def __init__(self, status: int, log_key: str, message: str):
        super().__init__(message)
        self.status = status
        self.log_key = log_key
        self.message = message


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str


class SendError(Exception):
    """Sending failed. ``retryable`` says whether the same request may be tried again."""

    def __init__(self, message: str, *, code: int | None = None, retryable: bool = False,
                 opted_out: bool = False, maybe_sent: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.opted_out = opted_out
        # True when the provider may have accepted the text although we saw an error (a 5xx,
        # a read timeout): look for it before sending again.
        self.maybe_sent = maybe_sent


class SmsSender(Protocol):
    name: str

    def send(self, *, to: str, from_: str, body: str, status_callback: str | None,
             validity_seconds: int | None) -> SendResult:
        """Send one text; raise SendError."""

    def find_sent(self, *, to: str, from_: str, body: str, since) -> SendResult | None:
        """A text already accepted with these values since ``since`` (to recover from a crash mid-send)."""


class CrmError(Exception):
    """A CRM refused or failed a write. ``retryable``: the same write may succeed later."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None, token_expired: bool = False, throttled: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable or throttled
        self.retry_after = retry_after
        self.token_expired = token_expired
        # Held back by Ringback's own rate limiting: nothing was sent, no attempt is spent.
        self.throttled = throttled


class CrmPort(Protocol):
    """What Ringback writes into a CRM. Ids are the CRM's own; stages are Ringback's keys."""

    def contact_phone(self, contact_id: str) -> str | None:
        """The phone number of a contact (to find the caller of an event that names only the contact)."""

    def upsert_contact(self, *, phone: str, first_name: str | None = None) -> str:
        """The contact with this phone, created if there is none (never a duplicate)."""

    def open_deal(self, *, contact_id: str, name: str, stage: str, value: float | None = None) -> str:
        """A deal/opportunity for one recovery, in ``stage``."""

    def move_deal(self, *, deal_id: str, stage: str, value: float | None = None) -> None:
        """Move the deal to ``stage`` (and set its value)."""

    def add_note(self, *, contact_id: str, body: str) -> str:
        """A note on the contact."""

    def create_task(self, *, contact_id: str, title: str, due, body: str | None = None) -> str:
        """A task for a person (``body``: what they need to know, e.g. the conversation so far)."""
