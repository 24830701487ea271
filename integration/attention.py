"""What needs attention first, across the sub-accounts a viewer may see: the health list of the
agency's health page (routes/agency.py). Each concern names its sub-account with the CRM's own
account id, what is wrong in words, and the one fix; the most urgent first (callers not being
texted now), then what loses data (a CRM token refused, calls no longer arriving, CRM writes
failed), then what annoys callers (GoHighLevel's own text back doubling ours) or delays
(catch-up failing). Read for all sub-accounts in a handful of queries."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from connectors import registry

from . import sync, texting
from .installation_health import ago
from .models import CRM_TEXT_STATUS, Call, Installation, Message, SubAccount, SyncOp

RECENT = timedelta(days=30)
QUIET_DAYS = 3  # no call heard for this long...
USED_TO = 5  # ...by a sub-account that heard at least this many in the 30 days before: webhooks stopped?
# The order of concerns on the page: the first stops callers being texted now.
RANKS = {"not_texting": 0, "token": 1, "quiet": 2, "failed_writes": 3, "doubled": 4, "catch_up": 5}


@dataclass(frozen=True)
class Concern:
    sub: SubAccount
    source: str  # the CRM's own account id, as its vendor names it
    kind: str  # a key of RANKS
    what: str
    fix: str
    count: int = 0  # callers not texted, failed writes, doubled texts...

    @property
    def rank(self) -> int:
        return RANKS[self.kind]


def concerns(s, config, vault, subs: list[SubAccount], now: datetime) -> list[Concern]:
    """Every concern of ``subs``, the most urgent first (then by sub-account name)."""
    ids = [sub.id for sub in subs] or [-1]
    _, problems, not_texted = texting.standing(s, config, subs, now - RECENT)
    installs: dict[int, Installation] = {}
    for inst in s.scalars(select(Installation).where(Installation.sub_account_id.in_(ids))):
        installs[inst.sub_account_id] = inst
    failed = dict(s.execute(select(SyncOp.sub_account_id, func.count()).where(
        SyncOp.sub_account_id.in_(ids), SyncOp.status == "failed").group_by(SyncOp.sub_account_id)).all())
    doubled = dict(s.execute(select(Message.sub_account_id, func.count(func.distinct(Message.recovery_id))).where(
        Message.sub_account_id.in_(ids), Message.status == CRM_TEXT_STATUS, Message.created_at >= now - RECENT)
        .group_by(Message.sub_account_id)).all())
    quiet_since = now - timedelta(days=QUIET_DAYS)
    last_call = dict(s.execute(select(Call.sub_account_id, func.max(Call.started_at)).where(
        Call.sub_account_id.in_(ids), Call.started_at >= now - RECENT - timedelta(days=QUIET_DAYS))
        .group_by(Call.sub_account_id)).all())
    before = dict(s.execute(select(Call.sub_account_id, func.count()).where(
        Call.sub_account_id.in_(ids), Call.started_at >= quiet_since - RECENT, Call.started_at < quiet_since)
        .group_by(Call.sub_account_id)).all())
    found: list[Concern] = []
    for sub in subs:
        vendor = registry.get(sub.provider)
        source = vendor.source(sub.external_id)

        def add(kind: str, what: str, fix: str, count: int = 0) -> None:
            found.append(Concern(sub, source, kind, what, fix, count))

        problem = problems[sub.id]
        if problem is not None:
            lost = not_texted.get(sub.id, 0)
            add("not_texting", f"cannot text missed callers: {problem.why}"
                + (f" ({lost} caller(s) not texted in 30 days)" if lost else ""), problem.fix, lost)
        inst = installs.get(sub.id)
        if vendor.is_crm:
            if inst is None:
                add("token", f"Ringback is not connected to {vendor.name} any more (uninstalled, or its token "
                    "was removed): nothing is written to the CRM", f"install Ringback again from {vendor.name}'s "
                    "marketplace")
            elif inst.last_error:
                add("token", f"{vendor.name} refused Ringback's token: {inst.last_error[:300]}",
                    f"install Ringback again from {vendor.name}'s marketplace (the grant was revoked or expired)")
            elif inst.expires_at is not None and inst.expires_at <= now and not (inst.refresh_token or inst.agency_id):
                add("token", f"the {vendor.name} token expired {ago(inst.expires_at, now)} and cannot be refreshed",
                    f"install Ringback again from {vendor.name}'s marketplace, or give a new private token")
        last = last_call.get(sub.id)
        if before.get(sub.id, 0) >= USED_TO and (last is None or last < quiet_since):
            add("quiet", f"no call heard for {ago(last, now).replace(' ago', '')} (there were {before[sub.id]} "
                f"in the 30 days before): {vendor.name}'s webhooks may have stopped reaching Ringback",
                "check the phone number still forwards to the sub-account and that Ringback is still installed; "
                "catch-up lists the calls no webhook brought" if vendor.is_crm else
                "check the number's voice webhook still points at Ringback (its number page)", before[sub.id])
        if failed.get(sub.id):
            add("failed_writes", f"{failed[sub.id]} write(s) to {vendor.name} failed for good (the vendor's "
                "error is beside each, below)", "mend what the error says, then retry them below", failed[sub.id])
        if doubled.get(sub.id):
            add("doubled", f"{vendor.name} itself also texted {doubled[sub.id]} caller(s) within two minutes of "
                "Ringback's text (most likely its own Missed Call Text Back): they got two texts",
                f"turn it off in {vendor.name} ({vendor.own_text_back_setting})" if vendor.own_text_back_setting
                else f"turn off {vendor.name}'s own missed-call text", doubled[sub.id])
        if sub.catch_up_error:
            add("catch_up", f"Ringback could not ask {vendor.name} for the calls it may have missed: "
                f"{sub.catch_up_error[:200]}", "reinstall or reconnect if the error says the access was refused; "
                "it is tried again every 5 minutes")
    found.sort(key=lambda c: (c.rank, c.sub.name.lower(), c.sub.id))
    return found


def failed_writes(s, subs: list[SubAccount], limit: int = 200) -> list[SyncOp]:
    """The failed CRM writes of ``subs``, newest first."""
    return list(s.scalars(select(SyncOp).where(SyncOp.sub_account_id.in_([sub.id for sub in subs] or [-1]),
                                               SyncOp.status == "failed")
                          .order_by(SyncOp.updated_at.desc(), SyncOp.id.desc()).limit(limit)))


class NotTheirs(LookupError):
    """A CRM write that is not a failed write of these sub-accounts."""


def retry_failed(rt, subs: list[SubAccount], op_ids: list[int] | None) -> tuple[list[int], list[int]]:
    """Put failed CRM writes of ``subs`` back in line (``op_ids``, else all of them): (the writes,
    their recoveries to run again). NotTheirs, nothing changed, when an id is not one of them."""
    with rt.read_sessions() as s:
        theirs = set(s.scalars(select(SyncOp.id).where(
            SyncOp.sub_account_id.in_([sub.id for sub in subs] or [-1]), SyncOp.status == "failed")))
    if op_ids is not None:
        foreign = [i for i in op_ids if i not in theirs]
        if foreign:
            raise NotTheirs(foreign[0])
    chosen = sorted(theirs if op_ids is None else set(op_ids))
    return chosen, (sync.retry(rt, chosen) if chosen else [])
