"""When the next touch of a recovery goes out: at most three in all, never in quiet hours.

Touch 1 is the text-back, sent at once at any hour (it answers a call just made). Touch 2
follows after a delay (2 hours by default); touch 3 at the business's opening on the next
business day after touch 2. A follow-up that falls in quiet hours (21:00-08:00 by default, in the caller's
and the business's local time), on a closed day or a public holiday is deferred to the first
moment allowed, never dropped. Pure: ``now`` and the holiday dates are passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from . import templates
from .hours import WeeklySchedule, zone

MAX_TOUCHES = 3
FOLLOW_UP_2 = ("Hi {first_name}, just checking in from {business_name}. Still need a hand? "
               "Reply here or book a time: {booking_link}")
FOLLOW_UP_2_NO_LINK = "Hi {first_name}, just checking in from {business_name}. Still need a hand? Reply here."
FOLLOW_UP_3 = ("Hi {first_name}, {business_name} here one last time. We'd love to help: reply or book "
               "whenever suits you: {booking_link}")
FOLLOW_UP_3_NO_LINK = "Hi {first_name}, {business_name} here one last time. We'd love to help: just reply."


@dataclass(frozen=True)
class FollowUpSettings:
    enabled: bool = True
    touches: int = 3  # in all, the text-back included (1 = the text-back only)
    second_after_minutes: int = 120
    third: str = "next_business_day"  # or "after_minutes"
    third_after_minutes: int = 24 * 60
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    country: str = "US"
    subdivision: str | None = None
    second_template: str | None = None
    third_template: str | None = None

    def __post_init__(self):
        if not 1 <= self.touches <= MAX_TOUCHES:
            raise ValueError(f"touches must be between 1 and {MAX_TOUCHES} (the text-back included)")
        if self.second_after_minutes < 1 or self.third_after_minutes < 1:
            raise ValueError("follow-up delays must be at least a minute")
        if self.third not in ("next_business_day", "after_minutes"):
            raise ValueError("third must be next_business_day or after_minutes")
        for t in (self.second_template, self.third_template):
            if t:
                templates.check(t)

    def template_for(self, touch: int, has_link: bool) -> str:
        if touch == 2:
            return self.second_template or (FOLLOW_UP_2 if has_link else FOLLOW_UP_2_NO_LINK)
        return self.third_template or (FOLLOW_UP_3 if has_link else FOLLOW_UP_3_NO_LINK)


@dataclass(frozen=True)
class Calendar:
    """Where and when the business works: its hours, timezone and public holidays."""

    hours: WeeklySchedule
    timezone: str
    holidays: frozenset[date] = field(default_factory=frozenset)
    caller_timezone: str | None = None  # from the caller's number, when it says


def in_quiet_hours(moment: datetime, settings: FollowUpSettings, tz: str) -> bool:
    local = moment.astimezone(zone(tz)).time()
    start, end = settings.quiet_start, settings.quiet_end
    return (local >= start or local < end) if start > end else (start <= local < end)


def allowed(moment: datetime, settings: FollowUpSettings, cal: Calendar) -> bool:
    """A follow-up may go out at ``moment``: outside quiet hours in both timezones, not on a
    closed day or a holiday (in the business's timezone)."""
    for tz in {cal.timezone, cal.caller_timezone or cal.timezone}:
        if in_quiet_hours(moment, settings, tz):
            return False
    local = moment.astimezone(zone(cal.timezone))
    return local.date() not in cal.holidays and bool(cal.hours.days[local.weekday()])


def first_allowed(moment: datetime, settings: FollowUpSettings, cal: Calendar) -> datetime | None:
    """``moment`` if allowed, else the first allowed time after it (minute steps across quiet
    hours, whole days across closed days and holidays); None if nothing within 30 days."""
    z = zone(cal.timezone)
    candidate = moment
    limit = moment + timedelta(days=30)
    while candidate <= limit:
        if allowed(candidate, settings, cal):
            return candidate
        local = candidate.astimezone(z)
        if local.date() in cal.holidays or not cal.hours.days[local.weekday()]:
            # The whole day is out: the next day, at the end of quiet hours.
            nxt = datetime.combine(local.date() + timedelta(days=1), settings.quiet_end, tzinfo=z)
        else:
            nxt = candidate + timedelta(minutes=15)
            nxt = nxt.replace(minute=(nxt.minute // 15) * 15, second=0, microsecond=0)
        candidate = nxt.astimezone(moment.tzinfo) if nxt > candidate else candidate + timedelta(minutes=15)
    return None


def next_touch_at(touch: int, previous_at: datetime, settings: FollowUpSettings, cal: Calendar) -> datetime | None:
    """When touch ``touch`` (2 or 3) falls due, counted from the touch before it
    (``previous_at``: when it was sent); None when there is no such touch."""
    if not settings.enabled or touch > settings.touches or touch < 2:
        return None
    if touch == 2:
        return first_allowed(previous_at + timedelta(minutes=settings.second_after_minutes), settings, cal)
    if settings.third == "after_minutes":
        return first_allowed(previous_at + timedelta(minutes=settings.third_after_minutes), settings, cal)
    # The next business day at opening time (after the day of the previous touch).
    z = zone(cal.timezone)
    local = previous_at.astimezone(z)
    end_of_day = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=z) - timedelta(seconds=1)
    opening = cal.hours.next_opening(cal.timezone, end_of_day, skip_dates=cal.holidays)
    return first_allowed(opening, settings, cal) if opening else None
