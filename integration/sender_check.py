"""Checks of a sub-account's sender with its vendor, so "not texting" shows before a text fails.

Two things only the vendor knows: whether the GoHighLevel number texts go out of is still one of
the location's numbers (a number released in GoHighLevel just disappears from its list), and
whether a US Twilio number is in a registered A2P 10DLC campaign (carriers block it otherwise,
Twilio 30034). What a check finds is stored on the sub-account (`sender_problem`), so the
settings page, the agency page and the CLI lists show it without asking the vendor each time.

A check runs when the sender changes (a number assigned, bought, chosen; a Messaging Service
set), when its number page or `ringback subaccount number ID --list` is opened, and every
CHECK_EVERY from the worker's periodic task. A vendor that cannot be asked leaves the last
finding as it was: "could not ask" is not "fine".
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select

from . import numbers, subaccounts
from .db import transaction
from .models import SubAccount, utcnow
from .settings_store import text_back_settings, texts_through_crm

log = logging.getLogger("ringback.sender_check")
CHECK_EVERY = timedelta(hours=6)
UNKNOWN = object()


def check(rt, sub_id: int) -> dict | None:
    """Ask the vendor about the sub-account's sender now; store and return what is wrong (or None)."""
    with rt.sessions() as s:
        sub = subaccounts.active(s, sub_id)
        if sub is None:
            return None
        via_ghl = texts_through_crm(sub, text_back_settings(s, sub))
        phone_number = sub.phone_number
    if via_ghl:
        if not phone_number:
            found = None  # GoHighLevel sends from the location's default number
        else:
            try:
                found = from_ghl_numbers(sub_id, phone_number, numbers.ghl_numbers(rt, sub_id))
            except ValueError as exc:
                log.info("sender check sub=%s: cannot list the location's numbers: %s", sub_id, exc)
                found = UNKNOWN
    else:
        try:
            account = numbers.account_for(rt, sub_id) if phone_number else None
            owned = numbers.still_owned(rt, sub_id, account)
            found = from_registration(numbers.registration(rt, sub_id, account)) if owned else gone_from_twilio(
                sub_id, phone_number)
        except ValueError as exc:  # the sandbox (said elsewhere), or Twilio unreachable
            log.info("sender check sub=%s: %s", sub_id, exc)
            found = UNKNOWN
    return record(rt, sub_id, found)


def gone_from_twilio(sub_id: int, phone_number: str) -> dict:
    return {"short": "number gone",
            "why": f"{phone_number} is no longer a number of the Twilio account (released or moved in Twilio)",
            "fix": f"give the sub-account another: `ringback subaccount number {sub_id} --assign +1...` (or --buy "
                   "--area-code N), or on its number page"}


def record(rt, sub_id: int, found) -> dict | None:
    """Store what a check found (UNKNOWN: keep the last finding, only the time moves)."""
    with transaction(rt.sessions) as s:
        sub = s.get(SubAccount, sub_id)
        if sub is None:
            return None
        sub.sender_checked_at = utcnow()
        if found is not UNKNOWN:
            sub.sender_problem = found
        return sub.sender_problem


def from_ghl_numbers(sub_id: int, phone_number: str, listed: list[dict]) -> dict | None:
    if phone_number in {n["phone_number"] for n in listed}:
        return None
    others = ", ".join(n["phone_number"] for n in listed) or "none"
    return {"short": "number gone",
            "why": f"GoHighLevel no longer lists {phone_number} among the location's numbers that can text "
                   f"(it has: {others})",
            "fix": f"choose another of the location's numbers on the number page, or `ringback subaccount number "
                   f"{sub_id} --assign +1...`"}


def from_registration(found) -> dict | None:
    if found is None or not found.blocked:
        return None
    return {"short": "A2P not registered", "why": found.text, "fix": found.fix}


def safely(rt, sub_id: int) -> None:
    """check(), for after a change: the change is done whatever the vendor says now."""
    try:
        check(rt, sub_id)
    except Exception:
        log.exception("sender check sub=%s failed", sub_id)


def check_due(rt, limit: int = 200) -> int:
    """Check the sub-accounts whose last check is older than CHECK_EVERY (the worker, hourly). A
    sender set up less than CHECK_EVERY ago was read from its vendor then (an install reads the
    location's numbers, an assignment checks at once), so it waits its turn like the others."""
    before = utcnow() - CHECK_EVERY
    with rt.sessions() as s:
        due = s.scalars(select(SubAccount.id).where(
            SubAccount.removed_at.is_(None), SubAccount.phone_number.is_not(None),
            or_(SubAccount.sender_checked_at < before,
                SubAccount.sender_checked_at.is_(None) & (SubAccount.created_at < before)))
            .order_by(SubAccount.sender_checked_at.is_not(None), SubAccount.sender_checked_at).limit(limit)).all()
    for sub_id in due:
        safely(rt, sub_id)  # one sub-account's vendor trouble never stops the others' checks
    return len(due)
