"""Verify and parse GoHighLevel's marketplace webhooks into workflows' events.

Every marketplace event goes to the app's one webhook URL. Checks, in this order:
signature (X-GHL-Signature, Ed25519; else the legacy X-WH-Signature, RSA-SHA256), JSON,
timestamp within five minutes, then the event's own fields. GoHighLevel retries only a 429,
so an event is stored and answered 200 fast, and a refusal is final.
Docs: ../shared/contracts/ghl/docs/webhook-events, docs/oauth/WebhookAuthentication.md.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from workflows.events import AppEvent, BookingEvent, CallEvent, CrmText, DeliveryUpdate, IgnoredEvent, InboundSms

from ..base import FoundCall, Id, Text, WebhookRejected, flat_messages, iso_time, load_json, token_like
from . import keys as published
from .conversations import STATUS

MAX_AGE = timedelta(minutes=5)
# GoHighLevel's call vocabulary -> Ringback's (Twilio's) call statuses. "answered" is a call
# in progress; "pending" one still ringing.
CALL_STATUS = {"pending": "ringing", "answered": "in-progress", "completed": "completed", "busy": "busy",
               "no-answer": "no-answer", "failed": "failed", "canceled": "canceled", "voicemail": "voicemail"}


@dataclass(frozen=True)
class WebhookKeys:
    ed25519: tuple[Ed25519PublicKey, ...]
    rsa: tuple[RSAPublicKey, ...]

    @classmethod
    def from_pem(cls, text: str | None) -> "WebhookKeys":
        """Every PEM public key in ``text`` (several, while GoHighLevel rotates); the published ones if empty."""
        text = text or (published.ED25519_PUBLIC_KEY + published.RSA_PUBLIC_KEY)
        ed, rsa = [], []
        for block in text.split("-----END PUBLIC KEY-----"):
            if "-----BEGIN PUBLIC KEY-----" not in block:
                continue
            key = serialization.load_pem_public_key((block.strip() + "\n-----END PUBLIC KEY-----\n").encode())
            if isinstance(key, Ed25519PublicKey):
                ed.append(key)
            elif isinstance(key, RSAPublicKey):
                rsa.append(key)
            else:
                raise ValueError(f"GHL_WEBHOOK_PUBLIC_KEY holds a {type(key).__name__}: expected Ed25519 or RSA")
        return cls(tuple(ed), tuple(rsa))


def verify(body: bytes, headers, keys: WebhookKeys, now: datetime) -> dict:
    """Return the payload of an authentic, fresh webhook; raise WebhookRejected otherwise."""
    current, legacy = headers.get("X-GHL-Signature"), headers.get("X-WH-Signature")
    if not current and not legacy:
        raise WebhookRejected(401, "ghl.signature_missing", "X-GHL-Signature (or X-WH-Signature) header is missing")
    if current:
        ok = _any(keys.ed25519, lambda k, sig: k.verify(sig, body), current)
    else:
        ok = _any(keys.rsa, lambda k, sig: k.verify(sig, body, padding.PKCS1v15(), hashes.SHA256()), legacy)
    if not ok:
        header = "X-GHL-Signature" if current else "X-WH-Signature"
        raise WebhookRejected(401, "ghl.signature_invalid", f"{header} does not match this body")
    try:
        payload = load_json(body)
    except ValueError as exc:
        raise WebhookRejected(400, "ghl.payload_invalid", f"body is not JSON Ringback reads: {exc}") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "ghl.payload_invalid", "body is not a JSON object")
    stamp = payload.get("timestamp")
    if not stamp:
        raise WebhookRejected(400, "ghl.timestamp_missing", "timestamp is missing: it cannot be checked for replay")
    try:
        if not isinstance(stamp, str) or len(stamp) > 64:
            raise ValueError("not a time")
        sent = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        if sent.tzinfo is None:
            raise ValueError("no timezone")
        skew = abs(now - sent)
    except (ValueError, OverflowError):
        raise WebhookRejected(400, "ghl.timestamp_invalid", f"timestamp {str(stamp)[:64]!r} is not an ISO 8601 time") from None
    if skew > MAX_AGE:
        raise WebhookRejected(401, "ghl.timestamp_stale", f"timestamp {stamp} is more than 5 minutes from now")
    return payload


def _any(candidates, check, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    for key in candidates:
        try:
            check(key, signature)
            return True
        except InvalidSignature:
            continue
    return False


# ------------------------------------------------------------------ parsing

class _Schema(Schema):
    class Meta:
        unknown = EXCLUDE  # GoHighLevel adds fields without notice


class MessageSchema(_Schema):
    type = Text(required=True, max_length=100)
    locationId = Id(required=True)
    messageId = Id(required=True)
    messageType = Text(required=True, max_length=100)
    direction = fields.String(required=True, validate=validate.OneOf(["inbound", "outbound"]))
    contactId = Id(load_default=None)
    status = Text(load_default=None, max_length=40)
    callStatus = Text(load_default=None, max_length=40)
    # Seconds; a call lasts hours at most, so 1e308 is not a call (and would not fit the column).
    callDuration = fields.Float(load_default=None, validate=validate.Range(min=0, max=10**7))
    body = Text(load_default="", max_length=5000)
    # Added in 2026-01; the older shape names only the contact.
    from_ = Text(data_key="from", load_default=None, max_length=200)
    to = Text(load_default=None, max_length=200)
    dateAdded = Text(load_default=None, max_length=40)


class AppointmentSchema(_Schema):
    id = Id(required=True)
    contactId = Id(load_default=None)
    appointmentStatus = Text(load_default=None, max_length=40)
    startTime = Text(load_default=None, max_length=100)
    calendarId = Id(load_default=None)


class AppointmentEventSchema(_Schema):
    type = Text(required=True, max_length=100)
    locationId = Id(required=True)
    appointment = fields.Nested(AppointmentSchema, required=True)


class AppLifecycleSchema(_Schema):
    type = Text(required=True, max_length=100)
    appId = Id(required=True)
    locationId = Id(load_default=None)
    companyId = Id(load_default=None)


# Built once: a schema's construction copies its declared fields, and costs more than a load.
_MESSAGE, _APPOINTMENT_EVENT, _APP_LIFECYCLE = MessageSchema(), AppointmentEventSchema(), AppLifecycleSchema()
CALL_TYPES = {"CALL", "TYPE_CALL", "VOICEMAIL", "TYPE_VOICEMAIL"}
# Appointment statuses that are not (or no longer) a booking.
NOT_BOOKED = {"cancelled", "canceled", "noshow", "invalid"}


def parse(payload: dict):
    """The event in ``payload`` (CallEvent, InboundSms, BookingEvent, AppEvent or IgnoredEvent)."""
    kind = payload.get("type")
    try:
        if kind in ("InboundMessage", "OutboundMessage"):
            mtype = str(payload.get("messageType") or "").upper()
            is_call = mtype in CALL_TYPES or payload.get("messageTypeString") in ("TYPE_CALL", "TYPE_VOICEMAIL")
            if is_call or (mtype in ("SMS", "TYPE_SMS") and payload.get("direction") == "inbound"):
                return _message(_MESSAGE.load(payload), is_call)
            if (kind == "OutboundMessage" and mtype in ("SMS", "TYPE_SMS") and payload.get("status")
                    and payload.get("source") in (None, "api")):
                # A text sent through the API (Ringback's, when the sub-account sends through
                # GoHighLevel) and its delivery status. Texts people send from the app or
                # workflows are not Ringback's.
                d = _MESSAGE.load(payload)
                status = STATUS.get(d["status"].lower())
                if status is None:
                    raise ValidationError({"status": [f"unknown message status {d['status']!r}"]})
                return DeliveryUpdate(provider="ghl", message_id=d["messageId"], status=status)
            if kind == "OutboundMessage" and mtype in ("SMS", "TYPE_SMS"):
                d = _MESSAGE.load(payload)
                return CrmText(provider="ghl", message_id=d["messageId"], contact_ref=d["contactId"],
                               source=payload.get("source"), by_person=bool(payload.get("userId")), body=d["body"])
            return IgnoredEvent(provider="ghl", kind=f"{kind}:{mtype or 'unknown'}")
        if kind in ("AppointmentCreate", "AppointmentUpdate"):
            d = _APPOINTMENT_EVENT.load(payload)
            a = d["appointment"]
            status = (a["appointmentStatus"] or "").lower()
            return BookingEvent(provider="ghl", booking_id=a["id"], phone=None, contact_ref=a["contactId"],
                                status=a["appointmentStatus"], starts_at=iso_time(a["startTime"]),
                                extra={"calendarId": a["calendarId"], "type": kind},
                                is_booking=status not in NOT_BOOKED)
        if kind in ("INSTALL", "UNINSTALL"):
            d = _APP_LIFECYCLE.load(payload)
            if not (d["locationId"] or d["companyId"]):
                raise ValidationError({"locationId": ["locationId or companyId is required"]})
            return AppEvent(provider="ghl", kind=kind.lower(), account_ref=d["locationId"] or d["companyId"],
                            company_ref=d["companyId"], app_ref=d["appId"])
    except ValidationError as exc:
        problems = "; ".join(flat_messages(exc.messages))
        raise WebhookRejected(400, "ghl.payload_invalid", f"malformed {kind} event: {problems}") from None
    if not isinstance(kind, str) or not kind:
        raise WebhookRejected(400, "ghl.payload_invalid", "event has no type")
    return IgnoredEvent(provider="ghl", kind=kind)


def for_this_app(event, app_id: str | None):
    """``event``, or IgnoredEvent for an install or uninstall of another marketplace app.

    GoHighLevel signs every app's webhooks with the same marketplace key, so a signature alone
    does not say the event is about Ringback: its appId must be ours (GHL_APP_ID). Without
    GHL_APP_ID nothing can be checked, and no install or uninstall is acted on."""
    if not isinstance(event, AppEvent) or (app_id and event.app_ref == app_id):
        return event
    why = "another-app" if app_id else "GHL_APP_ID-unset"
    return IgnoredEvent(provider="ghl", kind=f"{event.kind.upper()}:{why}")


def _message(d: dict, is_call: bool):
    if is_call:
        raw = (d["callStatus"] or d["status"] or "").lower()
        status = CALL_STATUS.get(raw)
        if status is None:
            raise ValidationError({"callStatus": [f"unknown call status {raw!r}"]})
        inbound = d["direction"] == "inbound"
        return CallEvent(
            provider="ghl", call_id=d["messageId"], caller=(d["from_"] if inbound else d["to"]) or "",
            called=(d["to"] if inbound else d["from_"]) or "", direction=d["direction"], status=status,
            duration_seconds=int(d["callDuration"]) if d["callDuration"] is not None else None,
            contact_ref=d["contactId"], occurred_at=iso_time(d["dateAdded"]),
        )
    return InboundSms(provider="ghl", message_id=d["messageId"], sender=d["from_"] or "",
                      recipient=d["to"] or "", body=d["body"], contact_ref=d["contactId"])


def location_of(payload: dict) -> str | None:
    location = payload.get("locationId")
    return location if token_like(location) and len(location) <= 100 else None


def event_key(payload: dict, event, body: bytes) -> str:
    """A repeated delivery of the same fact has the same key. One call emits several events:
    keyed by messageId and status, so a later status still counts and a repeat does not."""
    if isinstance(event, CallEvent):
        return f"call:{event.call_id}:{event.status}"
    if isinstance(event, InboundSms):
        return f"sms:{event.message_id}"
    if isinstance(event, DeliveryUpdate):
        return f"delivery:{event.message_id}:{event.status}"
    if isinstance(event, CrmText):
        return f"crm-text:{event.message_id}"
    if isinstance(event, BookingEvent):
        return f"appointment:{event.booking_id}:{payload.get('type')}:{payload.get('appointment', {}).get('dateUpdated') or payload.get('timestamp')}"
    webhook_id = payload.get("webhookId")
    return webhook_id if token_like(webhook_id) else "body:" + hashlib.sha256(body).hexdigest()


def found_call(message: dict) -> FoundCall | None:
    """A call from the message export (GET /conversations/messages/export?channel=Call) as the
    InboundMessage/OutboundMessage webhook it would have come as: parsed and keyed the same, so
    a call whose webhook did arrive is recognised. None for anything else, or a call in progress."""
    mtype = message.get("messageType")
    if mtype not in ("TYPE_CALL", "TYPE_VOICEMAIL") or not message.get("id"):
        return None
    meta = message.get("meta") or {}
    status = str(meta.get("callStatus") or message.get("status") or "").lower()
    if status in ("", "pending"):
        return None
    payload = {"type": "InboundMessage" if message.get("direction") == "inbound" else "OutboundMessage",
               "locationId": message.get("locationId"), "contactId": message.get("contactId"),
               "conversationId": message.get("conversationId"), "messageId": message["id"],
               "dateAdded": message.get("dateAdded"), "direction": message.get("direction"), "messageType": "CALL",
               "status": status, "callStatus": status, "messageTypeString": mtype}
    if meta.get("callDuration") not in (None, ""):
        payload["callDuration"] = meta["callDuration"]
    try:
        event = parse(payload)
    except WebhookRejected:
        return None
    if not isinstance(event, CallEvent):
        return None
    return FoundCall(event.call_id, "CallEvent", f"call:{event.call_id}:{event.status}", payload, event.occurred_at)
