"""Opt-outs: never text a number that said STOP (or that the provider says opted out) again."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session


from ..models import OptOut, Recovery, Step

from .outcomes import STOPPED_STEP_KINDS

log = logging.getLogger("ringback.worker")


def opted_out(s: Session, sub_account_id: int, phone: str) -> bool:
    return bool(s.scalar(select(exists().where(OptOut.sub_account_id == sub_account_id, OptOut.phone == phone))))


def record_opt_out(s: Session, sub_account_id: int | None, phone: str, source: str, now: datetime) -> None:
    """Never text ``phone`` from this sub-account again, whatever said so (STOP, Twilio's 21610):
    record it once, close the caller's open recovery, cancel the texts still scheduled."""
    if sub_account_id is None:
        return
    if not opted_out(s, sub_account_id, phone):
        s.add(OptOut(sub_account_id=sub_account_id, phone=phone, source=source, created_at=now))
    rec = s.scalar(select(Recovery).where(Recovery.open_key == f"{sub_account_id}:{phone}"))
    if rec is not None:
        rec.open_key, rec.closed_at = None, now
    s.execute(update(Step).where(Step.sub_account_id == sub_account_id, Step.status == "pending",
                                 Step.kind.in_(STOPPED_STEP_KINDS), Step.payload["to"].as_string() == phone)
              .values(status="cancelled", last_error="caller opted out", finished_at=now))
