"""The agency page: every sub-account an agency user may see, whether each can text, its numbers
for the last 30 days, and the agency's own Twilio account."""
from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import agency_view, numbers, twilio_accounts, viewer
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


def _agency_page(who, twilio_error: str | None = None):
    from ..models import TwilioAccount
    with rt().sessions() as s:
        scope = (TwilioAccount.agency_id == who.agency_id) if who.agency_id is not None \
            else TwilioAccount.agency_id.is_(None)
        twilio = s.scalar(select(TwilioAccount).where(scope))
        now = utcnow()
        rows = [agency_view.row(s, rt().config, sub, now)
                for sub in agency_view.agency_subs(s, who.agency_id, who.sub_ids)]
    may_connect = who.agency_id is not None or (who.provider == "development" and rt().config.env != "production")
    return render_template("agency.html", viewer=who, rows=rows, twilio=twilio, may_connect=may_connect,
                           twilio_error=twilio_error, connected=request.args.get("twilio") == "connected")
