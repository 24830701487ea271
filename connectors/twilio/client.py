"""The Twilio REST client (official SDK), pointed at TWILIO_API_URL when tests or sandboxes say so."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ..base import SendError, SendResult, VendorSession

TWILIO_API = "https://api.twilio.com"

# Errors that mean the recipient must never be texted again by this sender.
# https://www.twilio.com/docs/api/errors/21610
OPTED_OUT_CODES = {21610}
# 20429: too many concurrent requests, never processed, always safe to retry.
RETRYABLE_CODES = {20429}


TWILIO_HOSTS = re.compile(r"\Ahttps://[a-z0-9-]+\.twilio\.com")


class HttpClient(TwilioHttpClient):
    """The SDK's transport on a VendorSession (the proxy environment read once, not per text)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.session is not None:
            self.session = VendorSession()


class RebasedHttpClient(HttpClient):
    """twilio-python has no base-URL setting: rewrite https://api.twilio.com (and the other
    product hosts, messaging.twilio.com...) to ``base_url``."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        if self.session is not None and self.base_url.startswith("http://"):
            from requests.adapters import HTTPAdapter
            self.session.mount("http://", HTTPAdapter(pool_maxsize=32))

    def request(self, method, url, *args, **kwargs):
        url = TWILIO_HOSTS.sub(self.base_url, url, count=1)
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class Credentials:
    """How Ringback signs in to one Twilio account: its auth token, or an API key SID and secret
    (https://www.twilio.com/docs/iam/api-keys). With an API key Ringback never holds the auth
    token Twilio signs webhooks with, so that account's webhooks are checked with HTTP Basic
    credentials Ringback writes into the URLs it gives Twilio (``webhook_login``)."""

    account_sid: str
    secret: str  # the auth token, or the API key's secret
    key_sid: str | None = None  # SK...: an API key
    webhook_login: str | None = None  # the password in our webhook URLs (API key accounts only)

    def __repr__(self) -> str:  # never a secret in a log line or a traceback
        return f"Credentials({self.account_sid}, key={self.key_sid or '-'})"

    def client(self, api_url: str = TWILIO_API, timeout: float = 10.0) -> Client:
        if api_url.rstrip("/") == TWILIO_API:
            http = HttpClient(timeout=timeout)
        else:
            http = RebasedHttpClient(api_url, timeout=timeout)
        return Client(self.key_sid or self.account_sid, self.secret, self.account_sid, http_client=http)


def make_client(account_sid: str, auth_token: str, api_url: str = TWILIO_API, timeout: float = 10.0) -> Client:
    return Credentials(account_sid, auth_token).client(api_url, timeout)


ACCOUNT_SID = re.compile(r"\AAC[0-9a-fA-F]{32}\Z")
API_KEY_SID = re.compile(r"\ASK[0-9a-fA-F]{32}\Z")


def check_account(creds: Credentials, api_url: str = TWILIO_API) -> str:
    """The account's friendly name when Twilio accepts these credentials and the account is
    active; ValueError with Twilio's own reason otherwise.
    https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource"""
    if not ACCOUNT_SID.match(creds.account_sid or ""):
        raise ValueError(f"{creds.account_sid!r} is not a Twilio Account SID (AC followed by 32 hex digits)")
    if creds.key_sid is not None and not API_KEY_SID.match(creds.key_sid):
        raise ValueError(f"{creds.key_sid!r} is not a Twilio API key SID (SK followed by 32 hex digits)")
    if not creds.secret or not creds.secret.strip():
        raise ValueError("the API key secret is empty" if creds.key_sid else "the auth token is empty")
    try:
        account = creds.client(api_url).api.v2010.accounts(creds.account_sid).fetch()
    except TwilioRestException as exc:
        raise ValueError(f"Twilio refused these credentials: {exc.status} {exc.code}: {exc.msg}") from None
    except requests.RequestException:
        raise ValueError("Twilio could not be reached to check these credentials: try again in a minute") from None
    if account.status != "active":
        raise ValueError(f"Twilio says account {creds.account_sid} is {account.status}: it cannot send texts")
    return account.friendly_name or creds.account_sid


class TwilioSender:
    """The SMS sender port over the Messages API."""

    name = "twilio"
    label = "Twilio"
    reports_by_callback = True  # delivery reports come to the status callback URL

    def __init__(self, client: Client, messaging_service_sid: str | None = None, webhook_login: str | None = None):
        self.client = client
        # Through a Messaging Service (its registered A2P campaign), Twilio picks the sender from its pool.
        self.messaging_service_sid = messaging_service_sid
        # An API-key account: its status callbacks carry our Basic credentials (see Credentials).
        self.webhook_login = webhook_login

    def send(self, *, to, from_, body, status_callback=None, validity_seconds=None) -> SendResult:
        kwargs = dict(to=to, from_=from_, body=body)
        if self.messaging_service_sid:
            kwargs = dict(to=to, messaging_service_sid=self.messaging_service_sid, body=body)
        if status_callback:
            kwargs["status_callback"] = with_login(status_callback, self.webhook_login)
        if validity_seconds:
            # A queued text older than this is dropped by Twilio rather than sent late.
            kwargs["validity_period"] = int(validity_seconds)
        try:
            msg = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise _send_error(exc) from exc
        except requests.ConnectTimeout as exc:  # never connected: certainly not sent
            raise SendError(f"Twilio unreachable: {exc}", retryable=True) from exc
        except requests.RequestException as exc:  # reset, read timeout: the request may have landed
            raise SendError(f"Twilio request failed: {exc}", retryable=True, maybe_sent=True) from exc
        return SendResult(msg.sid, msg.status)

    def find_sent(self, *, to, from_, body, since: datetime) -> SendResult | None:
        # The Messages API has no idempotency key; after a crash between "send" and "record",
        # look for the text before sending it again.
        try:
            sender = {} if self.messaging_service_sid else {"from_": from_}
            for msg in self.client.messages.list(to=to, date_sent_after=since, limit=50, **sender):
                if msg.body == body:
                    return SendResult(msg.sid, msg.status)
        except TwilioRestException as exc:
            raise _send_error(exc) from exc
        except requests.RequestException as exc:
            raise SendError(f"Twilio unreachable: {exc}", retryable=True, maybe_sent=True) from exc
        return None


def _send_error(exc: TwilioRestException) -> SendError:
    code = exc.code
    if exc.status == 429 or code in RETRYABLE_CODES:
        return SendError(f"Twilio {exc.status} {code}: {exc.msg}", code=code, retryable=True)
    if (exc.status or 0) >= 500:
        return SendError(f"Twilio {exc.status} {code}: {exc.msg}", code=code, retryable=True, maybe_sent=True)
    return SendError(f"Twilio {exc.status} {code}: {exc.msg}", code=code, opted_out=code in OPTED_OUT_CODES)


WEBHOOK_USER = "twilio"


def with_login(url: str, password: str | None) -> str:
    """``url`` with HTTP Basic credentials in it, the form Twilio reads: it first calls without
    them, and sends them once the answer is 401 with a WWW-Authenticate realm.
    https://www.twilio.com/docs/usage/security#http-authentication (no ':' or '&' in them: ours
    are hex)."""
    if not password or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{WEBHOOK_USER}:{password}@{rest}"


def without_login(url: str | None) -> str | None:
    """The URL with any credentials taken out (for comparing and for showing)."""
    if not url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    host, sep, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{sep}{path}"
