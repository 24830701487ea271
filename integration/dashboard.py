"""The dashboard's numbers and charts: ``report.collect`` (the implementation of `ringback report`
and the API's report) for a period and a scope (an agency's sub-accounts, or one of them), shaped
for the page, its charts and its CSV export."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connectors import registry

from . import report
from .models import SubAccount, utcnow

PERIODS = ("7", "30", "90", "custom")
LONGEST_DAYS = 3 * 366  # a custom period's limit: three years of days on one page
SORTABLE = ("name", *report.COLUMNS[1:])
PAGE_ROWS = 50  # sub-accounts per page of the table (an agency may have hundreds)
# The funnel, in the order a missed caller goes through it.
FUNNEL = (("missed_calls", "Missed calls"), ("texted", "Texted back"), ("delivered", "Delivered"),
          ("replied", "Replied"), ("booked", "Booked"))


class DashboardQuery(Schema):
    """The page's query string: the period, the scope, the sort of the sub-account table, the export."""

    period = fields.String(load_default="30", validate=validate.OneOf(PERIODS))
    since = fields.Date(load_default=None)
    until = fields.Date(load_default=None)
    sub = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    sort = fields.String(load_default="missed_calls", validate=validate.OneOf(SORTABLE))
    order = fields.String(load_default="desc", validate=validate.OneOf(("asc", "desc")))
    format = fields.String(load_default="html", validate=validate.OneOf(("html", "csv")))
    table = fields.String(load_default="days", validate=validate.OneOf(("days", "sub_accounts")))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))

    @validates_schema
    def _period(self, data, **_kwargs):
        if data["period"] != "custom":
            return
        if data.get("since") is None:
            raise ValidationError("a custom period needs its first day", field_name="since")
        until = data.get("until") or data["since"]
        if until < data["since"]:
            raise ValidationError("the last day is before the first", field_name="until")
        if (until - data["since"]).days >= LONGEST_DAYS:
            raise ValidationError(f"a period of at most {LONGEST_DAYS} days", field_name="until")


DEFAULTS = DashboardQuery().load({})


def parse(args) -> dict:
    """The query, or ValidationError naming the field. Unknown parameters are ignored (a CRM's
    iframe adds its own)."""
    schema = DashboardQuery()
    return schema.load({k: v for k, v in args.items() if k in schema.fields and v != ""})


def link_args(query: dict, **over) -> dict:
    """The query string of a link on the page: this page's query with ``over`` changed, the
    defaults and empty values left out."""
    defaults = DEFAULTS
    merged = {k: query.get(k) for k in ("period", "since", "until", "sub", "sort", "order", "page")} | over
    if merged["period"] != "custom":
        merged["since"] = merged["until"] = None
    return {k: v for k, v in merged.items() if v not in (None, "") and (k in over or v != defaults.get(k))}


@dataclass(frozen=True)
class SubRow:
    sub: SubAccount
    source: str  # the CRM's own account id, as its vendor names it
    numbers: report.Row


@dataclass(frozen=True)
class Dashboard:
    query: dict
    scope: SubAccount | None  # one sub-account, or None for all of them
    subs: list[SubAccount]  # every sub-account the viewer may choose
    since: date
    until: date
    summary: report.Summary
    days: list[report.Row]  # every day of the period, those without calls as zeros (for the chart)
    sub_rows: list[SubRow]  # all of them, sorted (the CSV)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.sub_rows) // PAGE_ROWS))

    @property
    def page_rows(self) -> list[SubRow]:
        """This page of the sorted table (past the last page: the last page)."""
        page = min(self.query["page"], self.pages)
        return self.sub_rows[(page - 1) * PAGE_ROWS:page * PAGE_ROWS]


def today(tz: str | None, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(tz) if tz else timezone.utc).date()


def build(s, subs: list[SubAccount], query: dict, now: datetime | None = None) -> Dashboard:
    """The dashboard of ``subs`` (the viewer's, already checked) or of ``query['sub']`` among them;
    LookupError when that one is not among them."""
    scope = None
    if query["sub"] is not None:
        scope = next((sub for sub in subs if sub.id == query["sub"]), None)
        if scope is None:
            raise LookupError(query["sub"])
    tz = scope.timezone if scope is not None else None
    if query["period"] == "custom":
        since, until = query["since"], query["until"] or query["since"]
    else:
        until = today(tz, now)
        since = until - timedelta(days=int(query["period"]) - 1)
    ids = [scope.id] if scope is not None else [sub.id for sub in subs]
    summary = report.collect(s, sub_account_ids=ids, since=since, until=until, tz=tz)
    by_day = {r.day: r for r in summary.days}
    days = [by_day.get(d) or report.Row(d).finish() for d in _each_day(since, until)]
    shown = [scope] if scope is not None else subs
    sub_rows = [SubRow(sub, registry.get(sub.provider).source(sub.external_id),
                       summary.subs.get(sub.id) or report.Row(str(sub.id)).finish()) for sub in shown]
    sub_rows.sort(key=lambda r: r.sub.name.lower())  # ties in the chosen column keep names in order
    if query["sort"] != "name":
        column = query["sort"]
        present = [r for r in sub_rows if getattr(r.numbers, column) is not None]
        absent = [r for r in sub_rows if getattr(r.numbers, column) is None]  # no rate: always last
        present.sort(key=lambda r: getattr(r.numbers, column), reverse=query["order"] == "desc")
        sub_rows = present + absent
    elif query["order"] == "desc":
        sub_rows.reverse()
    return Dashboard(query=query, scope=scope, subs=subs, since=since, until=until, summary=summary, days=days,
                     sub_rows=sub_rows)


def _each_day(since: date, until: date) -> list[str]:
    return [(since + timedelta(days=i)).isoformat() for i in range((until - since).days + 1)]


def as_csv(board: Dashboard, table: str) -> str:
    """What the page shows, as CSV: the days and the total (what `ringback report --format csv` gives
    for the same period and sub-accounts), or the sub-account table and the total."""
    out = io.StringIO()
    if table == "days":
        writer = csv.DictWriter(out, fieldnames=report.COLUMNS)
        writer.writeheader()
        for r in [*board.summary.days, board.summary.total]:
            writer.writerow(r.as_dict())
    else:
        writer = csv.DictWriter(out, fieldnames=("sub_account_id", "sub_account", "crm_account",
                                                 *report.COLUMNS[1:]))
        writer.writeheader()
        for r in board.sub_rows:
            numbers = r.numbers.as_dict()
            del numbers["day"]
            writer.writerow({"sub_account_id": r.sub.id, "sub_account": r.sub.name, "crm_account": r.source,
                             **numbers})
        total = board.summary.total.as_dict()
        del total["day"]
        writer.writerow({"sub_account_id": "", "sub_account": "total", "crm_account": "", **total})
    return out.getvalue()


# ---------------------------------------------------------------- charts (drawn as SVG by the template)

def funnel(total: report.Row) -> list[dict]:
    """One bar per step, its width the share of the missed calls (the first bar is the whole)."""
    top = total.missed_calls or 0
    bars = []
    for key, label in FUNNEL:
        value = getattr(total, key)
        share = value / top if top else 0.0
        bars.append({"key": key, "label": label, "value": value, "share": share,
                     "width": round(100 * min(share, 1.0), 2)})
    return bars


def by_day(days: list[report.Row]) -> dict:
    """Missed calls and bookings per day: bars on a 0-100 scale of the busiest day."""
    peak = max((r.missed_calls for r in days), default=0) or 1
    step = 100 / max(len(days), 1)
    return {"peak": peak, "step": round(step, 4), "bars": [
        {"day": r.day, "x": round(i * step, 4), "missed": r.missed_calls, "booked": r.booked,
         "missed_h": round(60 * r.missed_calls / peak, 2), "booked_h": round(60 * r.booked / peak, 2)}
        for i, r in enumerate(days)]}


def to_text(summary: report.Summary) -> list[dict]:
    peak = max(summary.to_text.values(), default=0) or 1
    return [{"label": label, "value": n, "width": round(100 * n / peak, 2)} for label, n in summary.to_text.items()]
