"""Proofs of who opened a settings page inside a CRM, checked before anything is shown.

- GoHighLevel custom pages: the page asks its parent (postMessage REQUEST_USER_DATA) and gets
  the user's details encrypted with the app's Shared Secret in CryptoJS's passphrase format:
  base64("Salted__" + 8-byte salt + AES-256-CBC ciphertext), key and IV from OpenSSL's
  EVP_BytesToKey (MD5, one round). contracts/ghl/docs/marketplace-modules/
  shared_secret_customJS_customPages.md
- Salesforce Canvas: a signed request "<base64 HMAC-SHA256 of the envelope>.<base64 JSON
  envelope>" keyed with the connected app's consumer secret.
  https://developer.salesforce.com/docs/atlas.en-us.platform_connect.meta/platform_connect/canvas_app_signed_req_verify_signature.htm
- HubSpot: its signed requests (v3) for CRM cards carry the portal; the card links to the page
  with a short-lived token of ours (itsdangerous, keyed with RINGBACK_SECRET_KEY).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import time
from datetime import datetime

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from connectors.base import load_json, same_secret

# Salesforce documents issuedAt as when the request's OAuth token was issued ("for internal use
# only" in the newest guide), so it is not the time of this request: a page reloaded in the same
# Salesforce session carries the same value. A request older than the longest session
# Salesforce allows (24 hours) carries a dead token and is refused, so none is good for ever.
CANVAS_MAX_AGE = 24 * 3600
CANVAS_MAX_SKEW = 5 * 60
LINK_MAX_AGE = 10 * 60


class SsoRefused(Exception):
    """The proof is missing, tampered with, expired or for someone else; the message says which."""


# ------------------------------------------------------------------ GoHighLevel

def _evp_bytes_to_key(secret: bytes, salt: bytes, size: int = 48) -> bytes:
    # OpenSSL's EVP_BytesToKey with MD5 and one round: what CryptoJS does with a passphrase.
    out, block = b"", b""
    while len(out) < size:
        block = hashlib.md5(block + secret + salt).digest()  # noqa: S324 (the format's own KDF)
        out += block
    return out[:size]


def ghl_decrypt(payload: str, shared_secret: str | None) -> dict:
    """The user GoHighLevel vouches for: userId, companyId, role, type (agency|location), email,
    activeLocation..."""
    if not shared_secret:
        raise SsoRefused("GHL_SSO_KEY is not set: GoHighLevel's SSO cannot be checked")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise SsoRefused("the GoHighLevel SSO payload is not base64") from None
    if len(raw) < 32 or raw[:8] != b"Salted__" or (len(raw) - 16) % 16:
        raise SsoRefused("the GoHighLevel SSO payload is not in CryptoJS's format")
    key_iv = _evp_bytes_to_key(shared_secret.encode(), raw[8:16])
    decryptor = Cipher(algorithms.AES(key_iv[:32]), modes.CBC(key_iv[32:])).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    try:
        unpadder = padding.PKCS7(128).unpadder()
        data = load_json(unpadder.update(padded) + unpadder.finalize())
    except ValueError:
        raise SsoRefused("the GoHighLevel SSO payload does not decrypt with this app's shared secret") from None
    if not isinstance(data, dict) or not data.get("userId") or data.get("type") not in ("agency", "location"):
        raise SsoRefused("the GoHighLevel SSO payload does not name a user and whether they are agency or location")
    for name in ("userId", "companyId", "activeLocation", "email", "userName"):
        if data.get(name) is not None and not (isinstance(data[name], str) and len(data[name]) <= 200):
            raise SsoRefused(f"the GoHighLevel SSO payload's {name} is not a short string")
    return data


# ------------------------------------------------------------------ Salesforce Canvas

def canvas_verify(signed_request: str, consumer_secret: str | None, now: float | None = None) -> dict:
    """The Canvas envelope (context.user, context.organization.organizationId, ...) if authentic."""
    if not consumer_secret:
        raise SsoRefused("SALESFORCE_CLIENT_SECRET is not set: Canvas requests cannot be checked")
    signature, sep, envelope = (signed_request or "").partition(".")
    if not sep or not envelope.isascii():
        raise SsoRefused("the Canvas signed request has no signature part")
    expected = base64.b64encode(hmac.new(consumer_secret.encode(), envelope.encode(), hashlib.sha256).digest()).decode()
    if not same_secret(signature, expected):
        raise SsoRefused("the Canvas signed request's signature does not match")
    try:
        data = load_json(base64.b64decode(envelope + "=" * (-len(envelope) % 4)))
    except (binascii.Error, ValueError):
        raise SsoRefused("the Canvas envelope is not base64 JSON") from None
    if not isinstance(data, dict):
        raise SsoRefused("the Canvas envelope is not a JSON object")
    if data.get("algorithm") not in (None, "HMACSHA256"):
        raise SsoRefused(f"the Canvas request uses {str(data.get('algorithm'))[:40]}, not HMACSHA256")
    stamp = _canvas_time(data.get("issuedAt"))
    age = (now or time.time()) - stamp if stamp is not None else None
    if age is None or age > CANVAS_MAX_AGE or age < -CANVAS_MAX_SKEW:
        raise SsoRefused("the Canvas request has expired (or carries no time Ringback can read): reload the page in "
                         "Salesforce")
    context = data.get("context")
    organization = context.get("organization") if isinstance(context, dict) else None
    org_id = organization.get("organizationId") if isinstance(organization, dict) else None
    if not isinstance(org_id, str) or not org_id or len(org_id) > 18:
        raise SsoRefused("the Canvas request names no organization")
    if not isinstance(context.get("user") or {}, dict):
        raise SsoRefused("the Canvas request's user is not an object")
    return data


def _canvas_time(value) -> float | None:
    """issuedAt as Unix seconds (Salesforce sends milliseconds or an ISO time); None when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value) / (1000 if value > 1e11 else 1)
        return seconds if math.isfinite(seconds) and 0 < seconds < 1e11 else None
    try:
        when = datetime.fromisoformat(str(value)[:64].replace("Z", "+00:00"))
        return when.timestamp() if when.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


# ------------------------------------------------------------------ our own short-lived links

def link_token(secret_key: str, data: dict) -> str:
    return URLSafeTimedSerializer(secret_key, salt="ringback-settings-link").dumps(data)


def link_open(secret_key: str, token: str, max_age: int = LINK_MAX_AGE) -> dict:
    try:
        return URLSafeTimedSerializer(secret_key, salt="ringback-settings-link").loads(token, max_age=max_age)
    except SignatureExpired:
        raise SsoRefused("this link has expired: open Ringback from your CRM again") from None
    except BadSignature:
        raise SsoRefused("this link was not made by Ringback") from None
