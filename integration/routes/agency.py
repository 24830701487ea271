"""The agency page: every sub-account an agency user may see, whether each can text, its numbers
for the last 30 days, and the agency's own Twilio account."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from workflows.config import DAYS, PACKS

from .. import agency_view, api_tokens, attention, bulk, dashboard, numbers, twilio_accounts, viewer
from ..worker import tasks
from ..models import utcnow
from . import access, rt

log = logging.getLogger("ringback.agency")
bp = Blueprint("agency", __name__)


@bp.post("/agency/twilio")
def agency_twilio():
    """An agency user connects the agency's own Twilio account (in development, the default one)."""
    who = viewer.current()
    if who is None or (who.agency_id is None and (who.provider != "development" or rt().config.env == "production")):
        return access.page(403, "Only an agency can connect a Twilio account", "Open Ringback from your CRM's agency account.")
    form = request.form
    key = (form.get("api_key_sid") or "").strip() or None
    if key and (form.get("auth_token") or "").strip():
        return _agency_page(who, twilio_error="give the auth token, or an API key SID with its secret, not both"), 400
    try:
        row = twilio_accounts.connect(rt(), form.get("account_sid", ""),
                                      form.get("api_secret" if key else "auth_token", ""), who.agency_id,
                                      api_key_sid=key)
        _, refused = numbers.repoint(rt(), row.account_sid)
    except ValueError as exc:
        return _agency_page(who, twilio_error=str(exc)), 400
    if refused:
        log.warning("twilio repoint refused agency=%s: %s", who.agency_id, "; ".join(refused))
    log.info("twilio connected agency=%s account=%s by=%s", who.agency_id, row.account_sid, who.user)
    return redirect(url_for("agency.agency", twilio="connected"))


@bp.get("/agency")
def agency():
    who = viewer.current()
    if who is None:
        return access.page(401, "Open Ringback from your CRM", "The agency view opens from inside your CRM's agency account.")
    return _agency_page(who)


@bp.get("/agency/dashboard")
def agency_dashboard():
    """The numbers of the sub-accounts this viewer may see (an agency user: all of the agency's;
    a location user: their own), for a period, in total, by day and by sub-account; ?format=csv
    exports the table shown."""
    who = viewer.current()
    if who is None:
        return access.page(401, "Open Ringback from your CRM", "The dashboard opens from inside your CRM.")
    try:
        query = dashboard.parse(request.args)
    except ValidationError as exc:
        field, why = next(iter(exc.normalized_messages().items()))
        return _dashboard_page(who, None, error=f"{field}: {'; '.join(why) if isinstance(why, list) else why}"), 400
    try:
        with rt().read_sessions() as s:
            board = dashboard.build(s, agency_view.agency_subs(s, who.agency_id, who.sub_ids), query)
    except LookupError:
        log.warning("dashboard refused key=dashboard.not_visible viewer=%s sub=%s", who.user, query["sub"])
        return access.page(404, "No such sub-account", "It is not one of the sub-accounts you can see.")
    if query["format"] == "csv":
        scope = f"sub-account-{board.scope.id}" if board.scope else "all"
        name = f"ringback-{scope}-{query['table']}-{board.since}-{board.until}.csv"
        return Response(dashboard.as_csv(board, query["table"]), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return _dashboard_page(who, board)


def _dashboard_page(who, board, error: str | None = None):
    if board is None:
        with rt().read_sessions() as s:
            subs = agency_view.agency_subs(s, who.agency_id, who.sub_ids)
        query = dashboard.DEFAULTS
        return render_template("dashboard.html", viewer=who, board=None, subs=subs, query=query, error=error,
                               args=request.args)
    return render_template("dashboard.html", viewer=who, board=board, subs=board.subs, query=board.query,
                           error=error, args=request.args, funnel=dashboard.funnel(board.summary.total),
                           by_day=dashboard.by_day(board.days), to_text=dashboard.to_text(board.summary),
                           link=lambda **over: url_for("agency.agency_dashboard", **dashboard.link_args(board.query, **over)))


@bp.get("/agency/health")
def agency_health():
    """What needs attention first across the viewer's sub-accounts, each with its one fix, and the
    CRM writes that failed for good, each retried from here (or all at once)."""
    who = viewer.current()
    if who is None:
        return access.page(401, "Open Ringback from your CRM", "The health list opens from inside your CRM.")
    return _health_page(who)


def _health_page(who, error: str | None = None):
    now = utcnow()
    with rt().read_sessions() as s:
        subs = agency_view.agency_subs(s, who.agency_id, who.sub_ids)
        found = attention.concerns(s, rt().config, rt().vault, subs, now)
        writes = attention.failed_writes(s, subs)
        names = {sub.id: sub for sub in subs}
    troubled = len({c.sub.id for c in found})
    return render_template("health.html", viewer=who, concerns=found, writes=writes, subs=names, now=now,
                           troubled=troubled, total=len(subs), error=error)


@bp.post("/agency/sync/retry")
def agency_sync_retry():
    """Put failed CRM writes back in line (the ticked one, or all of the viewer's) and apply them
    now through the worker; the page says how many went back."""
    who = viewer.current()
    if who is None:
        return access.page(401, "Open Ringback from your CRM", "The health list opens from inside your CRM.")
    raw = request.form.get("op_id", "")
    with rt().read_sessions() as s:
        subs = agency_view.agency_subs(s, who.agency_id, who.sub_ids)
    try:
        if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 12):  # ("²".isdigit() is true)
            raise attention.NotTheirs(raw)
        chosen, recoveries = attention.retry_failed(rt(), subs, [int(raw)] if raw else None)
    except attention.NotTheirs:
        log.warning("sync retry refused key=sync.not_visible viewer=%s op=%s", who.user, raw[:20])
        return _health_page(who, error=f"no failed CRM write {raw[:20]} among your sub-accounts'"), 404
    if not chosen:
        return _health_page(who, error="there are no failed CRM writes to retry"), 400
    for recovery_id in recoveries:
        tasks.sync_recovery(recovery_id)
    log.info("sync retry viewer=%s writes=%d recoveries=%d", who.user, len(chosen), len(recoveries))
    return redirect(url_for("agency.agency_health", retried=len(chosen)))


DEFAULT_TEXTS = {  # the agency defaults page's fields: (workflow, setting)
    "business_hours_template": (bulk.TEXT_BACK, "business_hours_template"),
    "after_hours_template": (bulk.TEXT_BACK, "after_hours_template"),
    "second_template": ("follow_ups", "second_template"),
    "third_template": ("follow_ups", "third_template"),
}


@bp.get("/agency/defaults")
def agency_defaults():
    """The agency's default texts and switches, which every sub-account without its own follows."""
    who, refusal = _agency_user()
    if refusal:
        return refusal
    return _defaults_page(who)


@bp.post("/agency/defaults")
def agency_defaults_save():
    """Save the agency's defaults as one recorded change (undone from the agency page's history)."""
    who, refusal = _agency_user()
    if refusal:
        return refusal
    form = request.form
    changes: dict[str, dict] = {name: {"enabled": form.get(f"wf_{name}") == "true"}
                                for name in (bulk.TEXT_BACK, "follow_ups", "weekly_summary")}
    for field, (workflow, key) in DEFAULT_TEXTS.items():
        changes[workflow][key] = (form.get(field) or "").strip() or None  # empty: Ringback's own wording
    hour = (form.get("summary_hour") or "").strip()
    changes["weekly_summary"].update(day=form.get("summary_day") or "mon",
                                     hour=int(hour) if hour.isascii() and hour.isdigit() else hour or 8)
    try:
        with rt().sessions.begin() as s:
            change_id = bulk.set_defaults(s, who.agency_id, f"{who.provider}:{who.user}", changes).id
    except bulk.BulkError as exc:
        return _defaults_page(who, error=str(exc), form=form), 400
    log.info("agency defaults saved change=%s agency=%s by=%s", change_id, who.agency_id, who.user)
    return redirect(url_for("agency.agency_defaults", saved=change_id))


def _defaults_page(who, error: str | None = None, form=None):
    from ..models import WorkflowSetting
    with rt().read_sessions() as s:
        rows = {r.workflow: r for r in s.scalars(select(WorkflowSetting).where(
            WorkflowSetting.sub_account_id.is_(None), WorkflowSetting.agency_id == who.agency_id))}
        total = len(agency_view.agency_subs(s, who.agency_id))
    values = {field: (form.get(field, "") if form is not None else
                      ((rows[w].settings or {}).get(k) or "" if w in rows else "")) for field, (w, k) in DEFAULT_TEXTS.items()}
    switches = {name: (form.get(f"wf_{name}") == "true" if form is not None else  # every workflow is on by default
                       (rows[name].enabled if name in rows else True))
                for name in (bulk.TEXT_BACK, "follow_ups", "weekly_summary")}
    summary = (rows["weekly_summary"].settings or {}) if "weekly_summary" in rows else {}
    return render_template("agency_defaults.html", viewer=who, values=values, switches=switches, error=error,
                           summary_day=(form.get("summary_day") if form is not None else summary.get("day", "mon")),
                           summary_hour=(form.get("summary_hour") if form is not None else summary.get("hour", 8)),
                           days=DAYS, total=total, saved=request.args.get("saved"))


def _agency_user():
    """(viewer, None) for an agency user, else (None, the page to answer with)."""
    who = viewer.current()
    if who is None:
        return None, access.page(401, "Open Ringback from your CRM",
                                 "The agency view opens from inside your CRM's agency account.")
    if who.agency_id is None:
        return None, access.page(403, "Only an agency can do this", "Open Ringback from your CRM's agency account.")
    return who, None


@bp.post("/agency/tokens")
def agency_token_create():
    """An API token for the agency, shown on the page this once."""
    who, refusal = _agency_user()
    if refusal:
        return refusal
    try:
        with rt().sessions.begin() as s:
            row, token = api_tokens.create(s, who.agency_id, request.form.get("name", ""), f"{who.provider}:{who.user}")
            made = {"id": row.id, "token": token, "name": row.name}
    except api_tokens.TokenError as exc:
        return _agency_page(who, token_error=str(exc)), 400
    log.info("api token %s made agency=%s by=%s", made["id"], who.agency_id, who.user)
    return _agency_page(who, new_token=made)


@bp.post("/agency/tokens/<int:token_id>/revoke")
def agency_token_revoke(token_id: int):
    who, refusal = _agency_user()
    if refusal:
        return refusal
    try:
        with rt().sessions.begin() as s:
            api_tokens.revoke(s, token_id, agency_id=who.agency_id)
    except api_tokens.TokenError as exc:
        return _agency_page(who, token_error=str(exc)), 404
    log.info("api token %s revoked agency=%s by=%s", token_id, who.agency_id, who.user)
    return redirect(url_for("agency.agency", done="token-revoked"))


BULK_ACTIONS = {"on": True, "off": False}


@bp.post("/agency/bulk")
def agency_bulk():
    """Switch a workflow on or off, or apply a trade's pack, for the ticked sub-accounts (or all of one
    CRM's, or all): all of them or none, recorded, undone from the history below the table."""
    who, refusal = _agency_user()
    if refusal:
        return refusal
    form = request.form
    chosen = form.get("select", "ticked")
    try:
        ids = [int(v) for v in form.getlist("sub_id")] if chosen == "ticked" else None
    except ValueError:
        return _agency_page(who, bulk_error="the ticked sub-accounts are not ids"), 400
    action = form.get("action", "")
    try:
        with rt().sessions.begin() as s:
            change_id = bulk.make(s, who.agency_id, f"{who.provider}:{who.user}",
                                  "apply_pack" if action == "pack" else "switch_workflow",
                                  sub_account_ids=ids or None, crm=chosen[4:] if chosen.startswith("crm:") else None,
                                  every=chosen == "all", trade=chosen[6:] if chosen.startswith("trade:") else None,
                                  workflow=form.get("workflow", ""),
                                  enabled=BULK_ACTIONS.get(action), pack_name=form.get("pack", "")).id
    except bulk.BulkError as exc:
        if ids == [] and chosen == "ticked":
            exc = bulk.BulkError("tick the sub-accounts to change first (or choose all, or a CRM's)")
        return _agency_page(who, bulk_error=str(exc)), 404 if isinstance(exc, bulk.NotFound) else 400
    log.info("bulk change %s agency=%s by=%s", change_id, who.agency_id, who.user)
    return redirect(url_for("agency.agency", done=f"bulk-{change_id}"))


@bp.post("/agency/bulk/<int:change_id>/undo")
def agency_bulk_undo(change_id: int):
    who, refusal = _agency_user()
    if refusal:
        return refusal
    try:
        with rt().sessions.begin() as s:
            bulk.undo(s, who.agency_id, change_id, f"{who.provider}:{who.user}")
    except bulk.BulkError as exc:
        return _agency_page(who, bulk_error=str(exc)), 404 if isinstance(exc, bulk.NotFound) else 409
    log.info("bulk change %s undone agency=%s by=%s", change_id, who.agency_id, who.user)
    return redirect(url_for("agency.agency", done=f"undone-{change_id}"))


def _agency_page(who, twilio_error: str | None = None, token_error: str | None = None, bulk_error: str | None = None,
                 new_token: dict | None = None):
    from ..models import TwilioAccount
    with rt().read_sessions() as s:
        scope = (TwilioAccount.agency_id == who.agency_id) if who.agency_id is not None \
            else TwilioAccount.agency_id.is_(None)
        twilio = s.scalar(select(TwilioAccount).where(scope))
        now = utcnow()
        rows = agency_view.rows(s, rt().config, agency_view.agency_subs(s, who.agency_id, who.sub_ids), now)
        tokens = api_tokens.listed(s, who.agency_id) if who.agency_id is not None else []
        changes = bulk.listed(s, who.agency_id, limit=20) if who.agency_id is not None else []
        names = {r.sub.id: r.sub.name for r in rows}
    may_connect = who.agency_id is not None or (who.provider == "development" and rt().config.env != "production")
    return render_template("agency.html", viewer=who, rows=rows, twilio=twilio, may_connect=may_connect,
                           twilio_error=twilio_error, connected=request.args.get("twilio") == "connected",
                           tokens=tokens, new_token=new_token, token_error=token_error, changes=changes,
                           names=names, bulk_error=bulk_error, done=request.args.get("done", ""),
                           workflows=bulk.WORKFLOWS, packs=list(PACKS),
                           crms=sorted({r.sub.provider for r in rows}),
                           trades=[(t, PACKS[t]["label"]) for t in sorted({r.sub.trade for r in rows if r.sub.trade})])
