"""Loading a sub-account's workflow settings: sub-account facts, agency defaults, its overrides."""
from __future__ import annotations

import functools
import json
from collections import namedtuple
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from connectors import registry

from workflows.hours import WeeklySchedule
from workflows.settings import TextBackSettings

from .models import SubAccount, WorkflowSetting
from .statements import SUB_COLUMNS, subs_table

TEXT_BACK = "missed_call_text_back"
# Settings a sub-account or agency may override (stored as JSON), with how to read them.
_OVERRIDABLE = {
    "business_hours_template": str, "after_hours_template": str, "voice_missed_message": str,
    "dedupe_window_seconds": int, "missed_under_seconds": int, "validity_seconds": int, "late_text_seconds": int,
    "own_numbers": frozenset, "block_list": frozenset,
    "missed_dispositions": lambda v: frozenset(str(x).strip().lower() for x in v),
    "answered_dispositions": lambda v: frozenset(str(x).strip().lower() for x in v),
    "send_via": str,
    "missed_statuses": lambda v: frozenset(str(x).strip().lower() for x in v),
}


_ws = WorkflowSetting.__table__


def _rows_for(sub_id, agency_id):
    """The workflow rows that apply to a sub-account: its own, and its agency's defaults."""
    return (_ws.c.sub_account_id == sub_id) | (
        _ws.c.sub_account_id.is_(None) & _ws.c.agency_id.is_not(None) & (_ws.c.agency_id == agency_id))


def _defaults_first(rows: list) -> list:
    return sorted(rows, key=lambda r: r.sub_account_id is not None)


# Every workflow's rows for a sub-account and its agency, in one query: a missed call needs
# the text back's and the pack's settings both.
_SELECT_WORKFLOWS = select(_ws.c.sub_account_id, _ws.c.workflow, _ws.c.enabled, _ws.c.settings).where(
    _rows_for(bindparam("_sub"), bindparam("_agency")))


class WorkflowRow(NamedTuple):
    sub_account_id: int | None  # None: the agency's default
    workflow: str
    enabled: bool
    settings: dict | None


SubRow = namedtuple("SubRow", [c.name for c in SUB_COLUMNS])  # what the hot path reads of a sub-account

# The sub-account and its workflow rows in one round trip (the hot path's first read).
_SELECT_SUB_WITH_WORKFLOWS = select(
    *SUB_COLUMNS, _ws.c.sub_account_id.label("ws_sub"), _ws.c.workflow, _ws.c.enabled, _ws.c.settings,
).select_from(subs_table.outerjoin(_ws, _rows_for(subs_table.c.id, subs_table.c.agency_id))).where(
    subs_table.c.id == bindparam("_id"))


def sub_with_workflows(session: Session, sub_id: int) -> tuple[SubRow, list[WorkflowRow]]:
    """(the sub-account's hot-path columns, workflow_rows) in one query; NoResultFound when gone."""
    found = session.connection().execute(_SELECT_SUB_WITH_WORKFLOWS, {"_id": sub_id}).all()
    if not found:
        raise NoResultFound(f"no sub-account {sub_id}")
    width = len(SUB_COLUMNS)
    rows = _defaults_first([WorkflowRow(*r[width:]) for r in found if r.workflow is not None])
    return SubRow(*found[0][:width]), rows


def workflow_rows(session: Session, sub) -> list:
    """The settings rows of every workflow: the agency's defaults first, the sub-account's last."""
    return _defaults_first(session.connection().execute(_SELECT_WORKFLOWS,
                                                        {"_sub": sub.id, "_agency": sub.agency_id}).all())


def workflow_rows_many(session: Session, subs: list) -> dict[int, list]:
    """``workflow_rows`` for many sub-accounts in one query (the agency page's hundreds)."""
    ids = [sub.id for sub in subs] or [-1]
    agencies = {sub.agency_id for sub in subs if sub.agency_id is not None} or {-1}
    found = session.connection().execute(
        select(_ws.c.sub_account_id, _ws.c.agency_id, _ws.c.workflow, _ws.c.enabled, _ws.c.settings).where(
            _ws.c.sub_account_id.in_(ids) | (_ws.c.sub_account_id.is_(None) & _ws.c.agency_id.in_(agencies)))).all()
    own: dict[int, list] = {}
    defaults: dict[int, list] = {}
    for r in found:
        row = WorkflowRow(r.sub_account_id, r.workflow, r.enabled, r.settings)
        (own.setdefault(r.sub_account_id, []) if r.sub_account_id is not None
         else defaults.setdefault(r.agency_id, [])).append(row)
    return {sub.id: [*defaults.get(sub.agency_id, []), *own.get(sub.id, [])] for sub in subs}


def text_back_settings(session: Session, sub, rows: list | None = None) -> TextBackSettings:
    """``sub`` is a SubAccount or a row with its columns (the hot path reads plain rows);
    ``rows`` from workflow_rows when the caller has them already."""
    rows = workflow_rows(session, sub) if rows is None else rows
    values: dict = {}
    enabled = True
    for row in (r for r in rows if r.workflow == TEXT_BACK):
        enabled = row.enabled
        for key, value in (row.settings or {}).items():
            if key in _OVERRIDABLE and value is not None:
                values[key] = _OVERRIDABLE[key](value)
    own = frozenset(values.pop("own_numbers", frozenset())) | ({sub.phone_number} if sub.phone_number else frozenset())
    return TextBackSettings(
        business_name=sub.name, timezone=sub.timezone, hours=WeeklySchedule.parse(sub.business_hours),
        booking_link=sub.booking_url, enabled=enabled, default_region=sub.default_region,
        own_numbers=own, **values,
    )


def crm_sends_texts(provider: str | None) -> bool:
    """Whether this CRM can send a sub-account's texts itself (GoHighLevel's conversations)."""
    vendor = registry.crm(provider)
    return bool(vendor is not None and vendor.sends_texts)


def texts_through_crm(sub, settings: TextBackSettings) -> bool:
    """The sub-account's texts go out through its CRM's own conversations, not Twilio."""
    return settings.send_via == sub.provider and crm_sends_texts(sub.provider)


def save_text_back(session: Session, sub: SubAccount, *, enabled: bool | None = None, **settings) -> WorkflowSetting:
    """Create or update the sub-account's override row (validated by building the settings)."""
    unknown = set(settings) - set(_OVERRIDABLE)
    if unknown:
        raise ValueError(f"unknown setting {sorted(unknown)[0]!r}")
    via = settings.get("send_via")  # an unknown value is refused by the settings themselves, below
    if isinstance(via, str) and crm_sends_texts(via) and via != sub.provider:
        raise ValueError(f"send_via {via} needs a {registry.crm(via).name} sub-account; {sub.name} is on {sub.provider}")
    row = session.scalar(select(WorkflowSetting).where(
        WorkflowSetting.sub_account_id == sub.id, WorkflowSetting.workflow == TEXT_BACK))
    if row is None:
        row = WorkflowSetting(sub_account_id=sub.id, agency_id=sub.agency_id, workflow=TEXT_BACK, settings={})
        session.add(row)
    merged = dict(row.settings or {})
    merged.update({k: (sorted(v) if isinstance(v, (set, frozenset)) else v) for k, v in settings.items()})
    row.settings = merged
    if enabled is not None:
        row.enabled = enabled
    session.flush()
    text_back_settings(session, sub)  # raises with the bad field named
    return row


def save_agency_text_back(session: Session, agency_id: int, subs: list, *, enabled: bool | None = None,
                          **settings) -> WorkflowSetting:
    """Set the agency's default text back (every sub-account without its own value follows it);
    checked by building each of ``subs``' settings with it, so a refusal names the field."""
    unknown = set(settings) - set(_OVERRIDABLE) - {"send_via"}
    if unknown or "send_via" in settings:
        raise ValueError(f"not an agency default: {sorted(unknown or {'send_via'})[0]!r}")
    row = session.scalar(select(WorkflowSetting).where(
        WorkflowSetting.sub_account_id.is_(None), WorkflowSetting.agency_id == agency_id,
        WorkflowSetting.workflow == TEXT_BACK))
    if row is None:
        row = WorkflowSetting(sub_account_id=None, agency_id=agency_id, workflow=TEXT_BACK, settings={})
        session.add(row)
    merged = dict(row.settings or {})
    merged.update(settings)
    row.settings = {k: v for k, v in merged.items() if v is not None}
    if enabled is not None:
        row.enabled = enabled
    session.flush()
    for sub in subs:
        text_back_settings(session, sub)  # raises with the bad field named
    return row


CRM_SETTINGS = "crm"  # the stage mapping: {"pipeline": name or id, "stages": {stage: CRM stage}, ...}


def stage_mapping(session: Session, sub) -> dict:
    return session.scalar(select(WorkflowSetting.settings).where(
        WorkflowSetting.sub_account_id == sub.id, WorkflowSetting.workflow == CRM_SETTINGS)) or {}


def save_stage_mapping(session: Session, sub, *, pipeline: str | None = None, stages: dict | None = None,
                       target: str = "stages", clear: bool = False, replace: bool = False) -> dict:
    """Map Ringback's stages to the CRM's own (else they are matched by name).

    ``replace``: the given mapping is the whole mapping (a form); otherwise it is merged in."""
    from workflows.stages import STAGES
    unknown = sorted(set(stages or {}) - set(STAGES))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not one of Ringback's stages ({', '.join(STAGES)})")
    row = session.scalar(select(WorkflowSetting).where(WorkflowSetting.sub_account_id == sub.id,
                                                       WorkflowSetting.workflow == CRM_SETTINGS))
    if row is None:
        row = WorkflowSetting(sub_account_id=sub.id, agency_id=sub.agency_id, workflow=CRM_SETTINGS, settings={})
        session.add(row)
    current = {} if clear else dict(row.settings or {})
    if replace:
        current.pop("pipeline", None)
        current.pop(target, None)
    if pipeline:
        current["pipeline"] = pipeline
    cleaned = {k: v.strip() for k, v in (stages or {}).items() if v and v.strip()}
    if cleaned:
        current[target] = ({} if replace else dict(current.get(target) or {})) | cleaned
    row.settings = current
    session.flush()
    return current


# ------------------------------------------------------------------ the workflow pack

PACK_WORKFLOWS = ("reply_router", "follow_ups", "escalation", "booking_sync")
SUMMARY = "weekly_summary"  # the business owner's weekly email (integration.summaries), not part of a pack


def workflow_values(session: Session, sub, rows: list | None = None,
                    names: tuple[str, ...] = PACK_WORKFLOWS) -> dict[str, dict]:
    """{workflow: the agency's values overlaid by the sub-account's, "enabled" included}."""
    rows = workflow_rows(session, sub) if rows is None else rows
    merged: dict[str, dict] = {}
    for row in (r for r in rows if r.workflow in names):
        values = merged.setdefault(row.workflow, {})
        values.update({k: v for k, v in (row.settings or {}).items() if v is not None})
        values["enabled"] = row.enabled
    return merged


def summary_settings(session: Session, sub, rows: list | None = None):
    """The weekly summary's settings: the agency's defaults overlaid by the sub-account's."""
    from workflows import config
    return config.summary_settings(workflow_values(session, sub, rows, (SUMMARY,)).get(SUMMARY, {}))


def pack_settings(session: Session, sub, rows: list | None = None):
    """Every workflow of the pack, validated, as the runner uses them."""
    # Validating with marshmallow costs more than the rest of deciding a call: the same values
    # (most sub-accounts share them) give the same frozen settings, kept for the next call.
    return _pack(json.dumps(workflow_values(session, sub, rows), sort_keys=True, default=str))


@functools.lru_cache(maxsize=1024)
def _pack(values_json: str):
    from workflows import config
    values = json.loads(values_json)
    return config.Pack(replies=config.reply_settings(values.get("reply_router", {})),
                       follow_ups=config.follow_up_settings(values.get("follow_ups", {})),
                       escalation=config.escalation_settings(values.get("escalation", {})),
                       booking=config.booking_settings(values.get("booking_sync", {})))


def save_workflow(session: Session, sub=None, workflow: str = "", *, agency_id: int | None = None,
                  enabled: bool | None = None, replace: bool = False, **values) -> WorkflowSetting:
    """Set a workflow's switch and values for a sub-account (or, with ``agency_id``, the agency's
    defaults). Validated first: a refusal names the workflow and the field, and nothing is saved."""
    from workflows import config
    if workflow == TEXT_BACK:
        return save_text_back(session, sub, enabled=enabled, **values)
    config.check_keys(workflow, values)
    scope = ([WorkflowSetting.sub_account_id == sub.id] if sub is not None
             else [WorkflowSetting.sub_account_id.is_(None), WorkflowSetting.agency_id == agency_id])
    row = session.scalar(select(WorkflowSetting).where(WorkflowSetting.workflow == workflow, *scope))
    current = {} if (row is None or replace) else dict(row.settings or {})
    current.update(values)
    config.validate_settings(workflow, current | ({"enabled": enabled} if enabled is not None else {}))
    if row is None:
        row = WorkflowSetting(sub_account_id=sub.id if sub is not None else None,
                              agency_id=sub.agency_id if sub is not None else agency_id, workflow=workflow, settings={})
        session.add(row)
    row.settings = current
    if enabled is not None:
        row.enabled = enabled
    session.flush()
    return row


def apply_pack(session: Session, sub, pack: str) -> list[str]:
    """A trade's ready-made settings for every workflow of the sub-account, in one step."""
    from workflows import config
    if pack not in config.PACKS:
        raise ValueError(f"unknown pack {pack!r} (one of {', '.join(config.PACKS)})")
    done = []
    for workflow, values in config.PACKS[pack].items():
        if workflow == "label":
            continue
        save_workflow(session, sub, workflow, enabled=True, **values)
        done.append(workflow)
    if isinstance(sub, SubAccount):
        sub.trade = pack  # the agency chooses sub-accounts by it (bulk.select_subs)
    return done
