"""Liveness, readiness and Prometheus metrics."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, text

from .. import migrate
from ..models import Call, InboxEvent, Message, Step
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


class _DatabaseCollector:
    """Counts read from the database at scrape time, so every process reports the same truth."""

    def __init__(self, runtime):
        self.runtime = runtime

    def collect(self):
        with self.runtime.sessions() as s:
            yield _family(s, "ringback_inbox_events", "Webhooks stored, by provider and status",
                          [InboxEvent.provider, InboxEvent.status], ["provider", "status"])
            yield _family(s, "ringback_calls", "Calls seen, by outcome", [Call.outcome], ["outcome"])
            yield _family(s, "ringback_messages", "Texts, by direction and status",
                          [Message.direction, Message.status], ["direction", "status"])
            yield _family(s, "ringback_steps", "Scheduled steps, by kind and status",
                          [Step.kind, Step.status], ["kind", "status"])


def _family(s, name, doc, columns, labels):
    family = GaugeMetricFamily(name, doc, labels=labels)
    for row in s.execute(select(*columns, func.count()).group_by(*columns)):
        family.add_metric([str(v) if v is not None else "none" for v in row[:-1]], row[-1])
    return family


@bp.get("/metrics")
def metrics():
    if not rt().config.metrics_enabled:  # RINGBACK_METRICS=off (production's default)
        return jsonify(error="metrics are switched off here (RINGBACK_METRICS)"), 404
    registry = CollectorRegistry()
    registry.register(_DatabaseCollector(rt()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
