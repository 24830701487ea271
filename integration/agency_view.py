"""What an agency sees of its sub-accounts: each one's state and its last 30 days. One
implementation for the agency page (routes/agency.py) and the admin API (api/)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from connectors import registry

from . import installation_health, report, texting
from .models import SubAccount, utcnow


@dataclass(frozen=True)
class SubAccountRow:
    sub: SubAccount
    source: str  # the CRM's own account, as its vendor names it ("GoHighLevel location ...")
    enabled: bool  # the text back switched on
    problem: texting.Problem | None  # why it cannot text now, if it cannot
    not_texted: int  # missed callers not texted for want of a way to text, in the period
    caught_up: str  # "3 min ago", "never", "failing: ..."
    found_late: int  # calls catch-up found that no webhook brought
    missed: int
    texted: int
    replied: int
    booked: int
    value: float


def agency_subs(s, agency_id: int | None, sub_ids: list[int] = ()) -> list[SubAccount]:
    """The live sub-accounts of ``agency_id`` and those in ``sub_ids`` (a viewer's own), by name."""
    where = [SubAccount.id.in_(list(sub_ids) or [-1])]
    if agency_id is not None:
        where = [(SubAccount.agency_id == agency_id) | SubAccount.id.in_(list(sub_ids) or [-1])]
    return list(s.scalars(select(SubAccount).where(*where, SubAccount.removed_at.is_(None))
                          .order_by(SubAccount.name, SubAccount.id)))


def rows(s, config, subs: list[SubAccount], now: datetime | None = None) -> list[SubAccountRow]:
    """Each sub-account's row, all of them read at once (a few queries, not a few per sub-account)."""
    now = now or utcnow()
    recent = report.recent_many(s, [sub.id for sub in subs], now)
    settings, problems, not_texted = texting.standing(s, config, subs, now - timedelta(days=report.RECENT_DAYS))
    return [SubAccountRow(
        sub=sub, source=registry.get(sub.provider).source(sub.external_id), enabled=settings[sub.id].enabled,
        problem=problems[sub.id], not_texted=not_texted.get(sub.id, 0),
        caught_up=(f"failing: {sub.catch_up_error[:120]}" if sub.catch_up_error
                   else installation_health.ago(sub.caught_up_at, now)),
        found_late=sub.catch_up_found or 0, missed=recent[sub.id].missed, texted=recent[sub.id].texted,
        replied=recent[sub.id].replied, booked=recent[sub.id].booked, value=recent[sub.id].value) for sub in subs]


def row(s, config, sub: SubAccount, now: datetime | None = None) -> SubAccountRow:
    return rows(s, config, [sub], now)[0]
