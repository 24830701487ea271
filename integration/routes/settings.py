"""The settings page a client opens inside their CRM, and the doors into it.

Doors (each turns the CRM's proof of the person into a session viewer, integration.viewer):
  GET  /embed/ghl            GoHighLevel custom page: asks its parent for the encrypted user
  POST /sso/ghl              ... which is decrypted here with GHL_SSO_KEY
  POST /sso/salesforce       Salesforce Canvas signed request (consumer secret)
  GET  /hubspot/card         HubSpot CRM card data fetch, v3-signed: links to the page
  GET  /sso/link             the card's short-lived link
Pages (a viewer only ever sees what the proof allows; anything else is 401/403):
  GET/POST /settings/<id>    workflows on/off, texts with live preview, hours, links, stages
  POST /settings/<id>/preview, POST /settings/<id>/test-text
  GET  /agency               an agency user's sub-accounts and their numbers
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
from marketplace import sso
from workflows import templates
from workflows.config import PACKS, WORKFLOWS, validate_settings
from workflows.hours import BadSchedule, WeeklySchedule, zone
from workflows.phones import UnusableNumber, to_e164
from workflows.stages import LABELS, STAGES

from .. import numbers, sender_check, senders, subaccounts, texting, twilio_accounts, viewer
from ..db import transaction
from ..models import Agency, Call, Installation, Message, Recovery, SubAccount, utcnow
from ..runner import CRM_TEXT_STATUS
from ..settings_store import (apply_pack, save_stage_mapping, save_text_back, save_workflow, stage_mapping,
                              text_back_settings, workflow_values)
from . import rt

log = logging.getLogger("ringback.settings")
bp = Blueprint("settings", __name__)
TEST_TEXTS_PER_HOUR = 5


def _page(status: int, title: str, message: str, hint: str | None = None, link: dict | None = None):
    return render_template("message.html", status=status, title=title, message=message, hint=hint, link=link), status


def _refused(why: str):
    log.warning("sso refused key=sso.refused remote=%s: %s", request.remote_addr, why)
    return _page(403, "Ringback cannot tell who you are", why, "Open Ringback again from inside your CRM.")


def _visible_sub(sub_id: int):
    """(viewer, sub) when the session may see this sub-account, else the page to answer with."""
    who = viewer.current()
    with rt().sessions() as s:
        sub = subaccounts.active(s, sub_id)  # a removed sub-account has no page
    if who is None:
        # HubSpot's app settings page opens on its own (no signed request): signing in with
        # HubSpot's OAuth proves the portal.
        link = ({"id": "hubspot-sign-in", "href": url_for("oauth.install", provider="hubspot"),
                 "text": "Sign in with HubSpot"} if sub is not None and sub.provider == "hubspot" else None)
        return None, _page(401, "Open Ringback from your CRM",
                           "This page shows a business's settings, so it opens only from inside its CRM "
                           "(GoHighLevel, HubSpot or Salesforce), which tells Ringback who you are.", link=link)
    if not who.may_see(sub):
        log.warning("settings refused key=settings.forbidden viewer=%s sub=%s", who.user, sub_id)
        return None, _page(403, "Not yours to see", "You can only see the sub-accounts your CRM login belongs to.")
    return who, sub


# ------------------------------------------------------------------ doors

@bp.get("/embed/ghl")
def embed_ghl():
    return render_template("embed_ghl.html")


@bp.post("/sso/ghl")
def sso_ghl():
    try:
        body = load_json(request.get_data())
    except ValueError:
        body = None
    encrypted = body.get("encryptedData") if isinstance(body, dict) else None
    try:
        user = sso.ghl_decrypt(encrypted if isinstance(encrypted, str) else "", rt().config.ghl_sso_key)
    except sso.SsoRefused as exc:
        log.warning("sso refused key=sso.ghl_invalid remote=%s: %s", request.remote_addr, exc)
        return jsonify(error=str(exc)), 403
    with rt().sessions() as s:
        agency = s.scalar(select(Agency).where(Agency.provider == "ghl", Agency.external_id == user.get("companyId")))
        sub = None
        if user.get("activeLocation"):
            sub = s.scalar(select(SubAccount).where(SubAccount.provider == "ghl",
                                                    SubAccount.external_id == user["activeLocation"]))
            if sub is None:
                return jsonify(error="Ringback is not installed in this sub-account"), 403
            owner = s.get(Agency, sub.agency_id) if sub.agency_id else None
            if owner is not None and owner.provider == "ghl" and owner.external_id != user.get("companyId"):
                log.warning("sso refused key=sso.cross_tenant location=%s company=%s", user["activeLocation"],
                            user.get("companyId"))
                return jsonify(error="this sub-account belongs to another agency"), 403
        elif user["type"] != "agency" or agency is None:
            return jsonify(error="Ringback is not installed for this agency"), 403
    agency_wide = user["type"] == "agency" and agency is not None
    viewer.sign_in(viewer.Viewer(provider="ghl", user=user.get("email") or user["userId"],
                                 agency_id=agency.id if agency_wide else None, sub_ids=[sub.id] if sub else []))
    target = url_for("settings.page", sub_id=sub.id) if sub else url_for("settings.agency")
    return jsonify(redirect=target)


@bp.post("/sso/salesforce")
def sso_salesforce():
    try:
        envelope = sso.canvas_verify(request.form.get("signed_request", ""), rt().config.salesforce_client_secret)
    except sso.SsoRefused as exc:
        return _refused(str(exc))
    org = envelope["context"]["organization"]["organizationId"]
    with rt().sessions() as s:
        sub = s.scalar(select(SubAccount).where(SubAccount.provider == "salesforce",
                                                SubAccount.external_id.in_({org, org[:15]})))
    if sub is None:
        return _refused(f"Ringback is not installed in Salesforce org {org}")
    user = (envelope["context"].get("user") or {})
    viewer.sign_in(viewer.Viewer(provider="salesforce", user=user.get("email") or user.get("userId") or "canvas",
                                 sub_ids=[sub.id]))
    return redirect(url_for("settings.page", sub_id=sub.id))


@bp.get("/sso/link")
def link():
    try:
        data = sso.link_open(rt().config.secret_key, request.args.get("t", ""))
    except sso.SsoRefused as exc:
        return _refused(str(exc))
    viewer.sign_in(viewer.Viewer(provider=data["provider"], user=data["user"], sub_ids=[int(data["sub"])]))
    return redirect(url_for("settings.page", sub_id=int(data["sub"])))


# ------------------------------------------------------------------ the page

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
    since = utcnow() - timedelta(days=30)
    counts = dict(s.execute(select(Recovery.state, func.count()).where(
        Recovery.sub_account_id == sub.id, Recovery.opened_at >= since).group_by(Recovery.state)).all())
    missed = s.scalar(select(func.count()).select_from(Call).where(
        Call.sub_account_id == sub.id, Call.missed.is_(True), Call.started_at >= since))
    previews = {kind: _render(settings.template_for(kind), sub.name, sub.booking_url)
                for kind in ("business_hours", "after_hours")}
    values = workflow_values(s, sub)
    pack = {name: validate_settings(name, values.get(name, {})) for name in ("reply_router", "follow_ups",
                                                                             "escalation", "booking_sync")}
    undelivered = s.scalars(select(Message).where(
        Message.sub_account_id == sub.id, Message.direction == "outbound", Message.status.in_(("undelivered", "failed")),
        Message.created_at >= since).order_by(Message.id.desc()).limit(10)).all()
    return {"sub": sub, "settings": settings, "installation": inst, "mapping": stage_mapping(s, sub),
            "undelivered": undelivered,
            "pack": pack, "workflow_names": WORKFLOWS, "packs": {k: v["label"] for k, v in PACKS.items()},
            "stages": [(k, LABELS[k]) for k in STAGES], "previews": previews, "missed": missed, "counts": counts,
            "warnings": _warnings(s, sub, settings, inst), "is_crm": registry.crm(sub.provider) is not None}


def _warnings(s, sub, settings, inst) -> list[str]:
    found = []
    cannot = texting.problem(s, rt().config, sub, settings)
    if cannot is not None:
        missed, first = texting.not_texted(s, sub.id, utcnow() - timedelta(days=30))
        since = f" ({missed} caller(s) not texted since {first:%b %d})" if missed else ""
        found.append(f"Ringback cannot text your missed callers: {cannot.why}{since}. To fix it: {cannot.fix}.")
    doubled = s.scalar(select(func.count(func.distinct(Message.recovery_id))).where(
        Message.sub_account_id == sub.id, Message.status == CRM_TEXT_STATUS,
        Message.created_at >= utcnow() - timedelta(days=30)))
    if doubled:
        found.append(f"GoHighLevel itself also texted {doubled} caller(s) within two minutes of Ringback's text "
                     "(not a person: most likely its own Missed Call Text Back), so they got two texts. Turn it "
                     "off in GoHighLevel (Settings > Phone Numbers > Missed Call Text Back) or switch Ringback's "
                     "text back off.")
    elif sub.provider == "ghl":
        found.append("If GoHighLevel's own Missed Call Text Back is on for this sub-account, callers get two "
                     "texts: turn it off in GoHighLevel (Settings > Phone Numbers).")
    if inst is None and registry.crm(sub.provider) is not None:
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
    who, sub = _visible_sub(sub_id)
    if who is None:
        return sub
    with rt().sessions() as s:
        data = _page_data(s, s.get(SubAccount, sub_id))
    return render_template("settings.html", viewer=who, saved=request.args.get("saved"),
                           installed=request.args.get("installed"), errors={}, form=None, **data)


@bp.post("/settings/<int:sub_id>")
def save(sub_id: int):
    who, sub = _visible_sub(sub_id)
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
            if sub.provider == "ghl":
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
    who, sub = _visible_sub(sub_id)
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
    who, sub = _visible_sub(sub_id)
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
    via = "ghl" if settings.send_via == "ghl" and sub.provider == "ghl" else None
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
    channel = "GoHighLevel" if via == "ghl" else ("Twilio" if runtime.sender_for(sub.id).name == "twilio" else "the sandbox")
    return jsonify(sent=True, to=to, text=text, status=result.status, sid=result.sid, channel=channel,
                   sender=sub.phone_number if via != "ghl" else "the location's number")


# ------------------------------------------------------------------ the number, and the agency's Twilio

@bp.route("/settings/<int:sub_id>/number", methods=["GET", "POST"])
def number(sub_id: int):
    """List the Twilio account's numbers; assign, buy or release the sub-account's (integration.numbers)."""
    who, sub = _visible_sub(sub_id)
    if who is None:
        return sub
    runtime, error = rt(), None
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "assign":
                phone = request.form.get("phone") or ""
                if not phone:
                    raise ValueError("choose a number first")
                numbers.assign(runtime, sub_id, phone, replace_ok=lambda foreign: request.form.get("replace") == "yes")
            elif action == "buy":
                area = (request.form.get("area_code") or "").strip()
                if not (area.isascii() and area.isdigit() and len(area) == 3):
                    raise ValueError("an area code is three digits, e.g. 512")
                numbers.buy(runtime, sub_id, area, confirm=lambda n: request.form.get("confirm_buy") == "yes")
            elif action == "release":
                numbers.release(runtime, sub_id)
            elif action == "ghl_number":
                numbers.use_ghl_number(runtime, sub_id, request.form.get("phone") or "")
            else:
                raise ValueError("choose what to do")
        except ValueError as exc:
            error = str(exc)
        else:
            log.info("number %s sub=%s by=%s", action, sub_id, who.user)
            if action != "release":
                sender_check.safely(runtime, sub_id)
            return redirect(url_for("settings.page", sub_id=sub_id, saved=1))
    with runtime.sessions() as s:
        sub = s.get(SubAccount, sub_id)
        via_ghl = sub.provider == "ghl" and text_back_settings(s, sub).send_via == "ghl"
    registered, listed, account_sid, problem, ghl, ghl_problem = None, None, None, None, None, None
    if via_ghl:
        try:
            ghl = numbers.ghl_numbers(runtime, sub_id)
            sender_check.record(runtime, sub_id, sender_check.from_ghl_numbers(sub_id, sub.phone_number, ghl)
                                if sub.phone_number else None)
        except ValueError as exc:
            ghl_problem = str(exc)
    else:
        try:
            listed, account_sid = numbers.listed(runtime, sub_id), numbers.account_for(runtime, sub_id).sid
            registered = numbers.registration(runtime, sub_id)
            sender_check.record(runtime, sub_id, sender_check.from_registration(registered))
        except ValueError as exc:
            problem = f"{exc}. Your agency connects its Twilio account on its Ringback page."
    return render_template("number.html", sub=sub, numbers=listed, account_sid=account_sid, account_problem=problem,
                           error=error, registered=registered, via_ghl=via_ghl, ghl_numbers=ghl,
                           ghl_problem=ghl_problem), 400 if error else 200


@bp.post("/agency/twilio")
def agency_twilio():
    """An agency user connects the agency's own Twilio account (in development, the default one)."""
    who = viewer.current()
    if who is None or (who.agency_id is None and (who.provider != "development" or rt().config.env == "production")):
        return _page(403, "Only an agency can connect a Twilio account", "Open Ringback from your CRM's agency account.")
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
    return redirect(url_for("settings.agency", twilio="connected"))


@bp.get("/agency")
def agency():
    who = viewer.current()
    if who is None:
        return _page(401, "Open Ringback from your CRM", "The agency view opens from inside your CRM's agency account.")
    return _agency_page(who)


def _agency_page(who, twilio_error: str | None = None):
    from ..models import TwilioAccount
    with rt().sessions() as s:
        scope = (TwilioAccount.agency_id == who.agency_id) if who.agency_id is not None \
            else TwilioAccount.agency_id.is_(None)
        twilio = s.scalar(select(TwilioAccount).where(scope))
        where = [SubAccount.id.in_(who.sub_ids or [-1])]
        if who.agency_id is not None:
            where = [(SubAccount.agency_id == who.agency_id) | SubAccount.id.in_(who.sub_ids or [-1])]
        subs = s.scalars(select(SubAccount).where(*where, SubAccount.removed_at.is_(None))
                         .order_by(SubAccount.name)).all()
        since = utcnow() - timedelta(days=30)
        rows = []
        for sub in subs:
            states = dict(s.execute(select(Recovery.state, func.count()).where(
                Recovery.sub_account_id == sub.id, Recovery.opened_at >= since).group_by(Recovery.state)).all())
            missed = s.scalar(select(func.count()).select_from(Call).where(
                Call.sub_account_id == sub.id, Call.missed.is_(True), Call.started_at >= since))
            value = s.scalar(select(func.coalesce(func.sum(Recovery.value), 0)).where(
                Recovery.sub_account_id == sub.id, Recovery.state == "booked", Recovery.opened_at >= since))
            settings = text_back_settings(s, sub)
            enabled, cannot = settings.enabled, texting.problem(s, rt().config, sub, settings)
            rows.append({"sub": sub, "missed": missed, "texted": sum(states.values()), "problem": cannot,
                         "not_texted": texting.not_texted(s, sub.id, since)[0] if cannot else 0,
                         "replied": states.get("replied", 0) + states.get("booked", 0),
                         "booked": states.get("booked", 0), "value": value, "enabled": enabled})
    may_connect = who.agency_id is not None or (who.provider == "development" and rt().config.env != "production")
    return render_template("agency.html", viewer=who, rows=rows, twilio=twilio, may_connect=may_connect,
                           twilio_error=twilio_error, connected=request.args.get("twilio") == "connected")
