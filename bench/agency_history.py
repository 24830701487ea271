"""An agency's history, generated: sub-accounts with calls, texts, replies, bookings and opt-outs
spread over days, written straight into Ringback's tables (Core inserts, in batches) so that the
dashboard and the admin API can be measured at an agency's size (bench/agency_dashboard.py) and
their arithmetic checked against `ringback report` (tests/test_dashboard.py).

The shape, per call: 35% missed; a missed caller texted back 90% of the time (else suppressed
for an opt-out or a switched-off text back, joined to an open recovery, or no number to text
from), the text after 0.3-3 s (a few after minutes), delivered 95%, replied 45%, booked half of
those for $80-$900, lost a fifth of the rest, opted out 2%.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, insert, select

from integration.models import Agency, Call, Message, OptOut, Recovery, SubAccount

ZONES = ("America/Chicago", "America/New_York", "America/Los_Angeles", "America/Denver", "America/Phoenix",
         "America/St_Johns", "Asia/Kolkata")
HOURS = "mon-fri 08:00-18:00"
BATCH = 5000


@dataclass(frozen=True)
class History:
    agency_id: int
    sub_ids: list[int]
    calls: int
    since: datetime
    until: datetime


def generate(sessions, *, subs: int = 300, days: int = 90, calls: int = 200_000, seed: int = 7,
             now: datetime | None = None, provider: str = "ghl", company: str = "bench-company",
             progress=None) -> History:
    """One agency (``provider``'s ``company``) with ``subs`` sub-accounts and ``calls`` calls over the
    ``days`` days before ``now``. ``progress(line)`` hears a line per table written."""
    rnd = random.Random(seed)
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    since = now - timedelta(days=days)
    with sessions.begin() as s:
        agency = Agency(name=f"{company} agency", provider=provider, external_id=company)
        s.add(agency)
        s.flush()
        rows = [{"agency_id": agency.id, "name": f"{rnd.choice(TRADES)} {i + 1:03d}", "provider": provider,
                 "external_id": f"{company}-loc-{i:04d}", "timezone": ZONES[i % len(ZONES)],
                 "business_hours": HOURS, "phone_number": None} for i in range(subs)]
        sub_ids = list(s.scalars(insert(SubAccount).returning(SubAccount.id), rows))
        agency_id = agency.id
        first_id = (s.scalar(select(func.max(Recovery.id))) or 0) + 1  # recovery ids are given here
    # Busy sub-accounts and quiet ones: weights from a long tail.
    weights = [rnd.paretovariate(1.5) for _ in sub_ids]
    chosen = rnd.choices(sub_ids, weights=weights, k=calls)
    call_rows, rec_rows, msg_rows, opt_rows = [], [], [], []
    span = (now - since).total_seconds()
    for n, sub_id in enumerate(chosen):
        started = since + timedelta(seconds=rnd.random() * span)
        caller = f"+1512{n:07d}"
        call = {"sub_account_id": sub_id, "provider": provider, "call_id": f"bench-{seed}-{n}", "caller": caller,
                "called": "+15125550100", "status": "completed", "status_rank": 3, "missed": False,
                "outcome": "answered", "reason": "answered", "recovery_id": None, "started_at": started,
                "decided_at": started}
        call_rows.append(call)
        if rnd.random() >= 0.35:
            continue
        call["missed"], call["status"] = True, "no-answer"
        roll = rnd.random()
        if roll < 0.02:
            call.update(outcome="suppressed", reason="no answer; the caller opted out")
            continue
        if roll < 0.04:
            call.update(outcome="suppressed", reason="no answer; missed-call text back is switched off")
            continue
        if roll < 0.08:
            call.update(outcome="joined", reason="no answer; already texted within the dedupe window")
            continue
        if roll < 0.10:
            call.update(outcome="no_sender", reason="no answer; the sub-account has no number to text from")
            continue
        call.update(outcome="texted", reason="no answer; missed call, business hours")
        delay = rnd.uniform(0.3, 3.0) if rnd.random() > 0.01 else rnd.uniform(60, 900)
        replied = rnd.random() < 0.45
        state = "texted"
        value = None
        if replied:
            state = "replied"
            if rnd.random() < 0.5:
                state, value = "booked", float(rnd.randrange(80, 900))
            elif rnd.random() < 0.2:
                state = "lost"
        rec_id = first_id + len(rec_rows)
        rec_rows.append({"id": rec_id, "sub_account_id": sub_id, "caller": caller, "state": state, "open_key": None,
                         "calls_count": 1, "opened_at": started, "texted_at": started + timedelta(seconds=delay),
                         "replied_at": started + timedelta(minutes=5) if replied else None,
                         "closed_at": None, "value": value, "crm_refs": {}, "link_clicks": 0, "touches": 1,
                         "booked_at": started + timedelta(hours=1) if state == "booked" else None})
        call["recovery_id"] = rec_id
        msg_rows.append({"sub_account_id": sub_id, "recovery_id": rec_id, "direction": "outbound", "to_number": caller,
                         "from_number": "+15125550100", "body": "Sorry we missed your call!", "segments": 1,
                         "encoding": "GSM-7", "provider": "twilio", "provider_sid": None,
                         "status": "delivered" if rnd.random() < 0.95 else "undelivered",
                         "idempotency_key": f"recovery:{rec_id}:touch:1", "created_at": started,
                         "updated_at": started})
        if rnd.random() < 0.02:
            opt_rows.append({"sub_account_id": sub_id, "phone": caller, "source": "keyword",
                             "created_at": started + timedelta(minutes=10)})
    for model, rows in ((Recovery, rec_rows), (Call, call_rows), (Message, msg_rows), (OptOut, opt_rows)):
        with sessions.begin() as s:
            for i in range(0, len(rows), BATCH):
                s.execute(insert(model), rows[i:i + BATCH])
        if progress:
            progress(f"{model.__tablename__}: {len(rows)} rows")
    if sessions.kw.get("bind") is not None and sessions.kw["bind"].dialect.name == "postgresql":
        with sessions.kw["bind"].begin() as conn:  # the ids given above: the sequence goes on after them
            conn.exec_driver_sql("SELECT setval('recoveries_id_seq', (SELECT max(id) FROM recoveries))")
        # What autovacuum does to a table that grew over 90 days: statistics and the visibility map
        # (index-only scans need it).
        with sessions.kw["bind"].connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return History(agency_id=agency_id, sub_ids=sub_ids, calls=calls, since=since, until=now)


TRADES = ("Acme Plumbing", "Bright Dental", "Cool Air HVAC", "Delta Roofing", "Evergreen Lawn", "Fix-It Electric",
          "Glow Med Spa", "Harbor Auto", "Ivy Vet Clinic", "Jet Pest Control")
