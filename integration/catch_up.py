"""Catch-up: the calls whose webhook never came.

GoHighLevel retries a webhook only on a 429, and HubSpot's and Salesforce's retries end: an
outage, a deploy or a 5xx on our side loses that call for good, and a caller nobody texts. So on
the worker's start and every few minutes (and with `ringback catch-up`), each sub-account's
vendor is asked for the calls since the last pass that got an answer (GoHighLevel's message
export of calls, HubSpot's call search by creation time, Salesforce's call Tasks by CreatedDate,
a Twilio number's calls by start time). A call Ringback has not decided is stored in the inbox as
its webhook would have been, with the same key where the vendor's webhook has one (a GoHighLevel
messageId and status, a Twilio CallSid and status), and goes the same way from there. The worker
texts a call found this way only while a text still helps (the sub-account's late-text window,
15 minutes by default); an older one becomes a CRM task to call the caller back.

The cursor is the time up to which the vendor was listed, not the newest call seen: a call lost
between two that arrived must still be found. Each pass starts OVERLAP before the cursor, since
vendors index a call a little after it happens; what was seen already is recognised and skipped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from connectors import registry
from connectors.base import CrmError, FoundCall

from . import inbox, metrics, twilio_accounts
from .crm_session import CrmSession
from .db import transaction
from .models import Call, SubAccount, utcnow

log = logging.getLogger("ringback.catch_up")

EVERY = timedelta(minutes=5)  # the worker's schedule (integration.worker.tasks.catch_up)
OVERLAP = timedelta(minutes=10)  # each pass looks this far behind the last one
FIRST_LOOKBACK = timedelta(hours=24)  # a sub-account never caught up: since it was added, a day at most
LIMIT = 500  # calls asked per sub-account and pass; the cursor stops at the last one when there are more


@dataclass
class Pass:
    """One sub-account's part of a pass: what its vendor listed and what was new."""

    sub_account_id: int
    name: str
    source: str
    since: datetime
    listed: int = 0
    new: int = 0
    event_ids: tuple[int, ...] = ()
    error: str | None = None
    skipped: str | None = None

    @property
    def line(self) -> str:
        head = f"#{self.sub_account_id} {self.name} ({self.source}): "
        if self.skipped:
            return head + f"skipped: {self.skipped}"
        if self.error:
            return head + f"could not list calls: {self.error}"
        return head + f"{self.listed} call(s) since {self.since:%Y-%m-%d %H:%M} UTC, {self.new} not seen before"


def run(rt, now: datetime | None = None, sub_ids: list[int] | None = None, progress=None) -> list[Pass]:
    """One pass over every active sub-account (or ``sub_ids``); the new events are stored, and their
    ids returned in each Pass for the caller to queue. ``progress(pass)`` after each sub-account."""
    now = now or utcnow()
    with rt.sessions() as s:
        where = [SubAccount.removed_at.is_(None)] + ([SubAccount.id.in_(sub_ids)] if sub_ids else [])
        subs = [(sub.id, sub.name, sub.provider, sub.phone_number, _since(sub, now))
                for sub in s.scalars(select(SubAccount).where(*where).order_by(SubAccount.id))]
    crms = CrmSession(rt)
    done = []
    for sub_id, name, provider, number, since in subs:
        vendor = registry.get(provider)
        one = Pass(sub_id, name, vendor.name, since)
        try:
            found = _listed(rt, crms, vendor, sub_id, number, since)
        except CrmError as exc:
            one.error = str(exc)[:500]
            log.warning("catch-up: sub-account %s (%s) could not be listed: %s", sub_id, vendor.name, exc)
        except _Skip as why:
            one.skipped = str(why)
        else:
            one.listed = len(found)
            one.event_ids = tuple(_store(rt, vendor, sub_id, found))
            one.new = len(one.event_ids)
            metrics.CAUGHT_UP.labels(vendor.key).inc(one.new)
            until = found[-1].at if len(found) >= LIMIT and found[-1].at else now
            _record(rt, sub_id, now, until=until, found=one.new)
        if one.error:
            _record(rt, sub_id, now, error=one.error)
        if one.new:
            log.warning("catch-up: sub-account %s: %d call(s) no webhook brought", sub_id, one.new)
        done.append(one)
        if progress:
            progress(one)
    return done


class _Skip(Exception):
    """Nothing to ask for this sub-account (and nothing wrong)."""


def _since(sub: SubAccount, now: datetime) -> datetime:
    if sub.caught_up_until is not None:
        return sub.caught_up_until - OVERLAP
    # Never caught up: from when the sub-account was added (its calls before are not Ringback's).
    return max(sub.created_at or now, now - FIRST_LOOKBACK)


def _listed(rt, crms: CrmSession, vendor, sub_id: int, number: str | None, since: datetime) -> list[FoundCall]:
    if vendor.is_crm:
        return crms.call(crms.port(sub_id), lambda crm: crm.recent_calls(since, LIMIT))[0]
    # A Twilio number's own calls, through the Twilio account it texts with.
    if not number:
        raise _Skip("no number")
    with rt.sessions() as s:
        creds = twilio_accounts.credentials_for_sub(s, rt.vault, sub_id)
    creds = creds or rt.environment_credentials()
    if creds is None:
        raise _Skip("no Twilio account is connected (the sandbox has no calls to list)")
    return vendor.recent_calls(creds.client(rt.config.twilio_api_url), number, since, LIMIT,  # CrmError on refusal
                               lambda sids: _decided(rt, vendor, sids))


def _decided(rt, vendor, call_ids: set[str]) -> set[str]:
    """Which of these calls Ringback has decided already (their webhooks came)."""
    if not call_ids:
        return set()
    with rt.sessions() as s:
        return set(s.scalars(select(Call.call_id).where(
            Call.provider == vendor.key, Call.call_id.in_(call_ids), Call.decided_at.is_not(None))).all())


def _store(rt, vendor, sub_id: int, found: list[FoundCall]) -> list[int]:
    decided = _decided(rt, vendor, {f.call_id for f in found})
    ids = []
    for f in found:
        if f.call_id in decided:
            continue
        stored = inbox.store(rt, provider=vendor.key, kind=f.kind, key=f.key, payload=f.payload, sub_id=sub_id,
                             found_by="catch_up")
        if stored.event_id is not None:
            ids.append(stored.event_id)
    return ids


def _record(rt, sub_id: int, now: datetime, *, until: datetime | None = None, found: int = 0,
            error: str | None = None) -> None:
    values = {"catch_up_error": error}
    if error is None:
        values.update(caught_up_until=until, caught_up_at=now, catch_up_found=SubAccount.catch_up_found + found)
    with transaction(rt.sessions) as s:
        s.execute(update(SubAccount).where(SubAccount.id == sub_id).values(**values))


def due(rt, now: datetime | None = None) -> list[int]:
    """The sub-accounts whose last pass is EVERY old or more (or that never had one)."""
    now = now or utcnow()
    with rt.sessions() as s:
        return list(s.scalars(select(SubAccount.id).where(
            SubAccount.removed_at.is_(None),
            (SubAccount.caught_up_at.is_(None)) | (SubAccount.caught_up_at <= now - EVERY + timedelta(seconds=5)))))
