"""Verify and parse HubSpot's webhook batches.

https://developers.hubspot.com/docs/api/webhooks/validating-requests (v3 signature):
base64(HMAC-SHA256(client secret, method + URI + body + timestamp)), timestamp in ms, at most
5 minutes old. The URI is the one HubSpot called, with only %3A %2F %3F %40 %21 %24 %27 %28
%29 %2A %2C %3B decoded. The SDK's helper computes the HMAC but neither decodes the URI nor
refuses timestamps from the future, so both happen here.
Batches hold up to 100 events, in any order, possibly repeated; calls arrive only as generic
object events (objectTypeId 0-48) without details, so they are fetched by id in the worker.
"""
from __future__ import annotations

from datetime import datetime, timezone

from hubspot.exceptions import InvalidSignatureTimestampError
from hubspot.utils.signature import Signature

from workflows.events import BookingEvent, CallRef, IgnoredEvent, MeetingRef

from marshmallow import INCLUDE, Schema, fields, validate

from ..base import Id, Text, WebhookRejected, load_json, token_like

MAX_BATCH = 100
MAX_SKEW_MS = 5 * 60 * 1000
CALL_OBJECT, MEETING_OBJECT, DEAL_OBJECT = "0-48", "0-47", "0-3"
CALL_PROPERTIES = {"hs_call_status", "hs_call_disposition"}
_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def signed_uri(url: str) -> str:
    """HubSpot's rule: decode exactly these percent-escapes (either case), nothing else."""
    out, i = [], 0
    while i < len(url):
        chunk = url[i:i + 3].upper()
        if chunk in _DECODE:
            out.append(_DECODE[chunk])
            i += 3
        else:
            out.append(url[i])
            i += 1
    return "".join(out)


def verify(body: bytes, headers, *, client_secret: str, url: str, method: str = "POST",
           now: datetime | None = None) -> list:
    """The batch of events in an authentic, fresh webhook; raise WebhookRejected otherwise."""
    check_signature(body, headers, client_secret=client_secret, url=url, method=method, now=now)
    try:
        batch = load_json(body)
    except ValueError as exc:
        raise WebhookRejected(400, "hubspot.payload_invalid", f"body is not JSON Ringback reads: {exc}") from None
    if not isinstance(batch, list) or not all(isinstance(e, dict) for e in batch):
        raise WebhookRejected(400, "hubspot.payload_invalid", "body is not a JSON array of events")
    if len(batch) > MAX_BATCH:
        raise WebhookRejected(400, "hubspot.payload_invalid", f"{len(batch)} events in one batch; HubSpot sends at most 100")
    for i, e in enumerate(batch):
        missing = [k for k in ("portalId", "subscriptionType", "objectId", "occurredAt", "subscriptionId") if k not in e]
        if missing:
            raise WebhookRejected(400, "hubspot.payload_invalid", f"event {i} lacks {', '.join(missing)}")
        problems = _EVENT.validate(e)
        if problems:
            raise WebhookRejected(400, "hubspot.payload_invalid", f"event {i}: " + "; ".join(
                f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in sorted(problems.items())))
    return batch


class _EventSchema(Schema):
    """The fields of a webhook event Ringback reads; the rest is kept as HubSpot sent it."""

    class Meta:
        unknown = INCLUDE

    portalId = Id(required=True, max_length=20)
    objectId = Id(required=True, max_length=30)
    subscriptionId = Id(required=True, max_length=30)
    occurredAt = fields.Integer(required=True, validate=validate.Range(min=0, max=10**14))
    subscriptionType = Text(required=True, max_length=100)
    objectTypeId = Text(load_default=None, max_length=20)
    propertyName = Text(load_default=None, max_length=200)
    propertyValue = Text(load_default=None, allow_none=True, max_length=1000)


_EVENT = _EventSchema()


def check_signature(body: bytes, headers, *, client_secret: str | None, url: str, method: str = "POST",
                    now: datetime | None = None) -> None:
    """HubSpot's v3 signature over method + URI + body + timestamp, within 5 minutes (webhooks,
    CRM card fetches, workflow actions)."""
    if not client_secret:
        raise WebhookRejected(401, "hubspot.not_configured", "HUBSPOT_CLIENT_SECRET is not set: no signature can be checked")
    signature = headers.get("X-HubSpot-Signature-v3")
    stamp = headers.get("X-HubSpot-Request-Timestamp")
    if not signature or not stamp:
        raise WebhookRejected(401, "hubspot.signature_missing",
                              "X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp headers are required")
    if not token_like(signature) or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 15:
        raise WebhookRejected(401, "hubspot.signature_invalid",
                              "X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp is not of HubSpot's form")
    now_ms = int((now or datetime.now(timezone.utc)).timestamp() * 1000)
    try:
        if int(stamp) - now_ms > MAX_SKEW_MS:
            raise ValueError
        valid = Signature.is_valid(signature=signature, client_secret=client_secret,
                                   request_body=body.decode("utf-8"), http_uri=signed_uri(url), http_method=method,
                                   signature_version="v3", timestamp=stamp)
    except (InvalidSignatureTimestampError, ValueError):
        raise WebhookRejected(401, "hubspot.timestamp_stale",
                              f"X-HubSpot-Request-Timestamp {stamp!r} is not within 5 minutes of now") from None
    except UnicodeDecodeError:
        raise WebhookRejected(400, "hubspot.payload_invalid", "body is not UTF-8") from None
    if not valid:
        raise WebhookRejected(401, "hubspot.signature_invalid", "X-HubSpot-Signature-v3 does not match this request")


def parse(event: dict):
    """A CallRef for a call logged or changed in a way that can mean missed; a MeetingRef for a
    meeting logged (a booking); a BookingEvent to check for a deal moved to another stage;
    else IgnoredEvent."""
    kind = event.get("subscriptionType", "")
    if event.get("objectTypeId") == CALL_OBJECT and (
            kind == "object.creation" or (kind == "object.propertyChange" and event.get("propertyName") in CALL_PROPERTIES)):
        return CallRef(provider="hubspot", call_id=str(event["objectId"]))
    if event.get("objectTypeId") == MEETING_OBJECT and (
            kind == "object.creation" or (kind == "object.propertyChange"
                                          and event.get("propertyName") == "hs_meeting_outcome")):
        # Logged, or its outcome set later (scheduled, rescheduled...): fetched, then a booking if it is one.
        return MeetingRef(provider="hubspot", meeting_id=str(event["objectId"]))
    if (event.get("objectTypeId") == DEAL_OBJECT or kind == "deal.propertyChange") and \
            event.get("propertyName") == "dealstage" and event.get("propertyValue"):
        return BookingEvent(provider="hubspot", booking_id=f"deal:{event['objectId']}:{event['propertyValue']}",
                            phone=None, deal_ref=str(event["objectId"]), stage=str(event["propertyValue"]),
                            is_booking=None)
    return IgnoredEvent(provider="hubspot", kind=f"{kind}:{event.get('objectTypeId') or event.get('propertyName') or ''}")


def event_key(event: dict) -> str:
    # eventId is not guaranteed unique: HubSpot's own advice is these four together.
    return f"{event['subscriptionId']}:{event['objectId']}:{event['occurredAt']}:{event.get('propertyName') or ''}"
