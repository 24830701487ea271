"""The business owner's weekly summary email, sent through a real SMTP conversation with a
loopback server (aiosmtpd): an agency installs from GoHighLevel, a caller is missed and texted,
the owner's address is set, and on the next Monday morning (the sub-account's time) the owner
gets last week's numbers and the callers still waiting, once, however often the hourly job runs.
Switched off for all of an agency's sub-accounts in one bulk change (and back with its undo); a
mail server that refuses is recorded and tried again."""
from __future__ import annotations

import email
import re
import socket
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from integration import summaries
from integration.models import SubAccount, WeeklySummary, utcnow
from tests.commands import run_cli
from tests.marketplace import agency_signed_in, csrf
from workflows.summary import is_due, week_covered


class _Mailbox:
    """What the loopback SMTP server received; ``refuse`` makes it answer 550 to every message."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        if self.refuse:
            return "550 5.7.1 Relaying denied"
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox(rt):
    """A loopback SMTP server (aiosmtpd) that rt's RINGBACK_SMTP_URL points at."""
    from aiosmtpd.controller import Controller
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    rt.config = replace(rt.config, smtp_url=f"smtp://127.0.0.1:{port}", mail_from="Ringback <reports@ringback.example>")
    box.url = rt.config.smtp_url
    yield box
    controller.stop()


def _next_monday_morning(tz: str, weeks: int = 1) -> datetime:
    """9:00 on the Monday after this week's (plus ``weeks - 1``), in ``tz``, as UTC."""
    local = utcnow().astimezone(ZoneInfo(tz))
    monday = local.date() - timedelta(days=local.weekday()) + timedelta(days=7 * weeks)
    return datetime(monday.year, monday.month, monday.day, 9, tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def _acme(rt, agencies) -> SubAccount:
    with rt.sessions() as s:
        return s.get(SubAccount, agencies["ghl"][1][0])


def test_the_owner_gets_last_weeks_numbers_and_who_is_waiting_once(rt, config, monkeypatch, agencies, mailbox):
    acme = _acme(rt, agencies)
    run_cli(config, monkeypatch, "subaccount", "workflow", str(acme.id), "weekly_summary", "--set",
            "to=owner@acme.example")
    monday = _next_monday_morning(acme.timezone)
    assert summaries.send_due(rt, monday - timedelta(hours=2)) == []  # Monday 7:00: not yet
    [line] = summaries.send_due(rt, monday)
    assert "sent to owner@acme.example" in line
    [mail] = mailbox.messages
    first, last = week_covered(monday.astimezone(ZoneInfo(acme.timezone)))
    assert mail["To"] == "owner@acme.example" and mail["From"] == "Ringback <reports@ringback.example>"
    assert mail["Subject"] == f"Acme Plumbing: your week with Ringback ({first:%b %d} - {last:%b %d})"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Missed calls:        1" in text and "Texted back:         1" in text and "Booked:              0" in text
    assert "Callers still waiting for you (1):" in text and "+15125550123" in text and "texted, no reply yet" in text
    assert 'href="tel:+15125550123"' in html
    # The hourly job runs again (and in another worker): the week's email is not sent twice.
    assert summaries.send_due(rt, monday + timedelta(hours=1)) == [] and len(mailbox.messages) == 1
    with rt.sessions() as s:
        row = s.scalar(select(WeeklySummary))
        assert (row.status, row.week, row.recipients) == ("sent", first.isoformat(), ["owner@acme.example"])


def test_switched_off_for_all_in_one_bulk_change_and_back_with_its_undo(client, rt, config, monkeypatch, agencies,
                                                                       mailbox):
    for sub_id in agencies["ghl"][1]:
        run_cli(config, monkeypatch, "subaccount", "workflow", str(sub_id), "weekly_summary", "--set",
                f"to=owner{sub_id}@example.com")
    page = agency_signed_in(client)  # the agency admin, on the agency page
    assert '<option value="weekly_summary">' in page
    off = client.post("/agency/bulk", data={"csrf_token": csrf(page), "select": "all", "action": "off",
                                            "workflow": "weekly_summary"})
    assert off.status_code == 302
    monday = _next_monday_morning(_acme(rt, agencies).timezone)
    assert summaries.send_due(rt, monday) == [] and mailbox.messages == []
    page = client.get(off.headers["Location"]).get_data(as_text=True)
    change_id = re.search(r"/agency/bulk/(\d+)/undo", page).group(1)
    assert client.post(f"/agency/bulk/{change_id}/undo", data={"csrf_token": csrf(page)}).status_code == 302
    sent = summaries.send_due(rt, monday)
    assert len(sent) == 2 and sorted(m["To"] for m in mailbox.messages) == sorted(
        f"owner{i}@example.com" for i in agencies["ghl"][1])


def test_a_refusing_mail_server_is_recorded_and_tried_again(rt, config, monkeypatch, agencies, mailbox):
    acme = _acme(rt, agencies)
    run_cli(config, monkeypatch, "subaccount", "workflow", str(acme.id), "weekly_summary", "--set",
            "to=owner@acme.example")
    monday = _next_monday_morning(acme.timezone)
    mailbox.refuse = True
    [line] = summaries.send_due(rt, monday)
    assert "not sent" in line and "550" in line and "Relaying denied" in line
    with rt.sessions() as s:
        row = s.scalar(select(WeeklySummary))
        assert row.status == "failed" and "Relaying denied" in row.error
    mailbox.refuse = False
    [line] = summaries.send_due(rt, monday + timedelta(hours=1))  # the next hourly run
    assert "sent to" in line and len(mailbox.messages) == 1


def test_an_operator_checks_the_mail_setup_from_the_cli(rt, config, monkeypatch, agencies, mailbox):
    acme = _acme(rt, agencies)
    monkeypatch.setenv("RINGBACK_SMTP_URL", mailbox.url)
    refused = run_cli(config, monkeypatch, "summaries", "send", "--subaccount", str(acme.id), "--now", ok=False)
    assert "no address to send to" in refused.output
    run_cli(config, monkeypatch, "subaccount", "workflow", str(acme.id), "weekly_summary", "--set",
            "to=owner@acme.example")
    preview = run_cli(config, monkeypatch, "summaries", "preview", "--subaccount", str(acme.id)).output
    assert "To: owner@acme.example" in preview and "Subject: Acme Plumbing: your week with Ringback" in preview
    sent = run_cli(config, monkeypatch, "summaries", "send", "--subaccount", str(acme.id), "--now").output
    assert "sent to owner@acme.example" in sent and len(mailbox.messages) == 1
    bad = run_cli(config, monkeypatch, "subaccount", "workflow", str(acme.id), "weekly_summary", "--set",
                  "to=not-an-address", ok=False).output
    assert "weekly_summary.to" in bad


@pytest.mark.parametrize("local, day, hour, due", [
    (datetime(2026, 11, 30, 7, 59), "mon", 8, False),  # Monday, before the hour
    (datetime(2026, 11, 30, 8, 0), "mon", 8, True),
    (datetime(2026, 12, 1, 3, 0), "mon", 8, True),  # Tuesday: the worker was down on Monday
    (datetime(2026, 12, 6, 23, 0), "mon", 8, True),  # Sunday night, still this week's
    (datetime(2026, 11, 29, 23, 59), "mon", 8, True),  # the week's Sunday: sent on Monday already (the claim)
    (datetime(2026, 12, 2, 9, 0), "fri", 17, False),
    (datetime(2026, 12, 4, 17, 0), "fri", 17, True),
])
def test_when_a_summary_is_due(local, day, hour, due):
    assert is_due(local, day, hour) is due


def test_the_week_covered_is_the_last_whole_one():
    assert week_covered(datetime(2026, 11, 30, 9)) == (datetime(2026, 11, 23).date(), datetime(2026, 11, 29).date())
    assert week_covered(datetime(2026, 12, 6, 23)) == (datetime(2026, 11, 23).date(), datetime(2026, 11, 29).date())


def test_a_crm_name_with_line_breaks_stays_in_the_subject(rt, config, monkeypatch, agencies, mailbox):
    acme = _acme(rt, agencies)
    with rt.sessions.begin() as s:
        s.get(SubAccount, acme.id).name = "Acme\r\nBcc: everyone@example.com\nPlumbing"
    run_cli(config, monkeypatch, "subaccount", "workflow", str(acme.id), "weekly_summary", "--set",
            "to=owner@acme.example")
    [line] = summaries.send_due(rt, _next_monday_morning(acme.timezone))
    assert "sent to owner@acme.example" in line
    [mail] = mailbox.messages
    assert mail["Subject"].startswith("Acme Bcc: everyone@example.com Plumbing: your week") and mail["Bcc"] is None
    assert mailbox.envelopes[0][1] == ["owner@acme.example"]
