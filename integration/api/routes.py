"""The admin API's routes (see api/__init__.py). Each answers for the token's agency alone: a
sub-account of another agency is answered as one that does not exist (404), whatever id is asked."""
from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import g, request
from flask_smorest import Blueprint, abort
from flask_smorest.error_handler import ErrorSchema
from werkzeug.exceptions import HTTPException

from .. import agency_view, api_tokens, attention, bulk, report
from ..models import SubAccount, utcnow
from ..routes import rt
from ..worker import tasks
from .schemas import (BulkChangeInSchema, BulkChangeListSchema, BulkChangeSchema, HealthSchema, ReportQuerySchema,
                      ReportSchema, RetryInSchema, RetryOutSchema, SubAccountListSchema, SubAccountSchema)

log = logging.getLogger("ringback.api")
blp = Blueprint("api_v1", __name__, url_prefix="/api/v1", description="An agency's sub-accounts and numbers")
SECURITY = [{"agencyToken": []}]
UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="ringback"'}


@blp.errorhandler(HTTPException)
def api_error(exc: HTTPException):
    """An error in flask-smorest's documented shape (ErrorSchema): code, status, message, errors."""
    data = getattr(exc, "data", None) or {}
    payload = {"code": exc.code, "status": exc.name, "message": data.get("message") or exc.description}
    if data.get("errors") or data.get("messages"):
        payload["errors"] = data.get("errors") or data.get("messages")
    return payload, exc.code, data.get("headers") or {}


@blp.before_request
def _agency_from_token():
    """Every route here needs a live token of an agency; the agency is all it may see."""
    with rt().sessions.begin() as s:
        token = api_tokens.agency_for(s, request.headers.get("Authorization"))
        if token is None:
            abort(401, message="an agency API token is needed: Authorization: Bearer rb_... "
                               "(`ringback agency token create`); this one is missing, unknown or revoked",
                  headers=UNAUTHORIZED)
        g.api_agency_id, g.api_token_name = token.agency_id, token.name


def _own_sub(s, sub_id: int) -> SubAccount:
    sub = s.get(SubAccount, sub_id)
    if sub is None or sub.agency_id != g.api_agency_id or sub.removed_at is not None:
        abort(404, message=f"no sub-account {sub_id} in this agency")
    return sub


def _as_dict(r: agency_view.SubAccountRow) -> dict:
    return {"id": r.sub.id, "name": r.sub.name, "crm": r.sub.provider, "crm_account_id": r.sub.external_id,
            "phone_number": r.sub.phone_number, "text_back_enabled": r.enabled, "can_text": r.problem is None,
            "problem": None if r.problem is None else {"short": r.problem.short, "why": r.problem.why,
                                                       "fix": r.problem.fix},
            "not_texted": r.not_texted, "caught_up": r.caught_up,
            "last_30_days": {"missed_calls": r.missed, "texted": r.texted, "replied": r.replied,
                             "booked": r.booked, "revenue": round(r.value, 2)}}


@blp.route("/sub-accounts")
@blp.doc(security=SECURITY)
@blp.response(200, SubAccountListSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No live agency API token")
def sub_accounts():
    """The agency's sub-accounts: whether each can text, and its last 30 days"""
    with rt().read_sessions() as s:
        now = utcnow()
        rows = agency_view.rows(s, rt().config, agency_view.agency_subs(s, g.api_agency_id), now)
        return {"sub_accounts": [_as_dict(r) for r in rows]}


@blp.route("/sub-accounts/<int:sub_id>")
@blp.doc(security=SECURITY)
@blp.response(200, SubAccountSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No live agency API token")
@blp.alt_response(404, schema=ErrorSchema, description="No such sub-account in this agency")
def sub_account(sub_id: int):
    """One of the agency's sub-accounts"""
    with rt().read_sessions() as s:
        return _as_dict(agency_view.row(s, rt().config, _own_sub(s, sub_id)))


@blp.route("/report")
@blp.doc(security=SECURITY)
@blp.arguments(ReportQuerySchema, location="query")
@blp.response(200, ReportSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No live agency API token")
@blp.alt_response(404, schema=ErrorSchema, description="No such sub-account in this agency")
def agency_report(query: dict):
    """Missed calls, texted, delivered, replied, booked, lost, opted out and revenue recovered, per day and in
    total: the numbers of `ringback report`"""
    with rt().read_sessions() as s:
        if query["sub_account"] is not None:
            sub = _own_sub(s, query["sub_account"])
            ids, tz = [sub.id], sub.timezone
        else:
            ids, tz = [sub.id for sub in agency_view.agency_subs(s, g.api_agency_id)], None
        rows, total = report.build(s, sub_account_ids=ids, since=query["since"], until=query["until"], tz=tz)
    return {"days": [r.as_dict() for r in rows], "total": total.as_dict(), "time_zone": tz or "UTC"}


@contextmanager
def _bulk_refusals():
    """A bulk change refused (its transaction rolled back, nothing changed): 404 when it names
    something not in this agency, else 409."""
    try:
        yield
    except bulk.NotFound as exc:
        abort(404, message=str(exc))
    except bulk.BulkError as exc:
        abort(409, message=str(exc))


def _change(row) -> dict:
    return {"id": row.id, "kind": row.kind, "params": row.params, "sub_accounts": list(row.sub_account_ids),
            "actor": row.actor, "created_at": row.created_at, "undone_at": row.undone_at, "undone_by": row.undone_by}


@blp.route("/bulk-changes", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(BulkChangeInSchema)
@blp.response(201, BulkChangeSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No live agency API token")
@blp.alt_response(404, schema=ErrorSchema, description="A chosen sub-account is not in this agency (nothing changed)")
@blp.alt_response(409, schema=ErrorSchema, description="Refused as a whole: nothing was changed")
def make_bulk_change(body: dict):
    """Switch a workflow on or off, or apply a trade's pack, for many sub-accounts at once: all of them or
    none. Recorded, and undone with POST /bulk-changes/{id}/undo"""
    actor = f"api:{g.api_token_name}"
    chosen = body["select"]
    with _bulk_refusals(), rt().sessions.begin() as s:
        answer = _change(bulk.make(s, g.api_agency_id, actor, body["action"], sub_account_ids=chosen.get("sub_accounts"),
                                   crm=chosen.get("crm"), every=bool(chosen.get("all")), trade=chosen.get("trade"),
                                   workflow=body.get("workflow", ""), enabled=body.get("enabled"),
                                   pack_name=body.get("pack", "")))
    log.info("bulk change %s by %s: %s on %s sub-accounts", answer["id"], actor, answer["kind"],
             len(answer["sub_accounts"]))
    return answer


@blp.route("/bulk-changes")
@blp.doc(security=SECURITY)
@blp.response(200, BulkChangeListSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No live agency API token")
def bulk_changes():
    """The agency's bulk changes, newest first (the last 100)"""
    with rt().read_sessions() as s:
        return {"bulk_changes": [_change(r) for r in bulk.listed(s, g.api_agency_id)]}


@blp.route("/bulk-changes/<int:change_id>/undo", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, BulkChangeSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No live agency API token")
@blp.alt_response(404, schema=ErrorSchema, description="No such bulk change in this agency")
@blp.alt_response(409, schema=ErrorSchema, description="Undone already")
def undo_bulk_change(change_id: int):
    """Put every sub-account of a bulk change back as it was before it"""
    actor = f"api:{g.api_token_name}"
    with _bulk_refusals(), rt().sessions.begin() as s:
        answer = _change(bulk.undo(s, g.api_agency_id, change_id, actor))
    log.info("bulk change %s undone by %s", change_id, actor)
    return answer


@blp.route("/health")
@blp.doc(security=SECURITY)
@blp.response(200, HealthSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No live agency API token")
def health():
    """What needs attention first across the agency's sub-accounts, each with its one fix, and the CRM writes
    that failed for good (the page /agency/health)"""
    with rt().read_sessions() as s:
        subs = agency_view.agency_subs(s, g.api_agency_id)
        found = attention.concerns(s, rt().config, rt().vault, subs, utcnow())
        writes = attention.failed_writes(s, subs)
    return {"concerns": [{"sub_account": c.sub.id, "sub_account_name": c.sub.name, "crm_account_id": c.sub.external_id,
                          "kind": c.kind, "what": c.what, "fix": c.fix, "count": c.count} for c in found],
            "failed_writes": [{"id": op.id, "sub_account": op.sub_account_id, "recovery": op.recovery_id,
                               "write": op.op, "error": op.last_error, "attempts": op.attempts,
                               "last_tried": op.updated_at} for op in writes]}


@blp.route("/failed-writes/retry", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(RetryInSchema)
@blp.response(200, RetryOutSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No live agency API token")
@blp.alt_response(404, schema=ErrorSchema, description="An id is not a failed write of this agency's (nothing done)")
def retry_failed_writes(body: dict):
    """Put failed CRM writes back in line (these ids, or all): the worker applies them now"""
    with rt().read_sessions() as s:
        subs = agency_view.agency_subs(s, g.api_agency_id)
    try:
        chosen, recoveries = attention.retry_failed(rt(), subs, None if body.get("all") else body["ids"])
    except attention.NotTheirs as exc:
        abort(404, message=f"no failed CRM write {exc.args[0]} in this agency: nothing was retried")
    for recovery_id in recoveries:
        tasks.sync_recovery(recovery_id)
    log.info("failed writes retried by api:%s: %d", g.api_token_name, len(chosen))
    return {"retried": chosen}
