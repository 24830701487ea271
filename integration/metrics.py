"""Prometheus metrics that scale with the traffic, not with the tables.

What happens is counted where it happens (webhooks stored, calls decided, the webhook-to-text
latency, each CRM write's latency and outcome, calls catch-up found); what is waiting is read at
scrape time from indexed columns only (events pending, steps due, CRM writes waiting, how long
since each vendor's calls were caught up): no scrape scans a whole table.

Several processes (gunicorn's workers, `ringback worker`) each count their own part: with
PROMETHEUS_MULTIPROC_DIR set to a directory they share (the Procfile sets one), /metrics adds
them up (prometheus_client's multiprocess mode; gunicorn.conf.py marks a finished worker's files
dead). Without it, /metrics reports the process that answers, which for `ringback serve` (web and
worker in one process) is everything.
https://prometheus.github.io/client_python/multiprocess/
"""
from __future__ import annotations

import glob
import os
import struct
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess

WEBHOOKS = Counter("ringback_webhooks", "Vendor events stored, by vendor and what became of them "
                   "(pending: to be handled; ignored; unroutable)", ["provider", "status"])
CALLS = Counter("ringback_calls_decided", "Calls decided, by outcome (texted, answered, late...)", ["outcome"])
TEXTBACK = Histogram("ringback_textback_seconds", "From a missed call's event stored to its text accepted by the "
                     "sender, by the call's source", ["provider"],
                     buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0))
CRM_WRITES = Histogram("ringback_crm_write_seconds", "One CRM write, by vendor, write and outcome "
                       "(done, retry, failed)", ["vendor", "write", "outcome"],
                       buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
QUEUE_UNAVAILABLE = Counter("ringback_queue_unavailable", "Stored events the job queue refused (Redis away...): "
                            "the sweeper queues them when it is back")
CAUGHT_UP = Counter("ringback_catch_up_found", "Calls catch-up found that no webhook brought, by vendor", ["provider"])


class SettledFiles(multiprocess.MultiProcessCollector):
    """prometheus_client's multiprocess collector, reading only the files that are past creation.

    A process (or thread) counting something for the first time creates its file; a scrape that
    lists the folder at that instant finds it empty, and reading it raised struct.error: /metrics
    answered 500 (seen in CI). An empty file holds no count yet: it is read on the next scrape.
    """

    def collect(self):
        for attempt in range(3):
            try:
                return self.merge(self._settled(), accumulate=True)
            except (OSError, struct.error):  # a file removed (a dead process's) or begun since listed
                if attempt == 2:
                    raise

    def _settled(self) -> list[str]:
        files = []
        for path in glob.glob(os.path.join(self._path, "*.db")):
            try:
                if os.path.getsize(path) >= 8:  # the header (bytes used) is written
                    files.append(path)
            except OSError:  # marked dead and removed meanwhile
                continue
        return files


def registry() -> CollectorRegistry:
    """What /metrics reports: every process's counts in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shared = CollectorRegistry()
        SettledFiles(shared)
        return shared
    return REGISTRY


def seconds_since(then: datetime | None, now: datetime) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)
