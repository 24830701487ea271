"""Twilio accounts: an agency's own, connected once, or the deployment's default.

Which account a sub-account texts through: its agency's, else the deployment's default
(connected without --agency), else TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN from the environment
(a single-business deployment), else the sandbox. Twilio signs a number's webhooks with the auth
token of the account that owns the number, so webhooks are checked with the token of the
account their AccountSid names. An account connected with an API key (Ringback never sees its
auth token) gets webhook URLs with HTTP Basic credentials in them instead, checked by the route.
"""
from __future__ import annotations

import secrets

from sqlalchemy import select

from connectors.twilio.client import Credentials, check_account

from .db import transaction
from .models import Agency, SubAccount, TwilioAccount, utcnow


def connect(rt, account_sid: str, secret: str, agency_id: int | None = None, *,
            api_key_sid: str | None = None) -> TwilioAccount:
    """Check the credentials with Twilio, then store them sealed (replacing the agency's, or the
    default's, earlier account). ``secret`` is the auth token, or with ``api_key_sid`` the API
    key's secret. Raises ValueError saying what is wrong; nothing is stored then."""
    account_sid, secret = (account_sid or "").strip(), (secret or "").strip()
    api_key_sid = (api_key_sid or "").strip() or None
    with rt.sessions() as s:
        if agency_id is not None and s.get(Agency, agency_id) is None:
            raise ValueError(f"no agency {agency_id}")
        taken = s.scalar(select(TwilioAccount).where(TwilioAccount.account_sid == account_sid))
        if taken is not None and taken.agency_id != agency_id:
            owner = f"agency {taken.agency_id}" if taken.agency_id else "the deployment's default"
            raise ValueError(f"{account_sid} is already connected as {owner}")
    name = check_account(Credentials(account_sid, secret, api_key_sid), rt.config.twilio_api_url)
    with transaction(rt.sessions) as s:
        scope = (TwilioAccount.agency_id == agency_id) if agency_id is not None else TwilioAccount.agency_id.is_(None)
        row = s.scalar(select(TwilioAccount).where(scope).with_for_update())
        if row is None:
            row = TwilioAccount(agency_id=agency_id, account_sid=account_sid, auth_token="")
            s.add(row)
        same_login = row.account_sid == account_sid and row.webhook_login
        row.account_sid, row.auth_token, row.api_key_sid = account_sid, rt.vault.seal(secret), api_key_sid
        if api_key_sid is None:
            row.webhook_login = None
        elif not same_login:  # kept across a key rotation: the numbers' URLs stay valid
            row.webhook_login = rt.vault.seal(secrets.token_hex(24))
        row.friendly_name, row.checked_at = name[:200], utcnow()
    rt.forget_twilio_accounts()
    return row


def _credentials(vault, row) -> Credentials:
    return Credentials(row.account_sid, vault.open(row.auth_token), row.api_key_sid,
                       vault.open(row.webhook_login) if row.webhook_login else None)


def credentials_for_sub(session, vault, sub_account_id: int) -> Credentials | None:
    """The connected account a sub-account texts through (its agency's, else the default), or
    None (the environment's account, or the sandbox)."""
    agency_id = session.scalar(select(SubAccount.agency_id).where(SubAccount.id == sub_account_id))
    rows = session.scalars(select(TwilioAccount).where(
        (TwilioAccount.agency_id == agency_id) | TwilioAccount.agency_id.is_(None))).all()
    chosen = next((r for r in rows if r.agency_id is not None), None) or next(iter(rows), None)
    return _credentials(vault, chosen) if chosen else None


def credentials_for_account(session, vault, account_sid: str) -> Credentials | None:
    row = session.scalar(select(TwilioAccount).where(TwilioAccount.account_sid == account_sid))
    return _credentials(vault, row) if row else None


def any_connected(session) -> bool:
    return session.scalar(select(TwilioAccount.id).limit(1)) is not None


def messaging_service_of(session, sub_account_id: int) -> str | None:
    return session.scalar(select(SubAccount.messaging_service_sid).where(SubAccount.id == sub_account_id))
