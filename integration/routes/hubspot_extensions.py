"""What Ringback's HubSpot UI extensions (the contact/deal card and the app settings page, in
marketplace/manifests/hubspot.py) ask for with hubspot.fetch.

hubspot.fetch carries no headers of the extension's own: HubSpot signs each request with the
app's client secret (X-HubSpot-Signature-v3 over method, URL, body and timestamp) and appends
the portal and user to the query. So each request is checked like a webhook, in a fixed order,
each refusal with its own status and log key:

1. signature missing, malformed, wrong or older than 5 minutes -> 401 hubspot.signature_*
2. portalId not a HubSpot account Ringback is installed in     -> 403 hubspot.portal_unknown
3. bad parameters or body                                      -> 400 hubspot.extension_invalid
https://developers.hubspot.com/docs/apps/developer-platform/add-features/ui-extensibility/fetching-data
"""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request, url_for
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import select

from connectors.base import Text, WebhookRejected, flat_messages, load_object
from connectors.hubspot import webhook as hubspot_webhook
from connectors.registry import HUBSPOT
from marketplace import sso
from workflows.config import WORKFLOWS, validate_settings
from workflows.stages import LABELS

from .. import texting
from ..db import transaction
from ..models import Message, Recovery, SubAccount
from ..settings_store import TEXT_BACK, save_workflow, text_back_settings, workflow_values
from . import rt

log = logging.getLogger("ringback.hubspot.extensions")
bp = Blueprint("hubspot_extensions", __name__)
# HubSpot's object type ids as the card's context gives them (context.crm.objectTypeId).
CONTACT, DEAL = "0-1", "0-3"
STATE_STAGE = {"missed": "missed_call", "texted": "texted_back", "replied": "replied", "booked": "booked",
               "lost": "lost", "closed": "lost"}
TEMPLATES = {"business_hours_template": "Text during business hours", "after_hours_template": "Text after hours"}


class _Refused(Exception):
    def __init__(self, status: int, key: str, message: str):
        self.status, self.key, self.message = status, key, message


def _portal() -> SubAccount:
    """The installed HubSpot account this signed request is from (steps 1 and 2)."""
    runtime = rt()
    query = request.query_string.decode("latin-1")
    url = runtime.config.public_url + request.path + (f"?{query}" if query else "")
    try:
        hubspot_webhook.check_signature(request.get_data(), request.headers, method=request.method, url=url,
                                        client_secret=runtime.config.hubspot_client_secret)
    except WebhookRejected as rej:
        raise _Refused(rej.status, rej.log_key, rej.message) from None
    portal = request.args.get("portalId", "")
    with runtime.sessions() as s:
        sub = s.scalar(select(SubAccount).where(SubAccount.provider == HUBSPOT.key, SubAccount.external_id == portal[:64],
                                                SubAccount.removed_at.is_(None)))
    if sub is None:
        raise _Refused(403, "hubspot.portal_unknown", f"Ringback is not installed in HubSpot account {portal[:20]!r}")
    return sub


def _refused(exc: _Refused):
    log.warning("refused key=%s status=%s path=%s: %s", exc.key, exc.status, request.path, exc.message)
    return jsonify(error=exc.message), exc.status


class RecoveryQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # HubSpot appends userId, userEmail, appId...

    objectType = fields.String(required=True, validate=validate.OneOf([CONTACT, DEAL]))
    objectId = fields.String(required=True, validate=validate.Regexp(r"\A[0-9]{1,20}\Z"))


@bp.get("/hubspot/extension/recovery")
def recovery():
    """The card: the contact's (or deal's) recoveries, their texts and booking, and a link to the settings page."""
    try:
        sub = _portal()
        try:
            q = RecoveryQuery().load(request.args.to_dict())
        except ValidationError as exc:
            raise _Refused(400, "hubspot.extension_invalid", "; ".join(flat_messages(exc.messages))) from None
    except _Refused as exc:
        return _refused(exc)
    runtime = rt()
    ref = "contact_id" if q["objectType"] == CONTACT else "deal_id"
    with runtime.sessions() as s:
        found = s.scalars(select(Recovery).where(Recovery.sub_account_id == sub.id,
                                                 Recovery.crm_refs[ref].as_string() == q["objectId"])
                          .order_by(Recovery.opened_at.desc()).limit(5)).all()
        texts = {}
        for r in found:
            texts[r.id] = s.scalars(select(Message).where(Message.recovery_id == r.id)
                                    .order_by(Message.created_at).limit(20)).all()
        problem = texting.problem(s, runtime.config, s.get(SubAccount, sub.id))
    token = sso.link_token(runtime.config.secret_key, {"provider": "hubspot", "sub": sub.id,
                                                        "user": request.args.get("userEmail") or "hubspot"})
    return jsonify(
        recoveries=[{"id": r.id, "state": r.state, "state_label": LABELS[STATE_STAGE.get(r.state, "missed_call")],
                     "opened_at": f"{r.opened_at:%Y-%m-%d %H:%M} UTC",
                     "booked_at": f"{r.booked_at:%Y-%m-%d %H:%M} UTC" if r.booked_at else None, "value": r.value,
                     "texts": [{"direction": m.direction, "body": m.body, "status": m.status,
                                "at": m.created_at.isoformat()} for m in texts[r.id]]} for r in found],
        problem=f"{problem.why}. To fix it: {problem.fix}." if problem else None,
        settings_url=f"{runtime.config.public_url}{url_for('doors.link')}?t={token}")


class SettingsChange(Schema):
    class Meta:
        unknown = EXCLUDE

    workflows = fields.Dict(keys=fields.String(validate=validate.OneOf(list(WORKFLOWS))), values=fields.Boolean(),
                            load_default=dict)
    templates = fields.Dict(keys=fields.String(validate=validate.OneOf(list(TEMPLATES))),
                            values=Text(max_length=1000), load_default=dict)


@bp.route("/hubspot/extension/settings", methods=["GET", "POST"])
def settings():
    """The app settings page: switch workflows on and off, edit the texts, see what stops texting."""
    try:
        sub = _portal()
        change = None
        if request.method == "POST":
            try:
                change = load_object(request.get_data(), SettingsChange())
            except ValueError as exc:
                raise _Refused(400, "hubspot.extension_invalid", str(exc)) from None
    except _Refused as exc:
        return _refused(exc)
    runtime = rt()
    if change:
        try:
            with transaction(runtime.sessions) as s:
                row = s.get(SubAccount, sub.id)
                for key, on in change["workflows"].items():
                    save_workflow(s, row, key, enabled=on)
                if change["templates"]:
                    save_workflow(s, row, TEXT_BACK, **{k: (v or None) for k, v in change["templates"].items()})
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        log.info("settings changed from HubSpot sub=%s by=%s", sub.id, request.args.get("userEmail", "")[:200])
    with runtime.sessions() as s:
        row = s.get(SubAccount, sub.id)
        text_back = text_back_settings(s, row)
        values = workflow_values(s, row)
        problem = texting.problem(s, runtime.config, row, text_back)
    return jsonify(
        workflows=[{"key": key, "label": label,
                    "enabled": text_back.enabled if key == TEXT_BACK
                    else bool(validate_settings(key, values.get(key, {}))["enabled"])}
                   for key, label in WORKFLOWS.items()],
        templates=[{"key": "business_hours_template", "label": TEMPLATES["business_hours_template"],
                    "text": text_back.template_for("business_hours")},
                   {"key": "after_hours_template", "label": TEMPLATES["after_hours_template"],
                    "text": text_back.template_for("after_hours")}],
        problem=f"{problem.why}. To fix it: {problem.fix}." if problem else None)
