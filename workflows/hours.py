"""Weekly business hours in the sub-account's own timezone.

A schedule is written the way a person would say it, e.g.
``"mon-fri 08:00-18:00; sat 09:00-13:00"``: days (single, or ranges wrapping past Sunday)
followed by one or more ``HH:MM-HH:MM`` ranges; days not named are closed; ``24/7`` means
always open. ``24:00`` ends a range at midnight.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_FULL = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class BadSchedule(ValueError):
    """The schedule text could not be read; the message says where."""


@dataclass(frozen=True)
class WeeklySchedule:
    # minutes from midnight, per weekday (0 = Monday): tuple of (start, end) with start < end <= 1440
    days: tuple[tuple[tuple[int, int], ...], ...]

    @classmethod
    def parse(cls, spec: str) -> "WeeklySchedule":
        text = (spec or "").strip().lower()
        if not text:
            raise BadSchedule("empty schedule: write e.g. 'mon-fri 08:00-18:00'")
        if text in {"24/7", "always"}:
            return cls(days=tuple(((0, 1440),) for _ in DAYS))
        days: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for clause in re.split(r"[;\n]+", text):
            clause = clause.strip()
            if not clause:
                continue
            parts = clause.replace(",", " ").split()
            if len(parts) < 2:
                raise BadSchedule(f"{clause!r}: expected days then hours, e.g. 'mon-fri 08:00-18:00'")
            day_idx = _parse_days(parts[0], clause)
            if parts[1:] == ["closed"]:
                for d in day_idx:
                    days[d] = []
                continue
            ranges = [_parse_range(p, clause) for p in parts[1:]]
            for d in day_idx:
                days[d].extend(ranges)
        return cls(days=tuple(tuple(sorted(r)) for r in days))

    def format(self) -> str:
        """The schedule written back in the same form ``parse`` reads."""
        if all(r == ((0, 1440),) for r in self.days):
            return "24/7"
        out, i = [], 0
        while i < 7:
            j = i
            while j + 1 < 7 and self.days[j + 1] == self.days[i]:
                j += 1
            if self.days[i]:
                label = DAYS[i] if i == j else f"{DAYS[i]}-{DAYS[j]}"
                out.append(label + " " + " ".join(f"{_hm(a)}-{_hm(b)}" for a, b in self.days[i]))
            i = j + 1
        return "; ".join(out) if out else "closed"

    def is_open(self, tz: str, now: datetime) -> bool:
        """True when ``now`` (an aware datetime) falls inside opening hours in ``tz``."""
        local = now.astimezone(zone(tz))
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.days[local.weekday()])

    def next_opening(self, tz: str, now: datetime, skip_dates=frozenset()) -> datetime | None:
        """The first opening time strictly after ``now``, skipping dates in ``skip_dates``."""
        z = zone(tz)
        local = now.astimezone(z)
        for offset in range(0, 15):
            day = (local + timedelta(days=offset)).date()
            if day in skip_dates:
                continue
            for start, _end in self.days[day.weekday()]:
                candidate = datetime.combine(day, time(start // 60, start % 60), tzinfo=z)
                if candidate > local:
                    return candidate
        return None


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSchedule(f"unknown timezone {tz!r}: use an IANA name such as 'America/Chicago'") from None


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_days(token: str, clause: str) -> list[int]:
    if token in {"daily", "everyday", "all"}:
        return list(range(7))
    if "-" in token:
        a, _, b = token.partition("-")
        i, j = _day(a, clause), _day(b, clause)
        return [(i + k) % 7 for k in range(((j - i) % 7) + 1)]
    return [_day(token, clause)]


def _day(token: str, clause: str) -> int:
    for i, full in enumerate(_FULL):
        if len(token) >= 3 and full.startswith(token):
            return i
    raise BadSchedule(f"{clause!r}: {token!r} is not a day (use mon, tue, ... sun)")


def _parse_range(token: str, clause: str) -> tuple[int, int]:
    m = _RANGE.match(token)
    if not m:
        raise BadSchedule(f"{clause!r}: {token!r} is not a time range like 08:00-18:00")
    h1, m1, h2, m2 = map(int, m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    for hour, minute, allowed in ((h1, m1, 23), (h2, m2, 24)):
        if hour > allowed or minute > 59 or (hour == 24 and minute):
            raise BadSchedule(f"{clause!r}: {hour:02d}:{minute:02d} is not a time of day "
                              f"(00:00 to {'24:00' if allowed == 24 else '23:59'})")
    if start >= end:
        raise BadSchedule(f"{clause!r}: {token!r} must start before it ends, within one day")
    return (start, end)
