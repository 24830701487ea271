"""A sub-account's own facts (name, number, hours...) changed, and a sub-account removed."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from connectors import registry
from connectors.base import secret_hash

from .models import Call, Installation, Recovery, Step, SubAccount, SyncOp, utcnow
from .settings_store import save_text_back

PROFILE = ("name", "phone_number", "timezone", "business_hours", "booking_url")


def active(session: Session, sub_id: int) -> SubAccount | None:
    """The sub-account, unless it does not exist or was removed."""
    sub = session.get(SubAccount, sub_id)
    return sub if sub is not None and sub.removed_at is None else None


def create(session: Session, vault, *, name: str, provider: str, external_id: str, phone_number: str | None,
           timezone: str, business_hours: str, booking_url: str | None, crm_token: str | None, public_url: str,
           instance_url: str | None = None) -> tuple[int, str | None]:
    """A sub-account made by hand (already validated), connected to its CRM when a token is given:
    (its id, a Salesforce org's new Outbound Message URL or None). IntegrityError (at flush) when
    its number or CRM account is another sub-account's."""
    sub = SubAccount(name=name, provider=provider, external_id=external_id, phone_number=phone_number,
                     timezone=timezone, business_hours=business_hours, booking_url=booking_url)
    session.add(sub)
    session.flush()
    outbound_url = None
    if crm_token:
        outbound_url = connect_crm(session, sub, crm_token, vault, public_url=public_url, instance_url=instance_url)
    return sub.id, outbound_url


def update_profile(session: Session, sub: SubAccount, **values) -> list[str]:
    """Set the given facts (already validated by the caller); the names of those that changed.
    Raises IntegrityError (at flush) when the number is another sub-account's."""
    changed = []
    for name, value in values.items():
        if name not in PROFILE:
            raise ValueError(f"{name} is not something a sub-account has")
        if getattr(sub, name) != value:
            setattr(sub, name, value)
            changed.append(name)
    if "phone_number" in changed:
        forget_sender_check(sub)
        if registry.get(sub.provider).known_by_number and sub.phone_number:
            sub.external_id = sub.phone_number
    session.flush()
    return changed


def forget_sender_check(sub: SubAccount) -> None:
    """The sender changed: what the last check with its vendor found (integration.sender_check) no
    longer holds."""
    sub.sender_problem, sub.sender_checked_at = None, None


def connect_crm(session: Session, sub: SubAccount, token: str, vault, *, public_url: str,
                instance_url: str | None = None) -> str | None:
    """Give the sub-account a CRM token by hand (a private integration or app token), sealed,
    replacing the one it has. A Salesforce org also gets its own Outbound Message URL secret,
    once; returns that URL when it is new."""
    vendor = registry.crm(sub.provider)
    if vendor is None:
        raise ValueError(f"{sub.name} is a Twilio-number sub-account: it has no CRM to connect")
    inst = session.scalar(select(Installation).where(Installation.sub_account_id == sub.id))
    if inst is None:
        inst = Installation(sub_account_id=sub.id, provider=sub.provider)
        session.add(inst)
    inst.kind, inst.access_token = "private_token", vault.seal(token.strip())
    inst.refresh_token = inst.expires_at = None
    if instance_url:
        inst.instance_url = instance_url
    if vendor.needs_instance_url and not inst.instance_url:
        raise ValueError(f"a {vendor.name} {vendor.account_noun} needs its instance URL (--{vendor.key}-instance)")
    outbound = None
    if vendor.secret_webhook_url and not inst.webhook_secret:
        webhook_secret = secrets.token_urlsafe(24)
        inst.webhook_secret, inst.webhook_secret_hash = vault.seal(webhook_secret), secret_hash(webhook_secret)
        outbound = f"{public_url}/webhooks/{vendor.key}/{webhook_secret}"
    session.flush()
    return outbound


def counts(session: Session, sub: SubAccount) -> dict:
    """What the reports keep of it: calls, recoveries, bookings."""
    return {"calls": session.scalar(select(func.count()).select_from(Call).where(Call.sub_account_id == sub.id)),
            "recoveries": session.scalar(select(func.count()).select_from(Recovery).where(
                Recovery.sub_account_id == sub.id)),
            "booked": session.scalar(select(func.count()).select_from(Recovery).where(
                Recovery.sub_account_id == sub.id, Recovery.state == "booked"))}


def remove(session: Session, sub: SubAccount, now: datetime | None = None) -> None:
    """Stop everything it does and let its number and CRM account go, keeping its history.

    Its calls, texts and recoveries stay (the reports go on counting them); its tokens are
    deleted, scheduled texts and CRM writes cancelled, open recoveries closed, and the number
    and CRM account freed so another sub-account (or a new install) can take them."""
    now = now or utcnow()
    save_text_back(session, sub, enabled=False)
    session.execute(delete(Installation).where(Installation.sub_account_id == sub.id))
    session.execute(update(Step).where(Step.sub_account_id == sub.id, Step.status == "pending")
                    .values(status="cancelled", last_error="sub-account removed", finished_at=now))
    session.execute(update(SyncOp).where(SyncOp.sub_account_id == sub.id, SyncOp.status == "pending")
                    .values(status="failed", last_error="sub-account removed"))
    session.execute(update(Recovery).where(Recovery.sub_account_id == sub.id, Recovery.open_key.is_not(None))
                    .values(open_key=None, closed_at=now))
    sub.removed_at, sub.phone_number = now, None
    sub.external_id = f"removed:{sub.id}:{sub.external_id}"[:100]
    session.flush()
