"""The numbers that prove the money recovered: per day and in total.

Calls count on the day they came in, recoveries on the day their missed call came in (so a
booking two days later still counts for the day of the call), opt-outs on the day they came.
Days are the sub-account's local dates when the report is for one sub-account, else UTC dates. Seconds to text run from the moment Ringback heard of the missed call (its
webhook arrived) to the moment the provider accepted the text.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

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
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def build(s, *, sub_account_id: int | None = None, since: date | None = None, until: date | None = None,
          tz: str | None = None, sub_account_ids: list[int] | None = None) -> tuple[list[Row], Row]:
    """(one row per day, the total row) from ``since`` to ``until`` (both days included). Days are
    dates in ``tz`` (a sub-account's own), else UTC. ``sub_account_ids``: only these (an agency's)."""
    zone_ = ZoneInfo(tz) if tz else timezone.utc
    # Nothing happened before 1970 or will after 9000; within these, a day's bounds in any time
    # zone (and the day after the last) are datetimes Python and PostgreSQL can hold.
    since = min(max(since, EARLIEST), LATEST) if since else None
    until = max(min(until, LATEST), EARLIEST) if until else None
    start = datetime.combine(since, time(0, 0), tzinfo=zone_) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0, 0), tzinfo=zone_) if until else None
    days: dict[str, Row] = {}
    total = Row("total")

    def row(when: datetime) -> Row:
        key = when.astimezone(zone_).date().isoformat()
        return days.setdefault(key, Row(key))

    def where(model, column):
        out = []
        if sub_account_id is not None:
            out.append(model.sub_account_id == sub_account_id)
        if sub_account_ids is not None:
            out.append(model.sub_account_id.in_(list(sub_account_ids) or [-1]))
        if start is not None:
            out.append(column >= start)
        if end is not None:
            out.append(column < end)
        return out

    for (started,) in s.execute(select(Call.started_at).where(Call.missed.is_(True), *where(Call, Call.started_at))):
        row(started).missed_calls += 1
        total.missed_calls += 1
    recs = s.scalars(select(Recovery).where(*where(Recovery, Recovery.opened_at))).all()
    delivered = {rid for (rid,) in s.execute(select(Message.recovery_id).where(
        Message.recovery_id.in_([r.id for r in recs] or [-1]), Message.status.in_(DELIVERED),
        Message.idempotency_key.like("recovery:%:touch:1")))}
    for rec in recs:
        for r in (row(rec.opened_at), total):
            if rec.texted_at is not None:
                r.texted += 1
                r._delays.append((rec.texted_at - rec.opened_at).total_seconds())
            r.delivered += rec.id in delivered
            r.replied += rec.replied_at is not None
            r.booked += rec.state == "booked"
            r.lost += rec.state == "lost"
            r.revenue += (rec.value or 0.0) if rec.state == "booked" else 0.0
    for (created,) in s.execute(select(OptOut.created_at).where(*where(OptOut, OptOut.created_at))):
        row(created).opted_out += 1
        total.opted_out += 1
    return [days[k].finish() for k in sorted(days)], total.finish()


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


def recent(session, sub_id: int, now: datetime | None = None) -> Recent:
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)
    states = dict(session.execute(select(Recovery.state, func.count()).where(
        Recovery.sub_account_id == sub_id, Recovery.opened_at >= since).group_by(Recovery.state)).all())
    missed = session.scalar(select(func.count()).select_from(Call).where(
        Call.sub_account_id == sub_id, Call.missed.is_(True), Call.started_at >= since))
    value = session.scalar(select(func.coalesce(func.sum(Recovery.value), 0)).where(
        Recovery.sub_account_id == sub_id, Recovery.state == "booked", Recovery.opened_at >= since))
    return Recent(since, missed or 0, states, float(value or 0))
