"""Ringback's log lines carry no caller's full phone number: every number written as E.164
(``+15125550123``) is cut to its last four digits (``+…0123``) when the record is made, so no
handler, file or log service ever receives it. Enough to tell two callers apart in an incident;
not enough to identify one. https://www.twilio.com/docs/glossary/what-is-pii"""
from __future__ import annotations

import logging
import re

# A "+" and 7 to 15 digits, not inside a longer word (a Twilio SID's hex, a URL-encoded %2B...).
E164 = re.compile(r"(?<![\w+%])\+(\d{3,11})(\d{4})(?!\d)")
_installed = False


def redact(text: str) -> str:
    """``text`` with each E.164 number cut to its last four digits."""
    return E164.sub(lambda m: "+…" + m.group(2), text)


def install() -> None:
    """Redact every log record made in this process from now on (idempotent)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a bad format string: leave it to the handler to report)
            return record
        if "+" in message:
            record.msg, record.args = redact(message), ()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
