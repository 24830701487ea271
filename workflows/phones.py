"""Phone numbers: everything Ringback stores or compares is E.164."""
from __future__ import annotations

import functools

import phonenumbers


class UnusableNumber(ValueError):
    """A caller number that cannot be texted; the message says why."""


def to_e164(raw: str | None, default_region: str = "US") -> str:
    """Normalise ``raw`` to E.164 with the sub-account's default region, or raise UnusableNumber."""
    if raw is None or not str(raw).strip():
        raise UnusableNumber("no caller number (withheld or anonymous)")
    return _e164(str(raw).strip(), default_region)


# Parsing with phonenumbers costs about half a millisecond, and the same few numbers (a business's
# own, a caller who calls and replies) come by again and again: the answer is kept per number.
@functools.lru_cache(maxsize=4096)
def _e164(text: str, default_region: str) -> str:
    if text.lower() in {"anonymous", "restricted", "unknown", "private", "unavailable"} or text.startswith("+266696687"):
        # +266696687 is how Twilio presents an anonymous caller ("ANONYMOUS" on a keypad).
        raise UnusableNumber(f"caller withheld their number ({text})")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise UnusableNumber(f"not a phone number: {text!r} ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise UnusableNumber(f"not a valid phone number: {text!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str | None:
    """The ISO region of an E.164 number, or None."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


@functools.lru_cache(maxsize=4096)
def caller_timezone(e164: str) -> str | None:
    """The caller's timezone when their number says it unambiguously (a US area code in one
    zone); None otherwise (toll-free, mobile ranges spanning zones, unknown)."""
    from phonenumbers import timezone as number_timezone
    try:
        zones = number_timezone.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return None
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else None
