"""A sub-account's number page: the Twilio account's numbers (assign, buy, release, a Messaging
Service), or a GoHighLevel location's own numbers (integration.numbers)."""
from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for

from connectors.twilio import numbers as twilio_numbers

from .. import numbers, sender_check
from ..models import SubAccount
from ..settings_store import text_back_settings, texts_through_crm
from . import access, rt

log = logging.getLogger("ringback.number_page")
bp = Blueprint("number_page", __name__)


@bp.route("/settings/<int:sub_id>/number", methods=["GET", "POST"])
def number(sub_id: int):
    """List the Twilio account's numbers; assign, buy or release the sub-account's (integration.numbers)."""
    who, sub = access.visible_sub(sub_id)
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
                numbers.buy(runtime, sub_id, area, confirm=lambda n, price: request.form.get("confirm_buy") == "yes")
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
        via_ghl = texts_through_crm(sub, text_back_settings(s, sub))
    registered, listed, account_sid, problem, ghl, ghl_problem, price = None, None, None, None, None, None, None
    if via_ghl:
        try:
            ghl = numbers.ghl_numbers(runtime, sub_id)
            sender_check.record(runtime, sub_id, sender_check.from_ghl_numbers(sub_id, sub.phone_number, ghl)
                                if sub.phone_number else None)
        except ValueError as exc:
            ghl_problem = str(exc)
    else:
        try:
            account = numbers.account_for(runtime, sub_id)  # once: its credentials opened, its client made
            listed, account_sid = numbers.listed(runtime, sub_id, account), account.sid
            registered = numbers.registration(runtime, sub_id, account)
            price = twilio_numbers.monthly_price(account.client)
            sender_check.record(runtime, sub_id, sender_check.from_registration(registered))
        except ValueError as exc:
            problem = f"{exc}. Your agency connects its Twilio account on its Ringback page."
    return render_template("number.html", sub=sub, numbers=listed, account_sid=account_sid, account_problem=problem,
                           error=error, registered=registered, via_ghl=via_ghl, ghl_numbers=ghl,
                           ghl_problem=ghl_problem, price=price), 400 if error else 200
