"""Verify and parse Twilio's webhooks into workflows' events. Nothing else happens here.

Parameters: https://www.twilio.com/docs/voice/twiml#request-parameters,
https://www.twilio.com/docs/voice/api/call-resource#statuscallback,
https://www.twilio.com/docs/messaging/guides/webhook-request
"""
from __future__ import annotations

from email.utils import parsedate_to_datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate
from twilio.request_validator import RequestValidator, get_signature_algorithm

from workflows.events import CallEvent, DeliveryUpdate, InboundSms

from ..base import Text, WebhookRejected, same_secret
from .client import WEBHOOK_USER

CALL_STATUSES = ["queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"]
DIAL_STATUSES = ["completed", "answered", "busy", "no-answer", "failed", "canceled"]
# A call lasts at most 24 hours on Twilio; anything far beyond is not a call (and would not fit the column).
MAX_SECONDS = validate.Range(min=0, max=10**7)
MESSAGE_STATUSES = ["accepted", "scheduled", "queued", "sending", "sent", "delivered", "undelivered",
                    "failed", "read", "canceled", "receiving", "received", "partially_delivered"]


def verify(*, token: str, url: str, params, signature: str | None, settings_header: str | None,
           account_sid: str | None) -> None:
    """Raise WebhookRejected unless Twilio signed exactly this URL and these parameters.

    ``url`` is the public URL Twilio called (RINGBACK_PUBLIC_URL + path + query): behind a
    proxy the URL the app sees is not the one Twilio signed.
    """
    if not signature:
        raise WebhookRejected(403, "twilio.signature_missing", "X-Twilio-Signature header is missing")
    algorithm = get_signature_algorithm(settings_header)
    if not RequestValidator(token).validate(url, params, signature, algorithm=algorithm):
        raise WebhookRejected(403, "twilio.signature_invalid", "X-Twilio-Signature does not match this request")
    if account_sid and params.get("AccountSid") != account_sid:
        raise WebhookRejected(403, "twilio.account_mismatch", "AccountSid is not this Ringback's Twilio account")


def verify_login(password: str | None, authorization) -> None:
    """For an account connected with an API key: the HTTP Basic credentials Ringback wrote into
    the number's URLs (connectors.twilio.client.with_login). Twilio sends them only after a 401
    with a realm. ``authorization`` is werkzeug's parsed Authorization header (or None)."""
    if authorization is None or authorization.type != "basic":
        raise WebhookRejected(401, "twilio.login_challenge", "this account's webhooks carry Ringback's login")
    if not password or authorization.username != WEBHOOK_USER \
            or not same_secret(authorization.password or "", password):
        raise WebhookRejected(403, "twilio.login_invalid", "the webhook's login is not this account's")


class _TwilioSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # Twilio adds parameters without notice

    AccountSid = fields.String(required=True, validate=validate.Regexp(r"^AC[0-9a-fA-F]{32}\Z"))


def _direction(value: str | None) -> str:
    # inbound | outbound-api | outbound-dial (and "trunking-*" for SIP trunks)
    return "outbound" if (value or "").startswith("outbound") else "inbound"


def _timestamp(value):
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


class VoiceStatusSchema(_TwilioSchema):
    CallSid = fields.String(required=True, validate=validate.Regexp(r"^CA[0-9a-fA-F]{32}\Z"))
    From = Text(required=True, max_length=200)
    To = Text(required=True, max_length=200)
    CallStatus = fields.String(required=True, validate=validate.OneOf(CALL_STATUSES))
    Direction = Text(load_default="inbound", max_length=40)
    CallDuration = fields.Integer(load_default=None, validate=MAX_SECONDS)
    SequenceNumber = fields.Integer(load_default=None, validate=validate.Range(min=0, max=10**9))
    Timestamp = Text(load_default=None, max_length=100)

    @post_load
    def make(self, d, **_):
        return CallEvent(
            provider="twilio", call_id=d["CallSid"], caller=d["From"], called=d["To"],
            direction=_direction(d["Direction"]), status=d["CallStatus"],
            duration_seconds=d["CallDuration"], occurred_at=_timestamp(d["Timestamp"]),
            sequence=d["SequenceNumber"],
        )


class DialActionSchema(_TwilioSchema):
    CallSid = fields.String(required=True, validate=validate.Regexp(r"^CA[0-9a-fA-F]{32}\Z"))
    From = Text(required=True, max_length=200)
    To = Text(required=True, max_length=200)
    DialCallStatus = fields.String(required=True, validate=validate.OneOf(DIAL_STATUSES))
    DialCallDuration = fields.Integer(load_default=None, validate=MAX_SECONDS)
    CallStatus = fields.String(load_default="in-progress", validate=validate.OneOf(CALL_STATUSES))
    Direction = Text(load_default="inbound", max_length=40)

    @post_load
    def make(self, d, **_):
        dial = "completed" if d["DialCallStatus"] == "answered" else d["DialCallStatus"]
        return CallEvent(
            provider="twilio", call_id=d["CallSid"], caller=d["From"], called=d["To"],
            direction=_direction(d["Direction"]), status=d["CallStatus"],
            dial_status=dial, dial_duration_seconds=d["DialCallDuration"],
        )


class InboundSmsSchema(_TwilioSchema):
    MessageSid = fields.String(required=True, validate=validate.Regexp(r"^(SM|MM)[0-9a-fA-F]{32}\Z"))
    From = Text(required=True, max_length=200)
    To = Text(required=True, max_length=200)
    Body = Text(load_default="", max_length=5000)  # Twilio: at most 1,600 characters
    OptOutType = Text(load_default=None, max_length=40)

    @post_load
    def make(self, d, **_):
        return InboundSms(provider="twilio", message_id=d["MessageSid"], sender=d["From"], recipient=d["To"],
                          body=d["Body"], opt_out_type=d["OptOutType"] or None)


class MessageStatusSchema(_TwilioSchema):
    MessageSid = fields.String(required=True, validate=validate.Regexp(r"^(SM|MM)[0-9a-fA-F]{32}\Z"))
    MessageStatus = fields.String(required=True, validate=validate.OneOf(MESSAGE_STATUSES))
    ErrorCode = fields.Integer(load_default=None, validate=validate.Range(min=0, max=10**6))

    @post_load
    def make(self, d, **_):
        return DeliveryUpdate(provider="twilio", message_id=d["MessageSid"], status=d["MessageStatus"],
                              error_code=d["ErrorCode"])


SCHEMAS = {
    "voice": VoiceStatusSchema(),
    "dial": DialActionSchema(),
    "sms": InboundSmsSchema(),
    "message-status": MessageStatusSchema(),
}


def parse(kind: str, params) -> CallEvent | InboundSms | DeliveryUpdate:
    """Parse one webhook's parameters, or raise WebhookRejected(400) naming every problem."""
    try:
        return SCHEMAS[kind].load(params.to_dict() if hasattr(params, "to_dict") else dict(params))
    except ValidationError as exc:
        problems = "; ".join(f"{name}: {' '.join(map(str, msgs))}" for name, msgs in sorted(exc.messages.items()))
        raise WebhookRejected(400, "twilio.payload_invalid", f"malformed {kind} webhook: {problems}") from None


def routing_number(event) -> str | None:
    """The business's number in this webhook: it says which sub-account the event belongs to."""
    if isinstance(event, CallEvent):
        return event.called if event.direction == "inbound" else event.caller
    if isinstance(event, InboundSms):
        return event.recipient
    return None  # delivery reports are matched by MessageSid


def event_key(kind: str, event) -> str:
    """The dedupe key: a repeated delivery of the same fact has the same key."""
    if kind == "voice":
        return f"voice:{event.call_id}:{event.status}"
    if kind == "dial":
        return f"dial:{event.call_id}:{event.dial_status}"
    if kind == "sms":
        return f"sms:{event.message_id}"
    return f"status:{event.message_id}:{event.status}"
