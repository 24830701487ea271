"""Bookings: the tracked link in every text, and the generic booking webhook.

GET /b/<token>            records the click on a recovery's booking link and forwards to the
                          sub-account's booking page (404 page for a link Ringback never made)
POST /webhooks/booking    a booking from any scheduling tool (Calendly-style), checked in order:
  1. body over 1 MiB                                   -> 413
  2. X-Ringback-Account missing or not a sub-account   -> 401 booking.account_unknown
  3. X-Ringback-Signature missing or not t=..,v1=..    -> 401 booking.signature_missing
  4. t more than 5 minutes from now                    -> 401 booking.timestamp_stale
  5. v1 is not HMAC-SHA256(secret, "<t>.<body>")       -> 401 booking.signature_invalid
  6. body not JSON with a phone                        -> 400 booking.payload_invalid
  7. the same booking_id and status again              -> 200 duplicate
  8. stored, committed, queued                         -> 202
The secret is the sub-account's own (`ringback subaccount booking-secret ID`).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time

from flask import Blueprint, jsonify, redirect, render_template, request
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates
from sqlalchemy import select, update

from connectors.base import Text, iso_time, load_object, same_secret

from .. import inbox
from ..worker import tasks
from ..db import transaction
from ..models import Recovery, SubAccount, utcnow
from . import rt

log = logging.getLogger("ringback.booking")
bp = Blueprint("booking", __name__)
MAX_SKEW = 300
MAX_VALUE = 10_000_000  # one booking's value, in the sub-account's currency
_ACCOUNT = re.compile(r"\A[1-9][0-9]{0,9}\Z")
_STAMP = re.compile(r"\A[0-9]{1,12}\Z")


class BookingBody(Schema):
    """What a booking tool sends; every refusal names the field."""

    class Meta:
        unknown = INCLUDE

    phone = Text(required=True, max_length=40, validate=validate.Length(min=1))
    booking_id = Text(load_default=None, allow_none=True, max_length=200)
    starts_at = Text(load_default=None, allow_none=True, max_length=64)
    # Finite (marshmallow refuses NaN and Infinity), never negative, never absurd.
    value = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_VALUE))
    status = Text(load_default=None, allow_none=True, max_length=40)

    @validates("starts_at")
    def _starts(self, value, **_):
        when = iso_time(value) if value else None
        if value and (when is None or when.tzinfo is None or not 2000 <= when.year <= 2200):
            raise ValidationError("an ISO 8601 time with its offset, e.g. 2026-12-01T15:00:00-06:00")


@bp.get("/b/<token>")
def booking_link(token: str):
    with transaction(rt().sessions) as s:
        rec = s.scalar(select(Recovery).where(Recovery.link_token == token))
        sub = s.get(SubAccount, rec.sub_account_id) if rec else None
        if rec is None or not sub.booking_url:
            return render_template("message.html", status=404, title="This link has expired",
                                   message="Call or text the business back and they'll book you in.", hint=None,
                                   link=None), 404
        s.execute(update(Recovery).where(Recovery.id == rec.id).values(
            link_clicks=Recovery.link_clicks + 1, link_clicked_at=rec.link_clicked_at or utcnow()))
        target = sub.booking_url
    return redirect(target, 302)


def sign(secret: str, body: bytes, stamp: int | None = None) -> str:
    """The X-Ringback-Signature a booking tool sends: t=<unix seconds>,v1=<hex HMAC-SHA256>."""
    stamp = int(time.time()) if stamp is None else stamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def _refuse(status: int, key: str, message: str):
    log.warning("booking refused key=%s status=%s remote=%s: %s", key, status, request.remote_addr, message)
    return jsonify(error=message), status


@bp.post("/webhooks/booking")
def receive():
    runtime = rt()
    body = request.get_data(cache=True)
    account = request.headers.get("X-Ringback-Account", "")
    sub = None
    if _ACCOUNT.match(account) and int(account) < 2**31:
        with runtime.sessions() as s:
            sub = s.get(SubAccount, int(account))
    if sub is None or not sub.booking_secret:
        return _refuse(401, "booking.account_unknown", "X-Ringback-Account names no sub-account with a booking secret")
    parts = dict(p.split("=", 1) for p in request.headers.get("X-Ringback-Signature", "").split(",") if "=" in p)
    if not _STAMP.match(parts.get("t", "")) or not parts.get("v1"):
        return _refuse(401, "booking.signature_missing", "X-Ringback-Signature must be t=<unix seconds>,v1=<hex>")
    if abs(time.time() - int(parts["t"])) > MAX_SKEW:
        return _refuse(401, "booking.timestamp_stale", "the signature's timestamp is more than 5 minutes from now")
    expected = sign(runtime.vault.open(sub.booking_secret), body, int(parts["t"])).split("v1=")[1]
    if not same_secret(parts["v1"], expected):
        return _refuse(401, "booking.signature_invalid", "X-Ringback-Signature does not match this body")
    try:
        payload = load_object(body, BookingBody())  # unknown fields are kept as sent
    except ValueError as exc:
        return _refuse(400, "booking.payload_invalid", f"body must be JSON with the caller's phone: {exc}")
    booking_id = payload["booking_id"] or hashlib.sha256(body).hexdigest()[:24]
    status = (payload["status"] or "booked").lower()
    stored = inbox.store(runtime, provider="booking", kind="BookingEvent", payload=payload, sub_id=sub.id,
                         key=f"booking:{booking_id}:{status}")
    if stored.event_id is None:
        return jsonify(status="duplicate")
    tasks.queue_event(stored.event_id)
    return jsonify(status="accepted"), 202
