"""The numbers that prove the money recovered: per day and in total.

Calls count on the day they came in, recoveries on the day their missed call came in (so a
booking two days later still counts for the day of the call), opt-outs on the day they came.
Days are the sub-account's local dates when the report is for one sub-account, else UTC dates. Seconds to text run from the moment Ringback heard of the missed call (its
webhook arrived) to the moment the provider accepted the text.
"""
from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Float, Integer, Interval, cast, extract, func, select

from .models import Call, Message, OptOut, Recovery, utcnow

DELIVERED = {"delivered", "read"}
EARLIEST, LATEST = date(1970, 1, 1), date(9000, 12, 31)
COLUMNS = ("day", "missed_calls", "texted", "delivered", "replied", "booked", "lost", "opted_out",
           "revenue", "reply_rate", "booking_rate", "median_seconds_to_text", "p95_seconds_to_text")


@dataclass
class Row:
    day: str
    missed_calls: int = 0
    texted: int = 0
    delivered: int = 0
    replied: int = 0
    booked: int = 0
    lost: int = 0
    opted_out: int = 0
    revenue: float = 0.0
    reply_rate: float | None = None
    booking_rate: float | None = None
    median_seconds_to_text: float | None = None
    p95_seconds_to_text: float | None = None
    _delays: list = field(default_factory=list, repr=False)

    def finish(self) -> "Row":
        if self.texted:
            self.reply_rate = round(self.replied / self.texted, 3)
            self.booking_rate = round(self.booked / self.texted, 3)
        if self._delays:
            delays = sorted(self._delays)
            self.median_seconds_to_text = round(statistics.median(delays), 3)
            self.p95_seconds_to_text = round(delays[min(len(delays) - 1, int(0.95 * len(delays)))], 3)
        self.revenue = round(self.revenue, 2)
        return self

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in COLUMNS}  # (not dataclasses.asdict: it deep-copies the delays)


@dataclass
class Summary:
    """A period's numbers: per day, in total, per sub-account, why missed callers were not texted,
    and how long texts took (counts per band of seconds)."""

    days: list[Row]
    total: Row
    subs: dict[int, Row]
    not_texted: dict[str, int]
    to_text: dict[str, int]
    time_zone: str


# Bands of seconds from the missed call to the text, as the dashboard draws them.
TO_TEXT_BANDS = ((1, "under 1 s"), (2, "1-2 s"), (5, "2-5 s"), (30, "5-30 s"), (300, "30 s-5 min"),
                 (None, "over 5 min"))
# Why a missed caller got no text, from the call's outcome (a suppressed call's own reason follows).
NOT_TEXTED = {"joined": "already texted within the dedupe window", "no_sender": "no number to text from",
              "unusable_number": "no usable phone number", "late": "found too late to text: a task to call back"}


def build(s, *, sub_account_id: int | None = None, since: date | None = None, until: date | None = None,
          tz: str | None = None, sub_account_ids: list[int] | None = None) -> tuple[list[Row], Row]:
    """(one row per day, the total row) from ``since`` to ``until`` (both days included). Days are
    dates in ``tz`` (a sub-account's own), else UTC. ``sub_account_ids``: only these (an agency's)."""
    summary = collect(s, sub_account_id=sub_account_id, since=since, until=until, tz=tz,
                      sub_account_ids=sub_account_ids)
    return summary.days, summary.total


def _slot(dialect: str, column):
    """A UTC datetime column as its quarter hour since 1970 (an integer). Every time zone's offset
    and every daylight-saving change falls on a quarter hour, so a quarter hour lies in one local
    day whatever the zone: counted per quarter hour in SQL, mapped to days in Python."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column).op("/")(SLOT_SECONDS)), BigInteger)
    return _whole_seconds(column).op("/", return_type=Integer)(SLOT_SECONDS)


def _whole_seconds(column):
    """SQLite: a datetime column's whole seconds since 1970. SQLAlchemy stores it as text,
    'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; SQLite's date functions round to the millisecond, so
    23:59:59.9996 would count as the next second (and day): the fraction is cut off first."""
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)


def _seconds(dialect: str, start, end):
    """Seconds from one datetime column to another, as a float, in SQL."""
    if dialect == "postgresql":
        return cast(extract("epoch", end.op("-", return_type=Interval)(start)), Float)
    # Whole seconds and the microseconds after them are read apart (see _whole_seconds).
    whole = _whole_seconds(end) - _whole_seconds(start)
    return whole + (cast(func.substr(end, 20), Float) - cast(func.substr(start, 20), Float))


SLOT_SECONDS = 900


def collect(s, *, sub_account_id: int | None = None, since: date | None = None, until: date | None = None,
            tz: str | None = None, sub_account_ids: list[int] | None = None) -> Summary:
    """Everything ``build`` counts, also per sub-account, with the reasons callers were not texted.
    Counted in SQL per quarter hour and per sub-account (an agency's 90 days are some 200,000
    calls); only the seconds to text come back one per text, for their median and 95th percentile."""
    zone_ = ZoneInfo(tz) if tz else timezone.utc
    # Nothing happened before 1970 or will after 9000; within these, a day's bounds in any time
    # zone (and the day after the last) are datetimes Python and PostgreSQL can hold.
    since = min(max(since, EARLIEST), LATEST) if since else None
    until = max(min(until, LATEST), EARLIEST) if until else None
    start = datetime.combine(since, time(0, 0), tzinfo=zone_) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0, 0), tzinfo=zone_) if until else None
    days: dict[str, Row] = {}
    subs: dict[int, Row] = {}
    total = Row("total")
    day_of: dict[int, Row] = {}
    conn = s.connection()  # Core rows: no ORM bookkeeping per row
    dialect = conn.dialect.name

    def day(slot: int) -> Row:
        r = day_of.get(slot)
        if r is None:
            key = datetime.fromtimestamp(slot * SLOT_SECONDS, zone_).date().isoformat()
            r = day_of[slot] = days.get(key) or days.setdefault(key, Row(key))
        return r

    def sub(sub_id: int) -> Row:
        return subs.get(sub_id) or subs.setdefault(sub_id, Row(str(sub_id)))

    def where(model, column, upto: bool = True):
        out = []
        if sub_account_id is not None:
            out.append(model.sub_account_id == sub_account_id)
        if sub_account_ids is not None:
            out.append(model.sub_account_id.in_(list(sub_account_ids) or [-1]))
        if start is not None:
            out.append(column >= start)
        if end is not None and upto:
            out.append(column < end)
        return out

    def per(model, column, *values, extra=()):
        """(slot, *values) per quarter hour, then (sub_account_id, *values) per sub-account."""
        for by, into in ((_slot(dialect, column), day), (model.sub_account_id, sub)):
            for row_ in conn.execute(select(by, *values).where(*where(model, column), *extra).group_by(by)).all():
                yield into(row_[0]), row_[1:], into is day

    for r, (n,), is_day in per(Call, Call.started_at, func.count(), extra=(Call.missed.is_(True),)):
        r.missed_calls += n
        total.missed_calls += n if is_day else 0
    # Delivered: the first text of the recovery (its key "recovery:<id>:touch:1"), as one set of
    # the period's delivered first texts (made after their recovery opened), not a lookup per row.
    delivered = Recovery.id.in_(select(Message.recovery_id).where(
        Message.status.in_(DELIVERED), Message.idempotency_key.like("recovery:%:touch:1"),
        *where(Message, Message.created_at, upto=False)))
    # One pass over the period's recoveries (the seconds to text are needed one by one anyway).
    for slot, sub_id, seconds, replied, state, value, got in conn.execute(select(
            _slot(dialect, Recovery.opened_at), Recovery.sub_account_id,
            _seconds(dialect, Recovery.opened_at, Recovery.texted_at), Recovery.replied_at.is_not(None),
            Recovery.state, Recovery.value, delivered).where(*where(Recovery, Recovery.opened_at))).all():
        d = day_of.get(slot) or day(slot)
        u = subs.get(sub_id) or sub(sub_id)
        if seconds is not None:
            seconds = round(seconds, 6)  # two databases' date arithmetic, to the microsecond
            d.texted += 1
            u.texted += 1
            d._delays.append(seconds)
            u._delays.append(seconds)
        if got:
            d.delivered += 1
            u.delivered += 1
        if replied:
            d.replied += 1
            u.replied += 1
        if state == "booked":
            d.booked += 1
            u.booked += 1
            d.revenue += value or 0.0
            u.revenue += value or 0.0
        elif state == "lost":
            d.lost += 1
            u.lost += 1
    for d in days.values():
        total.texted += d.texted
        total.delivered += d.delivered
        total.replied += d.replied
        total.booked += d.booked
        total.lost += d.lost
        total.revenue += d.revenue
        total._delays.extend(d._delays)
    for r, (n,), is_day in per(OptOut, OptOut.created_at, func.count()):
        r.opted_out += n
        total.opted_out += n if is_day else 0
    not_texted: dict[str, int] = {}
    for outcome, reason, n in conn.execute(select(Call.outcome, Call.reason, func.count()).where(
            Call.missed.is_(True), Call.outcome.in_([*NOT_TEXTED, "suppressed"]), *where(Call, Call.started_at))
            .group_by(Call.outcome, Call.reason)):
        why = NOT_TEXTED.get(outcome) or (reason or "suppressed").rsplit("; ", 1)[-1]
        not_texted[why] = not_texted.get(why, 0) + n
    limits = [limit for limit, _ in TO_TEXT_BANDS[:-1]]
    counts = [0] * len(TO_TEXT_BANDS)
    for seconds in total._delays:
        counts[bisect.bisect_right(limits, seconds)] += 1
    to_text = {label: n for (_, label), n in zip(TO_TEXT_BANDS, counts)}
    return Summary(days=[days[k].finish() for k in sorted(days)], total=total.finish(),
                   subs={k: r.finish() for k, r in subs.items()},
                   not_texted=dict(sorted(not_texted.items(), key=lambda kv: (-kv[1], kv[0]))), to_text=to_text,
                   time_zone=tz or "UTC")


def as_table(rows: list[Row], total: Row) -> str:
    heads = ("day", "missed", "texted", "deliv.", "replied", "booked", "lost", "opt-out", "revenue", "reply%",
             "book%", "p50 s", "p95 s")
    lines = ["  ".join(f"{h:>10}" if i else f"{h:<10}" for i, h in enumerate(heads))]
    for r in [*rows, total]:
        cells = [r.day, r.missed_calls, r.texted, r.delivered, r.replied, r.booked, r.lost, r.opted_out,
                 f"${r.revenue:,.0f}", _pct(r.reply_rate), _pct(r.booking_rate), _num(r.median_seconds_to_text),
                 _num(r.p95_seconds_to_text)]
        lines.append("  ".join(f"{c:>10}" if i else f"{c:<10}" for i, c in enumerate(map(str, cells))))
    return "\n".join(lines)


def _pct(v):
    return "-" if v is None else f"{v * 100:.0f}%"


def _num(v):
    return "-" if v is None else f"{v:.2f}"


RECENT_DAYS = 30


@dataclass(frozen=True)
class Recent:
    """A sub-account's last RECENT_DAYS, as the settings and agency pages show it."""

    since: datetime
    missed: int  # missed calls heard
    states: dict  # recoveries opened, by state
    value: float  # money booked

    @property
    def texted(self) -> int:
        return sum(self.states.values())

    @property
    def replied(self) -> int:
        return self.states.get("replied", 0) + self.states.get("booked", 0)

    @property
    def booked(self) -> int:
        return self.states.get("booked", 0)


def recent_many(session, sub_ids: list[int], now: datetime | None = None) -> dict[int, Recent]:
    """``recent`` for many sub-accounts at once: three queries, not three per sub-account."""
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)
    ids = list(sub_ids) or [-1]
    states: dict[int, dict] = {i: {} for i in sub_ids}
    value: dict[int, float] = {}
    for sub_id, state, n, booked in session.execute(select(
            Recovery.sub_account_id, Recovery.state, func.count(), func.sum(Recovery.value)).where(
            Recovery.sub_account_id.in_(ids), Recovery.opened_at >= since).group_by(Recovery.sub_account_id,
                                                                                  Recovery.state)):
        states[sub_id][state] = n
        if state == "booked":
            value[sub_id] = float(booked or 0)
    missed = dict(session.execute(select(Call.sub_account_id, func.count()).where(
        Call.sub_account_id.in_(ids), Call.missed.is_(True), Call.started_at >= since).group_by(Call.sub_account_id)).all())
    return {i: Recent(since, missed.get(i, 0), states[i], value.get(i, 0.0)) for i in sub_ids}


def recent(session, sub_id: int, now: datetime | None = None) -> Recent:
    return recent_many(session, [sub_id], now)[sub_id]
