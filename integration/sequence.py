"""A recovery's life after the text-back, as step rows: follow-ups, escalation, going lost.

Every scheduled action is a step with a unique idempotency key, so a restart, a crash or a
deploy in the middle of a sequence resumes it without a lost or doubled text:
  recovery:<id>:touch:2 / :touch:3   follow-up texts (at most three touches in all)
  recovery:<id>:escalate             a CRM task when no booking came within the hours set
  recovery:<id>:lost                 the recovery goes lost when the caller never replied
What is due when comes from workflows.followups (pure); this module writes and reads rows.
"""
from __future__ import annotations

import functools
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from workflows import config as wf_config
from workflows import followups, templates
from workflows.hours import WeeklySchedule
from workflows.phones import caller_timezone

from .models import Recovery, Step
from .statements import steps_table

log = logging.getLogger("ringback.sequence")

FOLLOW_UP = "follow_up"
TASK_KINDS = {"escalate", "mark_lost"}
OPEN_STATES = ("missed", "texted")  # a follow-up only goes to a caller who has not replied or booked


@functools.lru_cache(maxsize=256)
def holidays_for(country: str, subdivision: str | None, year: int) -> frozenset:
    return wf_config.holiday_dates(country, subdivision, (year, year + 1))


def calendar(sub, settings: followups.FollowUpSettings, now: datetime, caller: str | None = None) -> followups.Calendar:
    """The business's hours and holidays, and the caller's timezone when their number says it:
    quiet hours hold in both."""
    return followups.Calendar(hours=WeeklySchedule.parse(sub.business_hours), timezone=sub.timezone,
                              holidays=holidays_for(settings.country, settings.subdivision, now.year),
                              caller_timezone=caller_timezone(caller) if caller else None)


def new_link_token() -> str:
    # Short on purpose: every character of the link is in the text, and a text of over 160
    # characters costs two segments. 8 characters of base64 are 2^48 links: not guessable.
    return secrets.token_urlsafe(6)


def tracked_link(public_url: str, token: str | None) -> str | None:
    return f"{public_url}/b/{token}" if token else None


def schedule_after_text_back(conn, sub, pack, rec_id: int, payload: dict, link: str | None, now: datetime) -> None:
    """Right after a text-back is decided: touch 2, the escalation check and the lost check."""
    fu = pack.follow_ups
    due = followups.next_touch_at(2, now, fu, calendar(sub, fu, now, payload.get("to")))
    rows = []
    if due is not None:
        body = templates.render(fu.template_for(2, bool(link)), business_name=sub.name, first_name=None,
                                booking_link=link, first_in_conversation=False)
        rows.append(_step(sub.id, rec_id, FOLLOW_UP, f"recovery:{rec_id}:touch:2", due, now,
                          payload | {"body": body, "touch": 2, "template": "follow_up_2"}))
    if pack.escalation.enabled:
        rows.append(_step(sub.id, rec_id, "escalate", f"recovery:{rec_id}:escalate",
                          now + timedelta(hours=pack.escalation.no_booking_hours), now, {"crm": payload.get("crm")}))
    if pack.booking.enabled:
        rows.append(_step(sub.id, rec_id, "mark_lost", f"recovery:{rec_id}:lost",
                          now + timedelta(days=pack.booking.lost_after_days), now, {"crm": payload.get("crm")}))
    if rows:
        conn.execute(steps_table.insert(), rows)


def _step(sub_id, rec_id, kind, key, due, now, payload) -> dict:
    return {"sub_account_id": sub_id, "recovery_id": rec_id, "kind": kind, "idempotency_key": key, "payload": payload,
            "status": "pending", "due_at": due, "expires_at": None, "lease_until": None, "attempts": 0,
            "created_at": now}


def schedule_touch_3(s, sub, pack, rec: Recovery, previous: dict, link: str | None, now: datetime) -> None:
    """After touch 2 went out: the last touch, at the next business day's opening."""
    fu = pack.follow_ups
    due = followups.next_touch_at(3, now, fu, calendar(sub, fu, now, previous.get("to")))
    if due is None or rec.state not in OPEN_STATES or rec.open_key is None:
        return
    body = templates.render(fu.template_for(3, bool(link)), business_name=sub.name, first_name=None,
                            booking_link=link, first_in_conversation=False)
    payload = {k: previous[k] for k in ("to", "from", "crm", "via", "contact_id") if k in previous}
    try:
        with s.begin_nested():
            s.execute(steps_table.insert(), [_step(sub.id, rec.id, FOLLOW_UP, f"recovery:{rec.id}:touch:3", due, now,
                                                   payload | {"body": body, "touch": 3, "template": "follow_up_3"})])
    except IntegrityError:
        log.info("touch 3 of recovery %s is scheduled already", rec.id)


def cancel_follow_ups(s, rec_id: int, why: str, now: datetime) -> int:
    return s.execute(update(Step).where(Step.recovery_id == rec_id, Step.status == "pending",
                                        Step.kind == FOLLOW_UP)
                     .values(status="cancelled", last_error=why, finished_at=now)).rowcount


def follow_up_blocked(s, step: Step, now: datetime, pack, sub) -> tuple[str | None, datetime | None]:
    """(why not, deferred to) for a follow-up about to be sent: the caller replied or booked,
    the recovery closed, three touches went out already, or it is quiet hours now (deferred)."""
    rec = s.get(Recovery, step.recovery_id)
    if rec is None or rec.open_key is None or rec.state not in OPEN_STATES:
        return f"recovery is {rec.state if rec else 'gone'}: no follow-up", None
    if rec.touches >= followups.MAX_TOUCHES:
        return "three touches went out already", None
    fu = pack.follow_ups
    if not fu.enabled:
        return "follow-ups were switched off", None
    cal = calendar(sub, fu, now, (step.payload or {}).get("to"))
    if not followups.allowed(now, fu, cal):
        later = followups.first_allowed(now, fu, cal)
        return ("no time allowed within 30 days", None) if later is None else (None, later)
    return None, None
