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
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from workflows.events import AppEvent, BookingEvent, CallEvent, CrmText, DeliveryUpdate, IgnoredEvent, InboundSms

from ..base import WebhookRejected, iso_time
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
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookRejected(400, "ghl.payload_invalid", f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "ghl.payload_invalid", "body is not a JSON object")
    stamp = payload.get("timestamp")
    if not stamp:
        raise WebhookRejected(400, "ghl.timestamp_missing", "timestamp is missing: it cannot be checked for replay")
    try:
        sent = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        if sent.tzinfo is None:
            raise ValueError("no timezone")
    except ValueError:
        raise WebhookRejected(400, "ghl.timestamp_invalid", f"timestamp {stamp!r} is not an ISO 8601 time") from None
    if abs(now - sent) > MAX_AGE:
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
    type = fields.String(required=True)
    locationId = fields.String(required=True, validate=validate.Length(min=1))
    messageId = fields.String(required=True, validate=validate.Length(min=1))
    messageType = fields.String(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(["inbound", "outbound"]))
    contactId = fields.String(load_default=None)
    status = fields.String(load_default=None)
    callStatus = fields.String(load_default=None)
    callDuration = fields.Float(load_default=None, validate=validate.Range(min=0))
    body = fields.String(load_default="")
    # Added in 2026-01; the older shape names only the contact.
    from_ = fields.String(data_key="from", load_default=None)
    to = fields.String(load_default=None)


class AppointmentSchema(_Schema):
    id = fields.String(required=True)
    contactId = fields.String(load_default=None)
    appointmentStatus = fields.String(load_default=None)
    startTime = fields.String(load_default=None)
    calendarId = fields.String(load_default=None)


class AppointmentEventSchema(_Schema):
    type = fields.String(required=True)
    locationId = fields.String(required=True, validate=validate.Length(min=1))
    appointment = fields.Nested(AppointmentSchema, required=True)


class AppLifecycleSchema(_Schema):
    type = fields.String(required=True)
    appId = fields.String(required=True)
    locationId = fields.String(load_default=None)
    companyId = fields.String(load_default=None)


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
                return _message(MessageSchema().load(payload), is_call)
            if (kind == "OutboundMessage" and mtype in ("SMS", "TYPE_SMS") and payload.get("status")
                    and payload.get("source") in (None, "api")):
                # A text sent through the API (Ringback's, when the sub-account sends through
                # GoHighLevel) and its delivery status. Texts people send from the app or
                # workflows are not Ringback's.
                d = MessageSchema().load(payload)
                status = STATUS.get(d["status"].lower())
                if status is None:
                    raise ValidationError({"status": [f"unknown message status {d['status']!r}"]})
                return DeliveryUpdate(provider="ghl", message_id=d["messageId"], status=status)
            if kind == "OutboundMessage" and mtype in ("SMS", "TYPE_SMS"):
                d = MessageSchema().load(payload)
                return CrmText(provider="ghl", message_id=d["messageId"], contact_ref=d["contactId"],
                               source=payload.get("source"), by_person=bool(payload.get("userId")), body=d["body"])
            return IgnoredEvent(provider="ghl", kind=f"{kind}:{mtype or 'unknown'}")
        if kind in ("AppointmentCreate", "AppointmentUpdate"):
            d = AppointmentEventSchema().load(payload)
            a = d["appointment"]
            status = (a["appointmentStatus"] or "").lower()
            return BookingEvent(provider="ghl", booking_id=a["id"], phone=None, contact_ref=a["contactId"],
                                status=a["appointmentStatus"], starts_at=iso_time(a["startTime"]),
                                extra={"calendarId": a["calendarId"], "type": kind},
                                is_booking=status not in NOT_BOOKED)
        if kind in ("INSTALL", "UNINSTALL"):
            d = AppLifecycleSchema().load(payload)
            if not (d["locationId"] or d["companyId"]):
                raise ValidationError({"locationId": ["locationId or companyId is required"]})
            return AppEvent(provider="ghl", kind=kind.lower(), account_ref=d["locationId"] or d["companyId"],
                            company_ref=d["companyId"])
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {v}" for k, v in sorted(_flat(exc.messages)))
        raise WebhookRejected(400, "ghl.payload_invalid", f"malformed {kind} event: {problems}") from None
    if not isinstance(kind, str) or not kind:
        raise WebhookRejected(400, "ghl.payload_invalid", "event has no type")
    return IgnoredEvent(provider="ghl", kind=kind)


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
            contact_ref=d["contactId"],
        )
    return InboundSms(provider="ghl", message_id=d["messageId"], sender=d["from_"] or "",
                      recipient=d["to"] or "", body=d["body"], contact_ref=d["contactId"])


def _flat(messages, prefix=""):
    for key, value in messages.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", " ".join(map(str, value))


def location_of(payload: dict) -> str | None:
    return payload.get("locationId")


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
    return payload.get("webhookId") or "body:" + hashlib.sha256(body).hexdigest()
