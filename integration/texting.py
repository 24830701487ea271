"""Whether a sub-account can text its missed callers, and if not, the one thing to do.

Shown first on its settings page, beside it on the agency page, and in `ringback subaccount
list` and `ringback installations list`, with the callers it could not text: nobody should
learn it from a lost customer. (/readyz is about the process; this is per tenant.)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from connectors.twilio.errors import plain

from .models import Call, Installation, Message, TwilioAccount
from .settings_store import crm_sends_texts, text_back_settings, texts_through_crm, workflow_rows_many


# What the last text failing with means nothing will get through until someone acts (Twilio's codes).
BLOCKING = {
    20003: ("Twilio refused the account's credentials", "connect the Twilio account again with its current auth token"),
    20005: ("the Twilio account is not active (suspended or closed)", "reactivate it in the Twilio console, or connect "
                                                                      "another account"),
    21606: ("the number cannot send texts for this Twilio account", "assign a number of the account that can text"),
    30034: ("US carriers block the number's texts: it is not in a registered A2P 10DLC campaign",
            "register a brand and campaign on a Messaging Service, add the number, then "
            "`ringback subaccount number ID --messaging-service MG...`"),
}


@dataclass(frozen=True)
class Problem:
    short: str  # a few words, for a table column
    why: str  # what is wrong
    fix: str  # the one thing to do


def problem(session, config, sub, settings=None) -> Problem | None:
    """Why ``sub`` cannot text a missed caller now, or None when it can (switched off is a choice, not a problem)."""
    settings = settings or text_back_settings(session, sub)
    return problems(session, config, [sub], {sub.id: settings})[sub.id]


def problems(session, config, subs: list, settings: dict) -> dict[int, Problem | None]:
    """``problem`` for many sub-accounts (``settings`` by sub-account id), in three queries."""
    ids = [sub.id for sub in subs] or [-1]
    installed = set(session.scalars(select(Installation.sub_account_id).where(Installation.sub_account_id.in_(ids))))
    with_account = set(session.scalars(select(TwilioAccount.agency_id).distinct()))  # None: the default account
    newest = select(func.max(Message.id)).where(Message.sub_account_id.in_(ids), Message.direction == "outbound") \
        .group_by(Message.sub_account_id)
    last = {r.sub_account_id: r for r in session.execute(
        select(Message.sub_account_id, Message.status, Message.error_code).where(Message.id.in_(newest)))}
    return {sub.id: _problem(config, sub, settings[sub.id], installed=sub.id in installed,
                             connected=bool(with_account & {sub.agency_id, None}), last=last.get(sub.id))
            for sub in subs}


def _problem(config, sub, settings, *, installed: bool, connected: bool, last) -> Problem | None:
    if texts_through_crm(sub, settings):
        if not installed:
            return Problem("not connected", "texts go through GoHighLevel, but Ringback is not connected to this "
                           "location any more", "install Ringback in the location again from the marketplace")
        return checked(sub)
    if not sub.phone_number:
        return Problem("no number", "this sub-account has no number to text from",
                       f"give it one: `ringback subaccount number {sub.id} --assign +1...` (or --buy --area-code N)"
                       + ("; or send through GoHighLevel's conversations (\"Send texts through\")"
                          if crm_sends_texts(sub.provider) else ""))
    if not connected and not config.twilio_account_sid:
        return Problem("sandbox", "no Twilio account is connected, so texts only go to Ringback's sandbox",
                       "connect one: `ringback twilio connect --account-sid AC... --auth-token ...`")
    # The last text tells what the settings cannot: a revoked token, a suspended account, carriers
    # refusing an unregistered number. Cleared by the next text that gets through.
    if last is not None and last.status in ("failed", "undelivered") and last.error_code in BLOCKING:
        why, fix = BLOCKING[last.error_code]
        return Problem(f"Twilio {last.error_code}", f"{why} ({plain(last.error_code)})", fix.replace("ID", str(sub.id)))
    return checked(sub)


def checked(sub) -> Problem | None:
    """What the last check of the sender with its vendor found (integration.sender_check): a
    GoHighLevel number gone from the location, a US number in no registered A2P campaign."""
    found = sub.sender_problem
    if not isinstance(found, dict) or not found.get("short"):
        return None
    return Problem(str(found["short"]), str(found.get("why") or ""), str(found.get("fix") or ""))


def standing(session, config, subs: list, since: datetime) -> tuple[dict, dict, dict]:
    """For many sub-accounts at once: ({id: text back settings}, {id: Problem or None}, {id: callers
    not texted since ``since`` for want of a way to text}), in a handful of queries."""
    workflows = workflow_rows_many(session, subs)
    settings = {sub.id: text_back_settings(session, sub, workflows[sub.id]) for sub in subs}
    found = problems(session, config, subs, settings)
    return settings, found, not_texted_many(session, [sub.id for sub in subs if found[sub.id]], since)


def not_texted_many(session, sub_ids: list[int], since: datetime) -> dict[int, int]:
    """``not_texted``'s count for many sub-accounts, in one query."""
    return dict(session.execute(select(Call.sub_account_id, func.count()).where(
        Call.sub_account_id.in_(list(sub_ids) or [-1]), Call.missed.is_(True), Call.outcome == "no_sender",
        Call.started_at >= since).group_by(Call.sub_account_id)).all())


def not_texted(session, sub_id: int, since: datetime) -> tuple[int, datetime | None]:
    """Missed callers since ``since`` who got no text because there was no way to send one."""
    count, first = session.execute(select(func.count(), func.min(Call.started_at)).where(
        Call.sub_account_id == sub_id, Call.missed.is_(True), Call.outcome == "no_sender",  # (ix_calls_missed_...)
        Call.started_at >= since)).one()
    return count, first
