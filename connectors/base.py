"""The ports every connector implements. Adding a provider is one folder behind these."""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import requests
from marshmallow import ValidationError, fields
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies

# ------------------------------------------------------------------ reading what vendors send
#
# Anything a request carries is untrusted until checked: header values may hold any byte,
# JSON may nest a thousand levels deep or put a list where an object belongs, strings may
# hold NUL (which PostgreSQL's text cannot store) and numbers may be 1e400. These helpers turn
# all of that into a refusal the caller answers with a 4xx, never an exception.

MAX_JSON_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PRINTABLE_ASCII = re.compile(r"\A[\x21-\x7e]*\Z")


# How long Ringback waits on a vendor's API, (connect, read) seconds. Without a timeout a vendor
# that accepts a connection and never answers holds a worker thread, and the job's lease, forever:
# requests and urllib3 wait indefinitely unless told, and the HubSpot and Salesforce SDKs never
# tell them. Twilio's and GoHighLevel's clients take their own 10 s.
API_TIMEOUT = (5.0, 10.0)


class TimeoutAdapter(HTTPAdapter):
    """A requests transport that applies API_TIMEOUT when the caller names no timeout: requests
    waits forever by default and has no session-wide setting
    (https://requests.readthedocs.io/en/latest/user/advanced/#timeouts)."""

    def send(self, request, timeout=None, **kwargs):
        return super().send(request, timeout=timeout or API_TIMEOUT, **kwargs)


class VendorSession(requests.Session):
    """A requests session that reads the proxy environment once per origin instead of on every
    request. requests resolves proxies for each request (``Session.merge_environment_settings``:
    ``get_environ_proxies`` walks the whole environment, twice, and checks ``no_proxy`` again),
    which cost about a tenth of the worker's CPU per text-back (bench/textback_latency.py). A
    running process's environment does not change, so the answer per scheme and host is kept;
    a request that names its own ``no_proxy`` takes requests' own path. The rest is requests'
    merge, unchanged (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE all hold)."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if not self.trust_env or (proxies and "no_proxy" in proxies):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        env_proxies, ca_bundle = environment_for(_origin(url))
        proxies = {**env_proxies, **(proxies or {})}  # the caller's own proxies win, as in requests
        if (verify is True or verify is None) and ca_bundle:
            verify = ca_bundle
        return {"proxies": merge_setting(proxies, self.proxies), "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify), "cert": merge_setting(cert, self.cert)}


def _origin(url: str) -> str:
    return "/".join(url.split("/", 3)[:3])  # scheme://host[:port]: all that proxy choice reads


@functools.lru_cache(maxsize=256)
def environment_for(origin: str) -> tuple[dict, str | None]:
    """The environment's proxies for ``origin`` and its CA bundle, as requests reads them."""
    return (get_environ_proxies(origin + "/"),
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"))


def timed_session() -> requests.Session:
    """A requests session whose every request times out (TimeoutAdapter)."""
    session = VendorSession()
    session.mount("https://", TimeoutAdapter())
    session.mount("http://", TimeoutAdapter())
    return session


def secret_hash(secret: str) -> str:
    """How a webhook URL's secret (a vendor with ``secret_webhook_url``: Salesforce's Outbound
    Messages) is found among installations without decrypting them."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def same_secret(given, expected) -> bool:
    """Constant-time equality for a value from a request (any characters) and a secret of ours."""
    if given is None or expected is None:
        return False
    a = given.encode("utf-8", "surrogateescape") if isinstance(given, str) else bytes(given)
    b = expected.encode("utf-8") if isinstance(expected, str) else bytes(expected)
    return hmac.compare_digest(a, b)


def token_like(value) -> bool:
    """True for a non-empty header value or id of printable ASCII without spaces."""
    return isinstance(value, str) and bool(value) and bool(_PRINTABLE_ASCII.match(value))


def load_json(body, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON, refusing (ValueError) what is not JSON, not UTF-8, nested deeper than
    ``max_depth`` or holding a number that is not finite."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8") from None
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                raise ValueError(f"JSON nested deeper than {max_depth} levels")
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
        elif (isinstance(item, float) and not math.isfinite(item)) or (isinstance(item, int) and abs(item) >= 2**63):
            raise ValueError("JSON holds a number too large to be real")
    return data


def load_object(body, schema) -> dict:
    """A JSON object validated by a marshmallow ``schema``; ValueError naming each problem."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValueError("; ".join(flat_messages(exc.messages))) from None


def flat_messages(messages, prefix: str = ""):
    """marshmallow's nested error messages as "field.sub: problem" lines."""
    for key, value in sorted(messages.items(), key=lambda kv: str(kv[0])):
        if isinstance(value, dict):
            yield from flat_messages(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"


def _refuse_constant(name: str):
    raise ValueError(f"JSON holds {name}, which is not a number")


def clean_text(value: str) -> str:
    """``value`` without NUL and the other control characters no person types (tabs and line
    breaks stay)."""
    return _CONTROL.sub("", value)


class Text(fields.String):
    """A string from a vendor, with control characters (NUL...) removed and a length limit."""

    def __init__(self, *args, max_length: int = 5000, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_length = max_length

    def _deserialize(self, value, attr, data, **kwargs):
        text = clean_text(super()._deserialize(value, attr, data, **kwargs))
        if len(text) > self.max_length:
            raise ValidationError(f"longer than {self.max_length} characters")
        return text


class Id(fields.String):
    """A vendor's id: 1 to ``max_length`` printable ASCII characters, no spaces."""

    def __init__(self, *args, max_length: int = 100, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_length = max_length

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        text = super()._deserialize(value, attr, data, **kwargs)
        if not token_like(text) or len(text) > self.max_length:
            raise ValidationError(f"not an id (1 to {self.max_length} printable characters, no spaces)")
        return text


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


@dataclass(frozen=True)
class FoundCall:
    """A call a vendor lists (for catch-up), as the stored event its webhook would have made: the
    same kind, and the same dedupe key where the vendor's webhook has one."""

    call_id: str
    kind: str
    key: str
    payload: dict
    at: datetime | None  # when the call happened, by the vendor's clock


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
    name: str  # stored on each text: the channel that sent it
    label: str  # as people know it ("Twilio", "the sandbox")
    reports_by_callback: bool  # takes a status callback URL for its delivery reports

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
