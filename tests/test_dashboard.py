"""The agency dashboard (/agency/dashboard): an agency installed from GoHighLevel's marketplace
sees its callers' numbers for a period, in total, by day and by sub-account, the same numbers
`ringback report` gives; sorts and exports them; sees nothing of another agency's, however the
ids are changed; bad periods are refused naming the field. The report's arithmetic (counted in
SQL per quarter hour) is checked against a plain recount of a generated agency history
(bench/agency_history.py) in several time zones, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from bench.agency_history import generate
from integration import dashboard, report
from integration.models import Call, Message, OptOut, Recovery, SubAccount
from tests.commands import run_cli
from tests.marketplace import COMPANY, LOC_A, agency_signed_in, generated_agency_signed_in, location_user_signed_in
from tests.vendors.ghl import raw, send, signed


def _tiles(page: str) -> dict[str, str]:
    return dict(re.findall(r'<b id="t-([a-z0-9-]+)">([^<]*)</b>', page))


def _csv(answer) -> list[dict]:
    assert answer.status_code == 200 and answer.mimetype == "text/csv", answer.get_data(as_text=True)[:300]
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def test_an_agency_sees_what_happened_to_its_callers_as_ringback_report_counts_it(
        client, config, monkeypatch, agencies, ghl_signing_keys):
    acme, bright = agencies["ghl"][1]
    # The caller texted back (the fixture) replies, then texts STOP, then rings again: not texted.
    for name in ("inbound_message__sms_reply", "inbound_message__sms_stop"):
        body = raw(name)
        assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    body = raw("inbound_message__call_voicemail").replace(b"Rk1a2b3c4d5e6f7g8h9i", b"Zz9y8x7w6v5u4t3s2r1q")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    agency_signed_in(client)
    page = client.get("/agency/dashboard")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "All sub-accounts" in text
    assert {k: _tiles(text)[k] for k in (
        "missed", "texted", "replied", "opted-out", "booked")} == {
        "missed": "2", "texted": "1", "replied": "1", "opted-out": "1", "booked": "0"}
    assert re.search(r"<td>the caller opted out</td><td class=\"n\">1</td>", text)  # not texted, and why
    assert "Acme Plumbing" in text and "Bright Dental" in text and f"ghl {LOC_A}" in text
    # One sub-account's day, exported, is `ringback report`'s CSV for that day: the same implementation.
    day = _csv(client.get(f"/agency/dashboard?sub={acme}&format=csv"))[0]["day"]
    export = client.get(f"/agency/dashboard?sub={acme}&period=custom&since={day}&until={day}&format=csv")
    cli = run_cli(config, monkeypatch, "report", "--subaccount", str(acme), "--since", day, "--until", day,
                  "--format", "csv").stdout
    assert export.get_data(as_text=True).splitlines() == cli.strip().splitlines()
    assert _csv(export)[-1]["missed_calls"] == "2" and _csv(export)[-1]["opted_out"] == "1"
    # By sub-account: the agency's two, their sum the total; Bright Dental had no calls.
    subs = _csv(client.get("/agency/dashboard?format=csv&table=sub_accounts&sort=name&order=asc"))
    assert [(r["sub_account"], r["missed_calls"]) for r in subs] == [
        ("Acme Plumbing", "2"), ("Bright Dental", "0"), ("total", "2")]
    assert subs[0]["crm_account"] == f"ghl {LOC_A}"


def test_the_dashboard_shows_nothing_of_another_agency_however_the_ids_are_changed(client, agencies):
    hubspot_sub = agencies["hubspot"][1][0]
    acme, bright = agencies["ghl"][1]
    agency_signed_in(client)
    page = client.get("/agency/dashboard").get_data(as_text=True)
    assert f'value="{hubspot_sub}"' not in page and "62515" not in page
    for query in (f"sub={hubspot_sub}", f"sub={hubspot_sub}&format=csv", f"sub={hubspot_sub}&format=csv&table=days",
                  "sub=2147483647"):
        answer = client.get(f"/agency/dashboard?{query}")
        assert answer.status_code == 404 and "No such sub-account" in answer.get_data(as_text=True), query
    # A location user (the settings page of Acme only) sees Acme's numbers, nothing of Bright's.
    assert location_user_signed_in(client, LOC_A)
    own = client.get("/agency/dashboard").get_data(as_text=True)
    assert f'<option value="{acme}"' in own and f'<option value="{bright}"' not in own and "Bright Dental" not in own
    assert client.get(f"/agency/dashboard?sub={bright}").status_code == 404
    rows = _csv(client.get("/agency/dashboard?format=csv&table=sub_accounts"))
    assert [r["sub_account"] for r in rows] == ["Acme Plumbing", "total"]


def test_without_a_crm_sign_in_the_dashboard_answers_401(client):
    answer = client.get("/agency/dashboard?format=csv")
    assert answer.status_code == 401 and "Open Ringback from your CRM" in answer.get_data(as_text=True)


@pytest.mark.parametrize("query, field", [
    ("period=365", "period"), ("period=custom", "since"), ("period=custom&since=2026-02-30", "since"),
    ("period=custom&since=2026-05-02&until=2026-05-01", "until"), ("period=custom&since=2020-01-01&until=2026-01-01",
                                                                   "until"),
    ("sort=password", "sort"), ("order=sideways", "order"), ("sub=abc", "sub"), ("sub=0", "sub"),
    ("format=pdf", "format"), ("table=secrets", "table")])
def test_a_bad_period_or_choice_is_refused_naming_it(client, agencies, query, field):
    agency_signed_in(client)
    answer = client.get(f"/agency/dashboard?{query}")
    body = answer.get_data(as_text=True)
    assert answer.status_code == 400 and re.search(rf'id="dashboard-error">{field}: ', body), (query, body[-600:])


# ------------------------------------------------------------------ the arithmetic, at an agency's size

def _recount(s, sub_ids, since, until, tz) -> tuple[dict[str, dict], dict, dict[int, dict]]:
    """The report counted the plain way: every row read, each in its local day, in Python."""
    zone = ZoneInfo(tz) if tz else timezone.utc
    start = datetime.combine(since, datetime.min.time(), zone)
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), zone)
    days, subs, total = {}, {}, report.Row("total")

    def rows(sub_id, when):
        key = when.astimezone(zone).date().isoformat()
        return days.setdefault(key, report.Row(key)), subs.setdefault(sub_id, report.Row(str(sub_id))), total

    for call in s.scalars(select(Call).where(Call.sub_account_id.in_(sub_ids), Call.missed.is_(True),
                                             Call.started_at >= start, Call.started_at < end)):
        for r in rows(call.sub_account_id, call.started_at):
            r.missed_calls += 1
    delivered = {m.recovery_id for m in s.scalars(select(Message).where(Message.status.in_(report.DELIVERED)))
                 if m.idempotency_key == f"recovery:{m.recovery_id}:touch:1"}
    for rec in s.scalars(select(Recovery).where(Recovery.sub_account_id.in_(sub_ids), Recovery.opened_at >= start,
                                                Recovery.opened_at < end)):
        for r in rows(rec.sub_account_id, rec.opened_at):
            if rec.texted_at is not None:
                r.texted += 1
                r._delays.append((rec.texted_at - rec.opened_at).total_seconds())
            r.delivered += rec.id in delivered
            r.replied += rec.replied_at is not None
            r.booked += rec.state == "booked"
            r.lost += rec.state == "lost"
            r.revenue += (rec.value or 0) if rec.state == "booked" else 0
    for opt in s.scalars(select(OptOut).where(OptOut.sub_account_id.in_(sub_ids), OptOut.created_at >= start,
                                              OptOut.created_at < end)):
        for r in rows(opt.sub_account_id, opt.created_at):
            r.opted_out += 1
    finish = lambda r: r.finish().as_dict()  # noqa: E731
    return ({k: finish(v) for k, v in sorted(days.items())}, finish(total),
            {k: finish(v) for k, v in subs.items()})


@pytest.fixture
def history(rt):
    """A GoHighLevel agency of 8 sub-accounts with 40 days of calls (bench/agency_history.py), and
    a caller texted 0.8 ms after a call at 23:59:59.9996 UTC (the last quarter hour of a day)."""
    made = generate(rt.sessions, subs=8, days=40, calls=3000, company=COMPANY,
                    now=datetime(2026, 11, 20, 12, tzinfo=timezone.utc))
    edge = datetime(2026, 11, 10, 23, 59, 59, 999600, tzinfo=timezone.utc)
    with rt.sessions.begin() as s:
        rec_id = s.scalar(insert(Recovery).returning(Recovery.id), [{
            "sub_account_id": made.sub_ids[0], "caller": "+15125559999", "state": "booked", "value": 123.45,
            "opened_at": edge, "texted_at": edge + timedelta(microseconds=800), "calls_count": 1, "touches": 1}])
        s.execute(insert(Call), [{"sub_account_id": made.sub_ids[0], "provider": "ghl", "call_id": "edge",
                                  "caller": "+15125559999", "called": "+15125550100", "status": "no-answer",
                                  "status_rank": 3, "missed": True, "outcome": "texted", "recovery_id": rec_id,
                                  "started_at": edge}])
    return made


@pytest.mark.parametrize("tz", [None, "America/St_Johns", "Asia/Kathmandu", "America/Chicago"])
def test_the_report_counts_as_a_plain_recount_does(rt, history, tz):
    with rt.sessions() as s:
        for since, until in ((date(2026, 10, 1), date(2026, 11, 30)), (date(2026, 11, 10), date(2026, 11, 11))):
            got = report.collect(s, sub_account_ids=history.sub_ids, since=since, until=until, tz=tz)
            days, total, subs = _recount(s, history.sub_ids, since, until, tz)
            assert {r.day: r.as_dict() for r in got.days} == days
            assert got.total.as_dict() == total
            assert {k: r.as_dict() for k, r in got.subs.items()} == {k: v | {"day": str(k)} for k, v in subs.items()}
            assert sum(got.to_text.values()) == total["texted"]
    assert total["texted"] > 0 and len(days) == 2


def test_the_sub_account_table_sorts_and_its_export_adds_up(client, rt, history):
    assert generated_agency_signed_in(client)
    rows = _csv(client.get("/agency/dashboard?format=csv&table=sub_accounts&sort=revenue&period=90"))
    body, total = rows[:-1], rows[-1]
    revenues = [float(r["revenue"]) for r in body]
    assert len(body) == 8 and revenues == sorted(revenues, reverse=True)
    assert round(sum(revenues), 2) == float(total["revenue"]) and total["sub_account"] == "total"
    assert sum(int(r["missed_calls"]) for r in body) == int(total["missed_calls"])
    ascending = _csv(client.get("/agency/dashboard?format=csv&table=sub_accounts&sort=name&order=asc&period=90"))
    names = [r["sub_account"] for r in ascending[:-1]]
    assert names == sorted(names, key=str.lower)
    page = client.get("/agency/dashboard?sort=booking_rate&order=asc&period=90").get_data(as_text=True)
    assert 'aria-sort="ascending"><a href="/agency/dashboard?period=90&amp;sort=booking_rate&amp;order=desc"' in page
    with rt.sessions() as s:
        names = {sub.id: sub.name for sub in s.scalars(select(SubAccount))}
    assert all(names[i] in page for i in history.sub_ids)


def test_the_charts_are_drawn_from_the_periods_numbers():
    total = report.Row("total", missed_calls=10, texted=8, delivered=7, replied=4, booked=2)
    bars = dashboard.funnel(total)
    assert [(b["label"], b["value"], b["width"]) for b in bars] == [
        ("Missed calls", 10, 100.0), ("Texted back", 8, 80.0), ("Delivered", 7, 70.0), ("Replied", 4, 40.0),
        ("Booked", 2, 20.0)]
    assert [b["width"] for b in dashboard.funnel(report.Row("total"))] == [0.0] * 5  # no calls: no division by 0
    days = [report.Row("2026-11-01", missed_calls=4, booked=1), report.Row("2026-11-02")]
    drawn = dashboard.by_day(days)
    assert drawn["peak"] == 4 and [(b["missed_h"], b["booked_h"]) for b in drawn["bars"]] == [(60.0, 15.0), (0.0, 0.0)]


def test_hundreds_of_sub_accounts_come_a_page_at_a_time_and_export_whole(client, rt):
    generate(rt.sessions, subs=60, days=10, calls=600, company=COMPANY)
    assert generated_agency_signed_in(client)
    first = client.get("/agency/dashboard?sort=name&order=asc").get_data(as_text=True)
    shown = re.findall(r'<tr><td><a href="/agency/dashboard\?sub=\d+">([^<]+)</a>', first)
    assert len(shown) == dashboard.PAGE_ROWS and "Page 1 of 2" in first and 'id="page-previous"' not in first
    following = re.search(r'<a href="([^"]+)" id="page-next">', first).group(1).replace("&amp;", "&")
    second = client.get(following).get_data(as_text=True)
    rest = re.findall(r'<tr><td><a href="/agency/dashboard\?sub=\d+">([^<]+)</a>', second)
    assert len(rest) == 10 and "Page 2 of 2" in second and not set(rest) & set(shown)
    assert shown + rest == sorted(shown + rest, key=str.lower)
    beyond = client.get("/agency/dashboard?sort=name&order=asc&page=99").get_data(as_text=True)
    assert "Page 2 of 2" in beyond  # past the last page: the last page
    rows = _csv(client.get("/agency/dashboard?format=csv&table=sub_accounts&page=2"))
    assert len(rows) == 61 and rows[-1]["sub_account"] == "total"  # the whole table, whatever the page
