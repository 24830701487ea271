"""Twilio's webhooks. Each is checked in a fixed order, each failure with its own status and log key:

1. body over 1 MiB                -> 413 (Flask, before the body is read)
2. AccountSid not an account of ours (an agency's connected one, the default, or the
   environment's)                 -> 403 twilio.account_mismatch
3. X-Twilio-Signature missing     -> 403 twilio.signature_missing
4. signature does not match that account's auth token -> 403 twilio.signature_invalid
   (an account connected with an API key: Ringback has no auth token to check a signature with,
   so its numbers' URLs carry HTTP Basic credentials instead: none yet -> 401 with a realm, which
   Twilio answers by sending them, twilio.login_challenge; wrong ones -> 403 twilio.login_invalid)
5. malformed parameters           -> 400 twilio.payload_invalid
6. duplicate delivery             -> 200, ignored (twilio.duplicate)
7. number not a sub-account's     -> 200, stored as unroutable (twilio.unroutable)
8. stored in the inbox, committed, queued -> 200 with TwiML
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from connectors.base import WebhookRejected
from connectors.twilio import webhook
from workflows.decide import classify_call

from .. import inbox
from ..worker import tasks
from ..settings_store import text_back_settings
from . import rt

log = logging.getLogger("ringback.webhooks.twilio")
bp = Blueprint("twilio", __name__)


@bp.post("/webhooks/twilio/voice")
def voice():
    return _receive("voice")


@bp.post("/webhooks/twilio/dial")
def dial():
    return _receive("dial")


@bp.post("/webhooks/twilio/sms")
def sms():
    return _receive("sms")


@bp.post("/webhooks/twilio/message-status")
def message_status():
    return _receive("message-status")


def public_url() -> str:
    """The URL Twilio called and signed: the configured public base, this path, this query."""
    query = request.query_string.decode("latin-1")
    return rt().config.public_url + request.path + (f"?{query}" if query else "")


def _receive(kind: str):
    runtime = rt()
    try:
        # Twilio signs with the auth token of the account that owns the number: the one AccountSid names.
        account = request.form.get("AccountSid")
        creds = runtime.webhook_credentials(account)
        if creds is None:
            raise WebhookRejected(403, "twilio.account_mismatch", "AccountSid is not a Twilio account connected to "
                                                                  "this Ringback")
        if creds.key_sid is not None:
            webhook.verify_login(creds.webhook_login, request.authorization)
        else:
            webhook.verify(token=creds.secret, url=public_url(), params=request.form,
                           signature=request.headers.get("X-Twilio-Signature"),
                           settings_header=request.headers.get("X-Twilio-Webhooks-Signature-Settings"),
                           account_sid=None)
        event = webhook.parse(kind, request.form)
    except WebhookRejected as rej:
        log.warning("rejected key=%s kind=%s status=%s remote=%s: %s", rej.log_key, kind, rej.status,
                    request.remote_addr, rej.message)
        response = Response(rej.message + "\n", status=rej.status, mimetype="text/plain")
        if rej.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="Ringback"'
        return response

    key = webhook.event_key(kind, event)
    stored = inbox.store(runtime, provider="twilio", kind=kind, key=key, payload=request.form.to_dict(),
                         number=webhook.routing_number(event), unroutable_ok=kind == "message-status",
                         token=request.headers.get("I-Twilio-Idempotency-Token") or None,
                         # Only a <Dial> leg's answer depends on the sub-account's settings.
                         while_open=(lambda s, sub: _twiml(kind, event, s, sub)) if kind == "dial" else None)
    if stored.event_id is None:
        log.info("duplicate key=twilio.duplicate kind=%s event=%s", kind, key)
        return _xml(_twiml(kind, event, None, None))
    if not stored.routed:
        log.warning("unroutable key=twilio.unroutable kind=%s number=%s event=%s", kind,
                    webhook.routing_number(event), key)
    else:
        tasks.queue_event(stored.event_id)
    return _xml(stored.extra if kind == "dial" else _twiml(kind, event, None, None))


# The empty answers, rendered once (the twiml package builds an ElementTree for each).
EMPTY_MESSAGING, EMPTY_VOICE = str(MessagingResponse()), str(VoiceResponse())


def _twiml(kind: str, event, session, sub) -> str:
    if kind == "sms":
        return EMPTY_MESSAGING
    if kind != "dial" or sub is None:
        return EMPTY_VOICE
    response = VoiceResponse()
    # Tell the caller a text is on its way; the worker decides and sends it.
    settings = text_back_settings(session, sub)
    if classify_call(event, settings).missed:
        response.say(settings.voice_missed_message)
    response.hangup()
    return str(response)


def _xml(body: str) -> Response:
    return Response(body, status=200, mimetype="text/xml")
