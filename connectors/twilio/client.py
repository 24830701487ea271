"""The Twilio REST client (official SDK), pointed at TWILIO_API_URL when tests or sandboxes say so."""
from __future__ import annotations

import re
from datetime import datetime

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ..base import SendError, SendResult

TWILIO_API = "https://api.twilio.com"

# Errors that mean the recipient must never be texted again by this sender.
# https://www.twilio.com/docs/api/errors/21610
OPTED_OUT_CODES = {21610}
# 20429: too many concurrent requests, never processed, always safe to retry.
RETRYABLE_CODES = {20429}


TWILIO_HOSTS = re.compile(r"\Ahttps://[a-z0-9-]+\.twilio\.com")


class RebasedHttpClient(TwilioHttpClient):
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


def make_client(account_sid: str, auth_token: str, api_url: str = TWILIO_API, timeout: float = 10.0) -> Client:
    if api_url.rstrip("/") == TWILIO_API:
        http = TwilioHttpClient(timeout=timeout)
    else:
        http = RebasedHttpClient(api_url, timeout=timeout)
    return Client(account_sid, auth_token, http_client=http)


ACCOUNT_SID = re.compile(r"\AAC[0-9a-fA-F]{32}\Z")


def check_account(account_sid: str, auth_token: str, api_url: str = TWILIO_API) -> str:
    """The account's friendly name when Twilio accepts these credentials and the account is
    active; ValueError with Twilio's own reason otherwise.
    https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource"""
    if not ACCOUNT_SID.match(account_sid or ""):
        raise ValueError(f"{account_sid!r} is not a Twilio Account SID (AC followed by 32 hex digits)")
    if not auth_token or not auth_token.strip():
        raise ValueError("the auth token is empty")
    try:
        account = make_client(account_sid, auth_token.strip(), api_url).api.v2010.accounts(account_sid).fetch()
    except TwilioRestException as exc:
        raise ValueError(f"Twilio refused these credentials: {exc.status} {exc.code}: {exc.msg}") from None
    except requests.RequestException:
        raise ValueError("Twilio could not be reached to check these credentials: try again in a minute") from None
    if account.status != "active":
        raise ValueError(f"Twilio says account {account_sid} is {account.status}: it cannot send texts")
    return account.friendly_name or account_sid


class TwilioSender:
    """The SMS sender port over the Messages API."""

    name = "twilio"

    def __init__(self, client: Client, messaging_service_sid: str | None = None):
        self.client = client
        # Through a Messaging Service (its registered A2P campaign), Twilio picks the sender from its pool.
        self.messaging_service_sid = messaging_service_sid

    def send(self, *, to, from_, body, status_callback=None, validity_seconds=None) -> SendResult:
        kwargs = dict(to=to, from_=from_, body=body)
        if self.messaging_service_sid:
            kwargs = dict(to=to, messaging_service_sid=self.messaging_service_sid, body=body)
        if status_callback:
            kwargs["status_callback"] = status_callback
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
