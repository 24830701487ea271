"""Twilio's delivery and send error codes in plain words, with what to do: shown on the pages and
in the message log instead of bare numbers. https://www.twilio.com/docs/api/errors/<code>"""
from __future__ import annotations

PLAIN = {
    21211: "the caller's number is not a valid phone number",
    21408: "the account may not text that country (Geo Permissions in the Twilio console)",
    21610: "the caller replied STOP earlier: Twilio will not text them from this number",
    21612: "Twilio cannot text that number from this one (a landline, or an unsupported route)",
    21614: "the caller's number is not a mobile number and cannot get texts",
    21635: "the caller's number is a landline and cannot get texts",
    30003: "the caller's phone was switched off or out of reach",
    30004: "the caller's carrier or phone blocked the text",
    30005: "the caller's number is unknown to their carrier (no longer in service)",
    30006: "the caller's number is a landline, or their carrier cannot be reached",
    30007: "the carrier filtered the text as spam: keep the wording plain, register the number (A2P 10DLC)",
    30008: "the carrier could not deliver it, and did not say why",
    30032: "the toll-free number is not verified: finish toll-free verification in the Twilio console",
    30034: "US carriers blocked it: this number is not in a registered A2P 10DLC campaign; register the brand "
           "and campaign in the Twilio console (or send through a registered Messaging Service)",
}


def plain(code: int | None) -> str | None:
    """The error in plain words (with its code), or None when there is no error."""
    if code is None:
        return None
    words = PLAIN.get(int(code))
    return f"{words} (Twilio {code})" if words else f"Twilio error {code} (https://www.twilio.com/docs/api/errors/{code})"
