"""Ringback's log lines: one request id from a webhook to the job it queues to the vendor calls
that job makes, and no caller's full phone number anywhere.

- Every record carries ``request_id``: the web sets it per request (a vendor's or proxy's
  ``X-Request-Id`` when it is a plain token, else a new one, echoed in the answer), the inbox keeps
  it with the stored event, and the worker binds it again while it handles that event, sends its
  text and writes its CRM records.
- Every number written as E.164 (``+15125550123``) is cut to its last four digits (``+…0123``)
  when the record is made, so no handler, file or log service ever receives it. Enough to tell two
  callers apart in an incident; not enough to identify one.
- ``RINGBACK_LOG_FORMAT=json`` writes one JSON object per line (python-json-logger) for a log
  service; the default is a plain line with the request id in brackets.
"""
from __future__ import annotations

import contextlib
import logging
import re
import secrets
from contextvars import ContextVar

# A "+" and 7 to 15 digits, not inside a longer word (a Twilio SID's hex, a URL-encoded %2B...).
E164 = re.compile(r"(?<![\w+%])\+(\d{3,11})(\d{4})(?!\d)")
REQUEST_ID: ContextVar[str | None] = ContextVar("ringback_request_id", default=None)
GIVEN_ID = re.compile(r"\A[A-Za-z0-9._:-]{1,64}\Z")  # an X-Request-Id we keep as it is
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_installed = False


def redact(text: str) -> str:
    """``text`` with each E.164 number cut to its last four digits."""
    return E164.sub(lambda m: "+…" + m.group(2), text)


def new_request_id(given: str | None = None) -> str:
    """``given`` when it is a plain token (so a proxy's id joins the lines up), else a new one."""
    return given if given and GIVEN_ID.match(given) else secrets.token_hex(8)


@contextlib.contextmanager
def bound(request_id: str | None):
    """Log lines made inside carry ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


def install() -> None:
    """Every record made in this process from now on gets its request id and has its numbers
    redacted (idempotent)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = make(*args, **kwargs)
        record.request_id = REQUEST_ID.get() or "-"
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a bad format string: leave it to the handler to report)
            return record
        if "+" in message:
            record.msg, record.args = redact(message), ()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def configure(log_format: str = "text") -> None:
    """Install the record factory and, where nothing configured logging yet (a test runner or a
    host may have), one handler on stderr at INFO in the chosen format."""
    install()
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def formatter(log_format: str) -> logging.Formatter:
    """A line of text, or (``json``) one JSON object per record with its request id."""
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter
        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
                             rename_fields={"levelname": "level", "name": "logger"})
    return logging.Formatter(TEXT_FORMAT)
