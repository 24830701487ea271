"""The chaos scenario, small: bench/chaos.py run as it is (real gunicorn and worker processes on
PostgreSQL and Redis, a worker and a gunicorn worker SIGKILLed, Twilio failing sends), at a rate
and length that fit the suite. The figures at full size are in docs/benchmarks.md."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, _service_missing

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def test_no_caller_is_lost_or_texted_twice_through_the_faults(_postgres_database, redis_url):
    """Every webhook acknowledged, every caller texted exactly once."""
    if isinstance(_postgres_database, Exception):  # the script makes a database of its own on that server
        _service_missing(f"PostgreSQL at {PG_URL}", _postgres_database)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--rate", "20", "--duration", "10", "--lease", "3",
         "--settle", "90", "--postgres", PG_URL.replace("postgresql+psycopg://", "postgresql://"),
         "--redis", redis_url.rsplit("/", 1)[0] + "/13"],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "webhooks acknowledged: 200/200" in done.stdout
    assert "callers texted exactly once: 200/200; lost: 0; doubled: 0" in done.stdout
    assert "SIGKILL worker" in done.stdout and "SIGKILL gunicorn worker" in done.stdout
