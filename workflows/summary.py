"""When a sub-account's weekly summary is due, and which week it covers: pure, tested as a table.

The summary goes out once a week, on the chosen day at the chosen hour in the sub-account's own
time zone (or at the first hourly run after it), and covers the last whole week, Monday to
Sunday, before that day. A week is named by its Monday (ISO date), the key that keeps it to one
email however many workers run the hourly job.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from .config import DAYS


def week_covered(local_now: datetime) -> tuple[date, date]:
    """(Monday, Sunday) of the last whole week before ``local_now``'s week."""
    this_monday = local_now.date() - timedelta(days=local_now.weekday())
    return this_monday - timedelta(days=7), this_monday - timedelta(days=1)


def is_due(local_now: datetime, day: str, hour: int) -> bool:
    """The sending moment of this week has come (on its day from its hour, or any later day of the
    week: a worker that was down on Monday morning still sends on Monday afternoon or Tuesday)."""
    moment = DAYS.index(day) * 24 + hour
    return local_now.weekday() * 24 + local_now.hour >= moment
