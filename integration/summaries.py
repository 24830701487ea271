"""The weekly summary a business owner gets by email: last week's numbers (``report.collect``,
the numbers of `ringback report`) and the callers still waiting for the business, sent on the
sub-account's chosen day and hour in its own time zone (workflows/summary.py) through the SMTP
server in RINGBACK_SMTP_URL. Switched on or off per sub-account or agency-wide like any workflow
(`ringback subaccount workflow ID weekly_summary [--agency] --on/--off --set to=owner@...`, the
settings page, bulk changes).

Each week's email is claimed in ``weekly_summaries`` before it is sent (one row per sub-account
and week), so however many workers run the hourly job it goes out once; a send that fails is
recorded with the server's answer and tried again at the next run, at most three times.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from workflows.summary import is_due, week_covered

from . import report
from .db import transaction
from .models import Recovery, SubAccount, WeeklySummary, utcnow
from .settings_store import summary_settings, workflow_rows_many

log = logging.getLogger("ringback.summaries")
ATTEMPTS = 3
STALE_CLAIM = timedelta(hours=1)  # a claim this old was a worker that died while sending
WAITING_STATES = ("missed", "texted", "replied")  # a caller the business has not won or lost yet
_templates = Environment(loader=PackageLoader("integration", "templates"), autoescape=select_autoescape(["html"]))


class MailError(RuntimeError):
    """The summary could not be handed to the mail server; the message says why."""


@dataclass(frozen=True)
class Email:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str


def compose(s, config, sub: SubAccount, to: tuple[str, ...], now: datetime) -> Email:
    """Last whole week (Monday to Sunday, the sub-account's days) and who is still waiting."""
    zone = ZoneInfo(sub.timezone)
    monday, sunday = week_covered(now.astimezone(zone))
    week = report.collect(s, sub_account_ids=[sub.id], since=monday, until=sunday, tz=sub.timezone)
    waiting = [{"caller": r.caller, "state": r.state, "since": r.opened_at.astimezone(zone),
                "replied": r.replied_at is not None}
               for r in s.scalars(select(Recovery).where(
                   Recovery.sub_account_id == sub.id, Recovery.state.in_(WAITING_STATES),
                   Recovery.closed_at.is_(None)).order_by(Recovery.opened_at.desc()).limit(25))]
    context = {"sub": sub, "monday": monday, "sunday": sunday, "t": week.total, "days": week.days,
               "not_texted": week.not_texted, "waiting": waiting, "public_url": config.public_url}
    period = f"{monday:%b %d} - {sunday:%b %d}"
    # The name comes from the CRM: one line, whatever it holds (a header may not break).
    return Email(to=to, subject=" ".join(f"{sub.name}: your week with Ringback ({period})".split()),
                 text=_templates.get_template("summary_email.txt").render(context),
                 html=_templates.get_template("summary_email.html").render(context))


def deliver(config, email: Email) -> None:
    """Hand the email to the SMTP server; MailError with the server's answer when it refuses."""
    if not config.smtp_url:
        raise MailError("no mail server: set RINGBACK_SMTP_URL (smtp://user:password@host:587)")
    parts = urlsplit(config.smtp_url)
    sender = config.mail_from or formataddr(("Ringback", f"ringback@{urlsplit(config.public_url).hostname}"))
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(email.to), email.subject
    msg["Message-ID"] = make_msgid(domain=urlsplit(config.public_url).hostname)
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    secure = parts.scheme == "smtps"
    port = parts.port or (465 if secure else 587)
    try:
        client = (smtplib.SMTP_SSL(parts.hostname, port, timeout=30, context=ssl.create_default_context()) if secure
                  else smtplib.SMTP(parts.hostname, port, timeout=30))
        with client as smtp:
            if not secure:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                elif parts.username:
                    raise MailError(f"{parts.hostname} offers no STARTTLS: Ringback does not send the password in "
                                    "the clear (use smtps://, or a server that offers STARTTLS)")
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{parts.hostname}:{port}: {exc}") from exc


def send_due(rt, now: datetime | None = None, *, sub_ids: list[int] | None = None, force: bool = False,
             progress=None) -> list[str]:
    """Send every summary that is due (``force``: those of ``sub_ids`` now, whatever the day, even
    again); one line per sub-account tried."""
    now = now or utcnow()
    with rt.read_sessions() as s:
        where = [SubAccount.removed_at.is_(None)] + ([SubAccount.id.in_(sub_ids)] if sub_ids is not None else [])
        subs = list(s.scalars(select(SubAccount).where(*where).order_by(SubAccount.id)))
        rows = workflow_rows_many(s, subs)
        chosen = []
        for sub in subs:
            settings = summary_settings(s, sub, rows[sub.id])
            local = now.astimezone(ZoneInfo(sub.timezone))
            if not force and not (settings.enabled and settings.to and is_due(local, settings.day, settings.hour)):
                continue
            chosen.append((sub, settings, week_covered(local)[0].isoformat()))
    lines = []
    for sub, settings, week in chosen:
        if not settings.to:
            lines.append(f"{sub.id} {sub.name}: no address to send to (--set to=owner@example.com)")
            continue
        if not _claim(rt, sub.id, week, settings.to, now, force):
            continue
        try:
            with rt.read_sessions() as s:
                email = compose(s, rt.config, sub, settings.to, now)
            deliver(rt.config, email)
        except Exception as exc:  # noqa: BLE001 (one owner's email never stops the others')
            if not isinstance(exc, MailError):
                log.exception("weekly summary could not be made sub=%s week=%s", sub.id, week)
                exc = MailError(f"could not be made: {type(exc).__name__}: {exc}")
            _finish(rt, sub.id, week, "failed", str(exc)[:1000])
            log.warning("weekly summary failed sub=%s week=%s: %s", sub.id, week, exc)
            lines.append(f"{sub.id} {sub.name}: not sent: {exc}")
            continue
        _finish(rt, sub.id, week, "sent", None)
        log.info("weekly summary sent sub=%s week=%s to=%d address(es)", sub.id, week, len(settings.to))
        lines.append(f"{sub.id} {sub.name}: sent to {', '.join(settings.to)} (week of {week})")
        if progress:
            progress(lines[-1])
    return lines


def _claim(rt, sub_id: int, week: str, to: tuple[str, ...], now: datetime, force: bool) -> bool:
    """This worker sends this week's email: a new row, a failed one with tries left, or a stale claim."""
    try:
        with transaction(rt.sessions) as s:
            s.add(WeeklySummary(sub_account_id=sub_id, week=week, status="sending", recipients=list(to),
                                attempts=1, updated_at=now))
        return True
    except IntegrityError:
        pass
    with transaction(rt.sessions) as s:
        row = s.scalar(select(WeeklySummary).where(WeeklySummary.sub_account_id == sub_id,
                                                   WeeklySummary.week == week))
        retry = (row.status == "failed" and row.attempts < ATTEMPTS) or (
            row.status == "sending" and now - row.updated_at > STALE_CLAIM)
        if not (force or retry):
            return False
        claimed = s.execute(update(WeeklySummary).where(
            WeeklySummary.id == row.id, WeeklySummary.status == row.status,
            WeeklySummary.updated_at == row.updated_at).values(
            status="sending", attempts=row.attempts + 1, recipients=list(to), updated_at=now)).rowcount
    return claimed == 1


def _finish(rt, sub_id: int, week: str, status: str, error: str | None) -> None:
    with transaction(rt.sessions) as s:
        s.execute(update(WeeklySummary).where(WeeklySummary.sub_account_id == sub_id, WeeklySummary.week == week)
                  .values(status=status, error=error, updated_at=utcnow()))
