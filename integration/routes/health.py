"""Liveness, readiness and Prometheus metrics."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import bindparam, func, select, text

from connectors import registry as vendors

from .. import migrate
from ..metrics import registry as counted, seconds_since
from ..queue import QUEUE_AWAY
from ..models import InboxEvent, Step, SubAccount, SyncOp, utcnow
from . import rt

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    runtime = rt()
    checks = {}
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok" if migrate.is_current(runtime.engine) else "migrations pending"
    except Exception as exc:  # report, never crash the probe
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        checks["queue"] = f"ok ({runtime.huey.pending_count()} waiting)"
    except Exception as exc:
        checks["queue"] = f"error: {exc.__class__.__name__}"
    ok = all(v.startswith("ok") for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


def _catch_up_lag():
    """Per vendor, the least recently caught-up live sub-account's last listing, and the creation of
    the oldest live one never caught up: two index probes each (models: the partial indexes)."""
    live = (SubAccount.removed_at.is_(None),)
    columns = []
    for provider in vendors.PROVIDERS:
        columns.append(select(func.min(SubAccount.caught_up_at)).where(SubAccount.provider == provider, *live)
                       .scalar_subquery().label(f"{provider}_listed"))
        columns.append(select(func.min(SubAccount.created_at))
                       .where(SubAccount.provider == provider, SubAccount.caught_up_at.is_(None), *live)
                       .scalar_subquery().label(f"{provider}_never"))
    return select(*columns)


# What a scrape reads, each through an index (tests/test_pages_and_health.py checks the plans).
PENDING_EVENTS = select(func.count(), func.min(InboxEvent.received_at)).where(InboxEvent.status == "pending")
DUE_STEPS = select(func.count(), func.min(Step.due_at)).where(Step.status == "pending",
                                                               Step.due_at <= bindparam("_now"))
WAITING_WRITES = select(func.count(), func.min(SyncOp.next_attempt_at)).where(SyncOp.status.in_(("pending", "running")))
CATCH_UP_LAG = _catch_up_lag()
SCRAPE_STATEMENTS = (PENDING_EVENTS, DUE_STEPS, WAITING_WRITES, CATCH_UP_LAG)


class _WaitingCollector:
    """What is waiting, read at scrape time from indexed columns only (never a whole table), so every
    process reports the same truth: events to handle, steps due, CRM writes waiting, and how long
    since each vendor's calls were last caught up."""

    def __init__(self, runtime):
        self.runtime = runtime

    def collect(self):
        now = utcnow()
        with self.runtime.sessions() as s:
            pending = s.execute(PENDING_EVENTS).one()
            due = s.execute(DUE_STEPS, {"_now": now}).one()
            writes = s.execute(WAITING_WRITES).one()
            lag = s.execute(CATCH_UP_LAG).one()
        for name, doc, (count, oldest) in (
                ("ringback_events_pending", "Vendor events stored and not handled yet", pending),
                ("ringback_steps_due", "Scheduled texts and checks that are due", due),
                ("ringback_crm_writes_waiting", "CRM writes not applied yet", writes)):
            yield GaugeMetricFamily(name, doc, value=count)
            yield GaugeMetricFamily(f"{name}_oldest_seconds", f"{doc}: how long the oldest has waited",
                                    value=seconds_since(oldest, now) or 0.0)
        yield from self._queue()
        family = GaugeMetricFamily("ringback_catch_up_lag_seconds", "Since the least recently caught-up "
                                   "sub-account's calls were listed, by vendor", labels=["provider"])
        for provider in vendors.PROVIDERS:
            since = [t for t in (lag._mapping[f"{provider}_listed"], lag._mapping[f"{provider}_never"]) if t]
            if since:  # a vendor no live sub-account uses has no lag
                family.add_metric([provider], seconds_since(min(since), now) or 0.0)
        yield family


    def _queue(self):
        """The job queue's own depth and the age of its head (huey's storage: Redis or the SQLite file)."""
        huey = self.runtime.huey
        try:
            depth, oldest = huey.pending_count(), huey.oldest_waiting_seconds()
        except QUEUE_AWAY:
            yield GaugeMetricFamily("ringback_queue_up", "1 if the job queue answered this scrape", value=0)
            return
        yield GaugeMetricFamily("ringback_queue_up", "1 if the job queue answered this scrape", value=1)
        yield GaugeMetricFamily("ringback_queue_jobs_waiting", "Jobs queued and not started", value=depth)
        yield GaugeMetricFamily("ringback_queue_oldest_seconds", "How long the job next in line has waited "
                                "since it was queued or came due", value=oldest)


@bp.get("/metrics")
def metrics():
    if not rt().config.metrics_enabled:  # RINGBACK_METRICS=off (production's default)
        return jsonify(error="metrics are switched off here (RINGBACK_METRICS)"), 404
    waiting = CollectorRegistry()
    waiting.register(_WaitingCollector(rt()))
    return Response(generate_latest(counted()) + generate_latest(waiting), mimetype=CONTENT_TYPE_LATEST)
