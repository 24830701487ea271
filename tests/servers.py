"""Ringback as a user runs it, for the end-to-end tests: `ringback serve` in a subprocess on a
real port, configured only through the environment."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER

RINGBACK = str(Path(sys.executable).with_name("ringback"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(request, db_url, fake_twilio, tmp_path, *, env_extra=None, add_args=None):
    """`ringback serve` in a subprocess, configured only through the environment, with one sub-account."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RINGBACK_", "TWILIO_", "REDIS_", "DATABASE_", "GHL_", "HUBSPOT_"))}
    env.update(DATABASE_URL=db_url, RINGBACK_DATA_DIR=str(tmp_path / "var"), TWILIO_ACCOUNT_SID=ACCOUNT_SID,
               TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_API_URL=fake_twilio.url,
               RINGBACK_PUBLIC_URL=f"http://127.0.0.1:{port}", **(env_extra or {}))
    if "postgres" in db_url:
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    added = subprocess.run([RINGBACK, "subaccount", "add", "--name", "Acme Plumbing", "--phone", BUSINESS_NUMBER,
                            "--timezone", "America/Chicago", "--hours", "24/7",
                            "--booking-url", "https://acme.example/book", *(add_args or [])],
                           env=env, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().isdigit()
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen([RINGBACK, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        log.seek(0)
        pytest.fail("ringback serve did not start:\n" + log.read())

    def stop():
        proc.terminate()
        assert proc.wait(timeout=30) == 0, "ringback serve did not stop cleanly on TERM"
        log.seek(0)
        output = log.read()
        assert "Traceback" not in output, output

    return {"url": url, "env": env, "log": log, "stop": stop, "added": added}


def wait_until(predicate, timeout=15.0, what="it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
