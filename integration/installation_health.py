"""Each CRM installation's health, for `ringback installations list`: its token (valid, expiring,
expired, unreadable), the last event heard and CRM write made, failed writes, a Salesforce org's
Outbound Message URL, whether its sub-account can text, and when catch-up last listed its calls
(and how many no webhook brought). Never a token."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from . import texting
from .models import Agency, Installation, SubAccount, SyncOp


def ago(when, now) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if abs(seconds) >= size:
            return f"{seconds / size:.0f} {unit} ago" if seconds >= 0 else f"in {-seconds / size:.0f} {unit}"
    return "just now" if seconds >= 0 else "in a moment"


def rows(s, config, vault, now: datetime) -> list[dict]:
    """One dict per installation (the JSON `ringback installations list --format json` prints)."""
    rows = []
    for inst in s.scalars(select(Installation).order_by(Installation.id)):
        sub = s.get(SubAccount, inst.sub_account_id) if inst.sub_account_id else None
        agency = s.get(Agency, inst.agency_id) if inst.agency_id else None
        failed = s.scalar(select(func.count()).select_from(SyncOp).where(
            SyncOp.sub_account_id == inst.sub_account_id, SyncOp.status == "failed")) if sub else 0
        if inst.expires_at is None:
            token = "no expiry" if inst.kind == "private_token" else "valid until refused"
        elif inst.expires_at > now:
            token = f"valid, expires {ago(inst.expires_at, now)}"
        else:
            token = "expired" + (", refreshed on next use" if inst.refresh_token or inst.agency_id else "")
        try:
            vault.open(inst.access_token)
        except Exception:  # noqa: BLE001 (a key that was rotated away: say so, never show the token)
            token = "unreadable: encrypted with a key RINGBACK_ENCRYPTION_KEY no longer has"
        outbound = None
        if inst.webhook_secret:  # a Salesforce org's Outbound Message URL secret
            try:
                outbound = f"{config.public_url}/webhooks/salesforce/{vault.open(inst.webhook_secret)}"
            except Exception:  # noqa: BLE001
                outbound = "unreadable"
        cannot = texting.problem(s, config, sub) if sub else None
        rows.append({
            "texting": f"cannot text: {cannot.why}; {cannot.fix}" if cannot else ("ok" if sub else None),
            "id": inst.id, "provider": inst.provider, "kind": inst.user_type or inst.kind,
            "account": inst.external_id or (sub.external_id if sub else None),
            "sub_account": f"{sub.id} {sub.name}" if sub else f"agency: {agency.name if agency else '?'}",
            "token": token, "expires_at": inst.expires_at.isoformat() if inst.expires_at else None,
            "last_event": ago(inst.last_event_at, now), "last_write": ago(inst.last_write_at, now),
            "failed_writes": failed, "outbound_message_url": outbound,
            "caught_up": (f"could not list calls: {sub.catch_up_error}" if sub and sub.catch_up_error
                          else ago(sub.caught_up_at, now) if sub else "-"),
            "found_by_catch_up": sub.catch_up_found if sub else 0})
    return rows
