"""Agencies' admin API tokens: made (shown once), listed, revoked, and checked on each request.

A token is ``rb_`` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: a
token that random cannot be guessed from its hash, so a slow password hash would only slow every
API request (GitHub's and Stripe's tokens are kept the same way). Checking compares hashes by
looking one up, so no token is compared character by character.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from connectors.base import secret_hash

from .models import Agency, ApiToken, utcnow

PREFIX = "rb_"
SHOWN = 10  # characters of a token shown in lists ("rb_" and 7 more)
# last_used_at is written at most this often per token: an API client's every request is not a write.
USE_STAMP = timedelta(minutes=1)
MAX_NAME = 100


class TokenError(ValueError):
    """A refusal to make or revoke a token; the message says why."""


def create(s, agency_id: int, name: str, created_by: str) -> tuple[ApiToken, str]:
    """A new token for ``agency_id``: (its row, the token itself, which is never stored)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("give the token a name (what will use it), e.g. 'reporting script'")
    if len(name) > MAX_NAME:
        raise TokenError(f"a token's name is at most {MAX_NAME} characters")
    if s.get(Agency, agency_id) is None:
        raise TokenError(f"no agency {agency_id} (see `ringback agency list`)")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(agency_id=agency_id, name=name, token_hash=secret_hash(token), prefix=token[:SHOWN],
                   created_by=created_by[:200], created_at=utcnow())
    s.add(row)
    s.flush()
    return row, token


def listed(s, agency_id: int | None = None) -> list[ApiToken]:
    where = [ApiToken.agency_id == agency_id] if agency_id is not None else []
    return list(s.scalars(select(ApiToken).where(*where).order_by(ApiToken.id)))


def revoke(s, token_id: int, agency_id: int | None = None, now: datetime | None = None) -> ApiToken:
    """Revoke a token (only the agency's own when ``agency_id`` is given); revoking twice is no error."""
    row = s.get(ApiToken, token_id)
    if row is None or (agency_id is not None and row.agency_id != agency_id):
        raise TokenError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
    return row


def agency_for(s, header: str | None, now: datetime | None = None) -> ApiToken | None:
    """The live token an ``Authorization: Bearer ...`` header carries, else None."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = s.scalar(select(ApiToken).where(ApiToken.token_hash == secret_hash(token), ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= USE_STAMP:
        s.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        row.last_used_at = now
    return row
