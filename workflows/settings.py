"""What a sub-account has chosen for the missed-call text back, with the defaults."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from . import templates
from .hours import WeeklySchedule, zone

# Short, human, a booking link, an invitation to reply: the shape of the texts that get
# answers. Only GSM-7 characters (no curly quotes or dashes), so each stays one segment.
BUSINESS_HOURS_TEMPLATE = (
    "Hi {first_name}, it's {business_name}. Sorry we missed your call! "
    "How can we help? Reply here or book: {booking_link}"
)
AFTER_HOURS_TEMPLATE = (
    "Hi {first_name}, it's {business_name}. We're closed now but will call you first thing. "
    "Reply here or book: {booking_link}"
)
BUSINESS_HOURS_TEMPLATE_NO_LINK = (
    "Hi {first_name}, this is {business_name}. Sorry we missed your call! "
    "How can we help? Just reply to this text."
)
AFTER_HOURS_TEMPLATE_NO_LINK = (
    "Hi {first_name}, thanks for calling {business_name}. We're closed right now but we'll "
    "call you back first thing. Reply here with what you need."
)
VOICE_MISSED_MESSAGE = "Sorry we missed your call. We'll text you right away."
# Dispositions (compared lower-cased) that decide a call whatever its status says. Defaults:
# HubSpot's built-in disposition ids, and the free text Salesforce orgs commonly use (Service
# Cloud Voice leaves an inbound call that was never accepted as "new").
MISSED_DISPOSITIONS = frozenset({
    "73a0d17f-1163-4015-bdd5-ec830791da20",  # HubSpot: no answer
    "9d9162e7-6cf3-4944-bf63-4dff82258764",  # HubSpot: busy
    "b2cf5968-551e-4856-9783-52b3da59a7d0",  # HubSpot: left voicemail
    "no answer", "missed", "missed call", "busy", "voicemail", "left voicemail", "new",
})
ANSWERED_DISPOSITIONS = frozenset({
    "f240bbac-87c9-4f6e-bf70-924b57d47db7",  # HubSpot: connected
    "17b47fee-58de-441e-a44c-c6300d46f273",  # HubSpot: wrong number (a person answered)
    "connected", "wrong number",
})
# Final call statuses (in Twilio's words, which every connector maps to) that mean nobody
# answered. A business that calls voicemails back itself takes "voicemail" out.
MISSED_STATUSES = frozenset({"no-answer", "busy", "failed", "canceled", "voicemail"})
DEFAULT_HOURS = "mon-fri 08:00-18:00"
SEND_VIA = ("twilio", "ghl")


@dataclass(frozen=True)
class TextBackSettings:
    business_name: str
    timezone: str = "America/New_York"
    hours: WeeklySchedule = field(default_factory=lambda: WeeklySchedule.parse(DEFAULT_HOURS))
    booking_link: str | None = None
    enabled: bool = True
    business_hours_template: str | None = None  # None: the default for whether there is a link
    after_hours_template: str | None = None
    voice_missed_message: str = VOICE_MISSED_MESSAGE
    dedupe_window_seconds: int = 24 * 3600
    # A "completed" call shorter than this was a carrier voicemail or IVR, not a person.
    missed_under_seconds: int = 15
    # Twilio drops a queued text older than this instead of sending it late.
    validity_seconds: int = 600
    default_region: str = "US"
    own_numbers: frozenset[str] = frozenset()
    block_list: frozenset[str] = frozenset()
    missed_dispositions: frozenset[str] = MISSED_DISPOSITIONS
    answered_dispositions: frozenset[str] = ANSWERED_DISPOSITIONS
    missed_statuses: frozenset[str] = MISSED_STATUSES
    # Which way texts leave: "twilio" (Ringback's own sender: Twilio, or the sandbox) or "ghl"
    # (the GoHighLevel location's conversations, so they show in its inbox from its number).
    send_via: str = "twilio"
    # A call found late (by catch-up, its webhook lost) is texted only this soon after it
    # happened; an older one becomes a task to call the caller back, never a late text.
    late_text_seconds: int = 900

    def __post_init__(self):
        zone(self.timezone)  # raises BadSchedule with the bad name
        for t in (self.business_hours_template, self.after_hours_template):
            if t is not None:
                templates.check(t)
        if not 1 <= self.validity_seconds <= 36000:
            raise ValueError("validity_seconds must be between 1 and 36000 (Twilio's limit)")
        unknown = sorted(set(self.missed_statuses) - MISSED_STATUSES)
        if unknown:
            raise ValueError(f"missed_statuses: {unknown[0]!r} is not a status that can mean missed (one of "
                             f"{', '.join(sorted(MISSED_STATUSES))}; completed calls go by missed_under_seconds)")
        if self.send_via not in SEND_VIA:
            raise ValueError(f"send_via must be one of {', '.join(SEND_VIA)}, not {self.send_via!r}")
        if not 0 <= self.late_text_seconds <= 24 * 3600:
            raise ValueError("late_text_seconds must be between 0 and 86400 (a day)")
        if self.dedupe_window_seconds < 0 or self.missed_under_seconds < 0:
            raise ValueError("dedupe_window_seconds and missed_under_seconds cannot be negative")

    def template_for(self, kind: str) -> str:
        if kind == "business_hours":
            return self.business_hours_template or (
                BUSINESS_HOURS_TEMPLATE if self.booking_link else BUSINESS_HOURS_TEMPLATE_NO_LINK)
        return self.after_hours_template or (
            AFTER_HOURS_TEMPLATE if self.booking_link else AFTER_HOURS_TEMPLATE_NO_LINK)

    def with_overrides(self, **overrides) -> "TextBackSettings":
        return replace(self, **overrides)
