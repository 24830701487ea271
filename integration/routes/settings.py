"""The settings page a client opens inside their CRM (the doors are routes/doors.py).

  GET/POST /settings/<id>    workflows on/off, texts with live preview, hours, links, stages
  POST /settings/<id>/preview, POST /settings/<id>/test-text
"""
from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates
from sqlalchemy import func, select

from connectors import registry
from connectors.base import SendError, load_json
from workflows import templates
from workflows.config import DAYS, PACKS, WORKFLOWS, validate_settings
from workflows.hours import BadSchedule, WeeklySchedule, zone
from workflows.phones import UnusableNumber, to_e164
from workflows.stages import LABELS, STAGES

from .. import installation_health, report, senders, texting, viewer
from ..db import transaction
from ..models import CRM_TEXT_STATUS, Installation, Message, SubAccount, utcnow
from ..settings_store import (apply_pack, save_stage_mapping, save_text_back, save_workflow, stage_mapping,
                              summary_settings, text_back_settings, texts_through_crm, workflow_values)
from . import access, rt

log = logging.getLogger("ringback.settings")
bp = Blueprint("settings", __name__)
TEST_TEXTS_PER_HOUR = 5


class SettingsForm(Schema):
    """What the page may change; every refusal names the field."""

    class Meta:
        unknown = EXCLUDE

    enabled = fields.Boolean(load_default=False)
    business_hours_template = fields.String(load_default="")
    after_hours_template = fields.String(load_default="")
    booking_url = fields.String(load_default="")
    business_hours = fields.String(required=True)
    timezone = fields.String(required=True)
    dedupe_hours = fields.Float(required=True, validate=validate.Range(0, 24 * 30))
    # A call found late (its webhook lost) is texted only this soon after it happened.
    late_text_minutes = fields.Integer(load_default=None, validate=validate.Range(0, 24 * 60))
    send_via = fields.String(load_default="twilio", validate=validate.OneOf(["twilio", "ghl"]))
    pipeline = fields.String(load_default="")

    @validates("booking_url")
    def _url(self, value, **_):
        if value and not value.startswith(("https://", "http://")):
            raise ValidationError("a booking link starts with https://")

    @validates("business_hours")
    def _hours(self, value, **_):
        try:
            WeeklySchedule.parse(value)
        except BadSchedule as exc:
            raise ValidationError(str(exc)) from None

    @validates("timezone")
    def _zone(self, value, **_):
        try:
            zone(value)
        except BadSchedule as exc:
            raise ValidationError(str(exc)) from None

    @validates("business_hours_template")
    def _bt(self, value, **_):
        _template(value)

    @validates("after_hours_template")
    def _at(self, value, **_):
        _template(value)


def _template(value: str) -> None:
    if value.strip():
        try:
            templates.check(value)
        except templates.BadTemplate as exc:
            raise ValidationError(str(exc)) from None


def _page_data(s, sub) -> dict:
    settings = text_back_settings(s, sub)
    inst = s.scalar(select(Installation).where(Installation.sub_account_id == sub.id))
    stats = report.recent(s, sub.id)
    since, counts, missed = stats.since, stats.states, stats.missed
    previews = {kind: _render(settings.template_for(kind), sub.name, sub.booking_url)
                for kind in ("business_hours", "after_hours")}
    values = workflow_values(s, sub)
    pack = {name: validate_settings(name, values.get(name, {})) for name in ("reply_router", "follow_ups",
                                                                             "escalation", "booking_sync")}
    undelivered = s.scalars(select(Message).where(
        Message.sub_account_id == sub.id, Message.direction == "outbound", Message.status.in_(("undelivered", "failed")),
        Message.created_at >= since).order_by(Message.id.desc()).limit(10)).all()
    return {"sub": sub, "settings": settings, "installation": inst, "mapping": stage_mapping(s, sub),
            "undelivered": undelivered, "summary": summary_settings(s, sub), "days": DAYS,
            "pack": pack, "workflow_names": WORKFLOWS, "packs": {k: v["label"] for k, v in PACKS.items()},
            "stages": [(k, LABELS[k]) for k in STAGES], "previews": previews, "missed": missed, "counts": counts,
            "warnings": _warnings(s, sub, settings, inst), "is_crm": registry.crm(sub.provider) is not None,
            "caught_up": installation_health.ago(sub.caught_up_at, utcnow())}


def _warnings(s, sub, settings, inst) -> list[str]:
    found = []
    vendor = registry.get(sub.provider)
    cannot = texting.problem(s, rt().config, sub, settings)
    if cannot is not None:
        missed, first = texting.not_texted(s, sub.id, utcnow() - timedelta(days=30))
        since = f" ({missed} caller(s) not texted since {first:%b %d})" if missed else ""
        found.append(f"Ringback cannot text your missed callers: {cannot.why}{since}. To fix it: {cannot.fix}.")
    doubled = s.scalar(select(func.count(func.distinct(Message.recovery_id))).where(
        Message.sub_account_id == sub.id, Message.status == CRM_TEXT_STATUS,
        Message.created_at >= utcnow() - timedelta(days=30)))
    if doubled:
        found.append(f"{vendor.name} itself also texted {doubled} caller(s) within two minutes of Ringback's text "
                     "(not a person: most likely its own Missed Call Text Back), so they got two texts. Turn it "
                     f"off in {vendor.name} ({vendor.own_text_back_setting}) or switch Ringback's text back off.")
    elif vendor.own_text_back_setting:
        found.append(f"If {vendor.name}'s own Missed Call Text Back is on for this sub-account, callers get two "
                     f"texts: turn it off in {vendor.name} ({vendor.own_text_back_setting}).")
    if sub.catch_up_error:
        found.append(f"Ringback could not ask {vendor.name} for the calls it may have missed "
                     f"({sub.catch_up_error[:200]}): a call whose webhook is lost now goes unnoticed until it can.")
    if inst is None and vendor.is_crm:
        found.append("Ringback is not connected to this CRM any more (uninstalled or the token was removed): "
                     "nothing is written back until it is installed again.")
    return found


def _render(template: str, business: str, link: str | None) -> dict:
    body = templates.render(template, business_name=business, first_name=None, booking_link=link,
                            first_in_conversation=True)
    seg = templates.segments(body)
    return {"text": body, "segments": seg.count, "encoding": seg.encoding, "characters": len(body),
            "warning": templates.length_warning(body)}


@bp.get("/settings/<int:sub_id>")
def page(sub_id: int):
    who, sub = access.visible_sub(sub_id)
    if who is None:
        return sub
    with rt().sessions() as s:
        data = _page_data(s, s.get(SubAccount, sub_id))
    return render_template("settings.html", viewer=who, saved=request.args.get("saved"),
                           installed=request.args.get("installed"), errors={}, form=None, **data)


@bp.post("/settings/<int:sub_id>")
def save(sub_id: int):
    who, sub = access.visible_sub(sub_id)
    if who is None:
        return sub
    try:
        form = SettingsForm().load(request.form)
    except ValidationError as exc:
        return _invalid(sub_id, {k: " ".join(v) if isinstance(v, list) else str(v) for k, v in exc.messages.items()})
    stages = {k: request.form.get(f"stage_{k}", "") for k in STAGES}
    try:
        with transaction(rt().sessions) as s:
            sub = s.get(SubAccount, sub_id)
            sub.timezone, sub.business_hours = form["timezone"], WeeklySchedule.parse(form["business_hours"]).format()
            sub.booking_url = form["booking_url"] or None
            changes = {"business_hours_template": form["business_hours_template"].strip() or None,
                       "after_hours_template": form["after_hours_template"].strip() or None,
                       "dedupe_window_seconds": int(form["dedupe_hours"] * 3600)}
            if form["late_text_minutes"] is not None:
                changes["late_text_seconds"] = form["late_text_minutes"] * 60
            if registry.get(sub.provider).sends_texts:
                changes["send_via"] = form["send_via"]
            save_text_back(s, sub, enabled=form["enabled"], **changes)
            if registry.crm(sub.provider) is not None:
                save_stage_mapping(s, sub, pipeline=form["pipeline"].strip() or None, stages=stages, replace=True)
            if request.form.get("pack"):
                apply_pack(s, sub, request.form["pack"])
            elif request.form.get("workflows_shown"):  # the page's workflow section was part of the form
                for name, values in _workflow_form(request.form).items():
                    save_workflow(s, sub, name, enabled=request.form.get(f"wf_{name}") == "true", **values)
    except (ValueError, BadSchedule, templates.BadTemplate) as exc:
        return _invalid(sub_id, {"form": str(exc)})
    log.info("settings saved sub=%s by=%s enabled=%s", sub_id, who.user, form["enabled"])
    return redirect(url_for("settings.page", sub_id=sub_id, saved=1))


REPLY_WORDING = ("book_reply", "call_back_reply", "urgent_reply", "handoff_reply", "wrong_number_reply")


def _lines(text: str) -> list[str]:
    return [x.strip() for x in (text or "").replace("\n", ",").split(",") if x.strip()]


def _workflow_form(form) -> dict[str, dict]:
    """The pack's fields on the page, as each workflow's values (validated when saved)."""
    def number(name, kind=int):
        raw = (form.get(name) or "").strip()
        if not raw:
            return None
        try:
            return kind(raw)
        except ValueError:
            raise ValueError(f"{name.replace('_', ' ')}: {raw!r} is not a number") from None
    answers = {k: form.get(f"answer_{k}", "").strip() for k in ("hours", "area", "price")}
    out = {
        # An emptied urgent-words box means Ringback's own list, never "nothing is urgent".
        "reply_router": {"urgent_words": _lines(form.get("urgent_words", "")) or None,
                         "answers": {k: v for k, v in answers.items() if v},
                         **{k: form.get(k, "").strip() or None for k in REPLY_WORDING}},
        "follow_ups": {"touches": number("touches"), "second_after_minutes": number("second_after_minutes"),
                       "quiet_start": form.get("quiet_start") or None, "quiet_end": form.get("quiet_end") or None,
                       "second_template": form.get("second_template", "").strip() or None,
                       "third_template": form.get("third_template", "").strip() or None},
        "escalation": {"on_call_numbers": _lines(form.get("on_call_numbers", "")),
                       "no_booking_hours": number("no_booking_hours")},
        "booking_sync": {"average_job_value": number("average_job_value", float),
                         "lost_after_days": number("lost_after_days")},
        "weekly_summary": {"to": _lines(form.get("summary_to", "")), "day": form.get("summary_day") or None,
                           "hour": number("summary_hour")},
    }
    # An emptied wording box goes back to Ringback's wording (None clears it); other empty
    # fields keep what was set.
    clearable = set(REPLY_WORDING) | {"second_template", "third_template"}
    return {name: {k: v for k, v in values.items() if v is not None or k in clearable} for name, values in out.items()}


def _invalid(sub_id: int, errors: dict):
    who = viewer.current()
    with rt().sessions() as s:
        data = _page_data(s, s.get(SubAccount, sub_id))
    return render_template("settings.html", viewer=who, saved=None, installed=None, errors=errors,
                           form=request.form, **data), 400


def _json_object() -> dict:
    """The request's JSON object, or {} for anything else (the callers name what is missing)."""
    try:
        body = load_json(request.get_data())
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@bp.post("/settings/<int:sub_id>/preview")
def preview(sub_id: int):
    who, sub = access.visible_sub(sub_id)
    if who is None:
        return jsonify(error="not allowed"), 403
    body = _json_object()
    template = str(body.get("template") or "")
    try:
        if template.strip():
            templates.check(template)
        with rt().sessions() as s:
            sub = s.get(SubAccount, sub_id)
            settings = text_back_settings(s, sub)
        kind = body.get("kind") if body.get("kind") in ("business_hours", "after_hours") else "business_hours"
        chosen = template.strip() or settings.template_for(kind)
        return jsonify(_render(chosen, sub.name, str(body.get("booking_link") or "") or sub.booking_url))
    except templates.BadTemplate as exc:
        return jsonify(error=str(exc)), 400


@bp.post("/settings/<int:sub_id>/test-text")
def test_text(sub_id: int):
    who, sub = access.visible_sub(sub_id)
    if who is None:
        return jsonify(error="not allowed"), 403
    runtime = rt()
    body = _json_object() if request.is_json else request.form
    with runtime.sessions() as s:
        sub = s.get(SubAccount, sub_id)
        settings = text_back_settings(s, sub)
        try:
            to = to_e164(str(body.get("phone") or ""), sub.default_region)
        except UnusableNumber as exc:
            return jsonify(error=f"that number cannot be texted: {exc}"), 400
        recent = s.scalar(select(func.count()).select_from(Message).where(
            Message.sub_account_id == sub.id, Message.idempotency_key.like("test:%"),
            Message.created_at >= utcnow() - timedelta(hours=1)))
    if recent >= TEST_TEXTS_PER_HOUR:
        return jsonify(error=f"{TEST_TEXTS_PER_HOUR} test texts an hour at most: try again later"), 429
    via = sub.provider if texts_through_crm(sub, settings) else None
    if not via and not sub.phone_number:
        return jsonify(error="this sub-account has no number to text from"), 400
    kind = "business_hours" if settings.hours.is_open(settings.timezone, utcnow()) else "after_hours"
    text = "[Test] " + _render(settings.template_for(kind), sub.name, sub.booking_url)["text"]
    key = f"test:{sub.id}:{int(time.time())}:{secrets.token_hex(4)}"
    payload = {"via": via, "sub_account_id": sub.id, "to": to, "from": sub.phone_number or "", "body": text}
    try:
        result = senders.send_with(runtime, payload, lambda sender: sender.send(
            to=to, from_=sub.phone_number or "", body=text, status_callback=None, validity_seconds=600))
    except SendError as exc:
        return jsonify(error=f"not sent: {exc}"), 502
    seg = templates.segments(text)
    with transaction(runtime.sessions) as s:
        s.add(Message(sub_account_id=sub.id, direction="outbound", to_number=to, from_number=sub.phone_number or "",
                      body=text, provider=via or runtime.sender.name, provider_sid=result.sid, status=result.status,
                      idempotency_key=key, segments=seg.count, encoding=seg.encoding))
    log.info("test text sent sub=%s by=%s", sub.id, who.user)
    if via:
        channel = registry.crm(via).name
    else:
        channel = runtime.sender_for(sub.id).label
    return jsonify(sent=True, to=to, text=text, status=result.status, sid=result.sid, channel=channel,
                   sender="the location's number" if via else sub.phone_number)
