"""Changing many of an agency's sub-accounts at once, recorded so that it can be undone.

A change applies to all the selected sub-accounts or to none (one transaction: a refusal for one
leaves every one as it was). Its record (models.BulkChange) holds who made it, when, what, which
sub-accounts, and each one's own workflow rows as they were, and undoing it puts those back
(a row the change created is removed again, so the sub-account inherits the agency's defaults as
before).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from workflows import config

from .models import BulkChange, SubAccount, WorkflowSetting, utcnow
from .settings_store import PACK_WORKFLOWS, SUMMARY, TEXT_BACK, apply_pack, save_agency_text_back, save_workflow

WORKFLOWS = (TEXT_BACK, *PACK_WORKFLOWS, SUMMARY)


class BulkError(ValueError):
    """A bulk change refused as a whole; the message says why."""


class NotFound(BulkError):
    """No such change (or sub-account) in this agency."""


def select_subs(s, agency_id: int, *, sub_account_ids: list[int] | None = None, crm: str | None = None,
                every: bool = False, trade: str | None = None) -> list[SubAccount]:
    """The agency's live sub-accounts chosen by ids, by CRM, by trade (the pack applied last), or
    all of them; never an empty choice."""
    chosen = [bool(sub_account_ids), crm is not None, every, trade is not None]
    if sum(chosen) != 1:
        raise BulkError("choose the sub-accounts one way: by ids, by CRM, by trade, or all")
    where = [SubAccount.agency_id == agency_id, SubAccount.removed_at.is_(None)]
    if crm is not None:
        where.append(SubAccount.provider == crm)
    if trade is not None:
        where.append(SubAccount.trade == trade)
    if sub_account_ids:
        where.append(SubAccount.id.in_(sub_account_ids))
    subs = list(s.scalars(select(SubAccount).where(*where).order_by(SubAccount.id)))
    if sub_account_ids:
        missing = sorted(set(sub_account_ids) - {sub.id for sub in subs})
        if missing:
            raise NotFound(f"no sub-account {', '.join(map(str, missing))} in this agency: nothing was changed")
    if not subs:
        raise BulkError("no sub-account of this agency matches: nothing was changed")
    return subs


def _own_rows(s, sub_ids: list[int], workflows) -> dict[str, dict]:
    rows = s.scalars(select(WorkflowSetting).where(WorkflowSetting.sub_account_id.in_(sub_ids),
                                                   WorkflowSetting.workflow.in_(list(workflows))))
    found: dict[str, dict] = {str(i): {w: None for w in workflows} for i in sub_ids}
    for row in rows:
        found[str(row.sub_account_id)][row.workflow] = {"enabled": row.enabled, "settings": dict(row.settings or {})}
    return found


def make(s, agency_id: int, actor: str, action: str, *, sub_account_ids: list[int] | None = None,
         crm: str | None = None, every: bool = False, trade: str | None = None, workflow: str = "",
         enabled: bool | None = None, pack_name: str = "") -> BulkChange:
    """The change an agency asked for (the API's body, the agency page's form), on its chosen
    sub-accounts: ``switch_workflow`` (``workflow``, ``enabled``) or ``apply_pack`` (``pack_name``)."""
    subs = select_subs(s, agency_id, sub_account_ids=sub_account_ids, crm=crm, every=every, trade=trade)
    if action == "switch_workflow" and enabled is not None:
        return switch_workflow(s, agency_id, actor, subs, workflow, enabled)
    if action == "apply_pack":
        return pack(s, agency_id, actor, subs, pack_name)
    raise BulkError("choose what to do: switch a workflow on or off, or apply a pack")


def switch_workflow(s, agency_id: int, actor: str, subs: list[SubAccount], workflow: str,
                    enabled: bool) -> BulkChange:
    if workflow not in WORKFLOWS:
        raise BulkError(f"unknown workflow {workflow!r} (one of {', '.join(WORKFLOWS)})")
    return _record(s, agency_id, actor, subs, "switch_workflow", {"workflow": workflow, "enabled": enabled},
                   [workflow], lambda sub: save_workflow(s, sub, workflow, enabled=enabled))


def pack(s, agency_id: int, actor: str, subs: list[SubAccount], name: str) -> BulkChange:
    if name not in config.PACKS:
        raise BulkError(f"unknown pack {name!r} (one of {', '.join(config.PACKS)})")
    trades = {str(sub.id): sub.trade for sub in subs}  # restored by undo with the workflow rows
    change = _record(s, agency_id, actor, subs, "apply_pack", {"pack": name}, PACK_WORKFLOWS,
                     lambda sub: apply_pack(s, sub, name))
    change.params = {"pack": name, "trades_before": trades}
    s.flush()
    return change


AGENCY = "agency"  # the key of the agency's own default rows in a change's ``before``


def set_defaults(s, agency_id: int, actor: str, changes: dict[str, dict]) -> BulkChange:
    """The agency's defaults ({workflow: {"enabled": bool or None, setting: value...}}), which every
    sub-account without its own value follows; recorded with the defaults as they were, for undo."""
    subs = list(s.scalars(select(SubAccount).where(SubAccount.agency_id == agency_id,
                                                   SubAccount.removed_at.is_(None))))
    unknown = set(changes) - set(WORKFLOWS)
    if unknown:
        raise BulkError(f"unknown workflow {sorted(unknown)[0]!r} (one of {', '.join(WORKFLOWS)})")
    rows = s.scalars(select(WorkflowSetting).where(WorkflowSetting.sub_account_id.is_(None),
                                                   WorkflowSetting.agency_id == agency_id,
                                                   WorkflowSetting.workflow.in_(list(changes))))
    before = {AGENCY: {w: None for w in changes}}
    for row in rows:
        before[AGENCY][row.workflow] = {"enabled": row.enabled, "settings": dict(row.settings or {})}
    try:
        for workflow, values in changes.items():
            values = dict(values)
            enabled = values.pop("enabled", None)
            if workflow == TEXT_BACK:
                save_agency_text_back(s, agency_id, subs, enabled=enabled, **values)
            else:
                save_workflow(s, None, workflow, agency_id=agency_id, enabled=enabled, **values)
    except ValueError as exc:  # the caller's transaction is rolled back: nothing was changed
        raise BulkError(f"{exc}; nothing was changed") from None
    row = BulkChange(agency_id=agency_id, actor=actor[:200], kind="agency_defaults",
                     params={"workflows": sorted(changes)}, sub_account_ids=[], before=before, created_at=utcnow())
    s.add(row)
    s.flush()
    return row


def _record(s, agency_id, actor, subs, kind, params, workflows, change) -> BulkChange:
    ids = [sub.id for sub in subs]
    before = _own_rows(s, ids, workflows)
    for sub in subs:
        try:
            change(sub)
        except ValueError as exc:  # the caller's transaction is rolled back: nothing was changed
            raise BulkError(f"{sub.name} (sub-account {sub.id}) refused it: {exc}; nothing was changed") from None
    row = BulkChange(agency_id=agency_id, actor=actor[:200], kind=kind, params=params, sub_account_ids=ids,
                     before=before, created_at=utcnow())
    s.add(row)
    s.flush()
    return row


def undo(s, agency_id: int, change_id: int, actor: str, now: datetime | None = None) -> BulkChange:
    """Put every sub-account of the change back as it was before it."""
    row = s.get(BulkChange, change_id)
    if row is None or row.agency_id != agency_id:
        raise NotFound(f"no bulk change {change_id} in this agency")
    if row.undone_at is not None:
        raise BulkError(f"bulk change {change_id} was undone already ({row.undone_at:%Y-%m-%d %H:%M} UTC, by "
                        f"{row.undone_by})")
    for sub_id, workflows in row.before.items():
        for workflow, was in workflows.items():
            scope = ([WorkflowSetting.sub_account_id.is_(None), WorkflowSetting.agency_id == agency_id]
                     if sub_id == AGENCY else [WorkflowSetting.sub_account_id == int(sub_id)])
            scope.append(WorkflowSetting.workflow == workflow)
            if was is None:
                s.execute(delete(WorkflowSetting).where(*scope))
                continue
            current = s.scalar(select(WorkflowSetting).where(*scope))
            if current is None:
                sub = s.get(SubAccount, int(sub_id)) if sub_id != AGENCY else None
                current = WorkflowSetting(sub_account_id=sub.id if sub else None,
                                          agency_id=sub.agency_id if sub else agency_id, workflow=workflow)
                s.add(current)
            current.enabled, current.settings = was["enabled"], dict(was["settings"])
    for sub_id, trade in (row.params or {}).get("trades_before", {}).items():
        sub = s.get(SubAccount, int(sub_id))
        if sub is not None:
            sub.trade = trade
    row.undone_at, row.undone_by = now or utcnow(), actor[:200]
    s.flush()
    return row


def listed(s, agency_id: int, limit: int = 100) -> list[BulkChange]:
    return list(s.scalars(select(BulkChange).where(BulkChange.agency_id == agency_id)
                          .order_by(BulkChange.id.desc()).limit(limit)))
