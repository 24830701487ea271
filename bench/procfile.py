"""Run Ringback for a benchmark the way the Procfile runs it: gunicorn on the app factory plus
`ringback worker`, configured only through the environment, stopped with TERM."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLK = os.sysconf("SC_CLK_TCK")
OUR_SETTINGS = ("RINGBACK_", "TWILIO_", "REDIS_", "DATABASE_", "GHL_", "HUBSPOT_", "SALESFORCE_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**settings) -> dict:
    """This process's environment without any Ringback setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_SETTINGS)}
    env.update({k: str(v) for k, v in settings.items()})
    return env


def ringback(env: dict, *args: str) -> str:
    """Run a `ringback` command (set-up steps); its output, or an error naming what failed."""
    done = subprocess.run([BIN / "ringback", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ringback {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@contextmanager
def procfile(env: dict, port: int, log_path: Path, *, web_workers: int = 2, web_args: list[str] = (),
             worker_args: list[str] = ()):
    """(web, worker) processes serving on ``port``; ready when yielded, stopped with TERM after."""
    log = open(log_path, "w")
    web = subprocess.Popen([BIN / "gunicorn", "--workers", str(web_workers), "--bind", f"127.0.0.1:{port}",
                            *web_args, "integration.app:create_app()"], env=env, stdout=log, stderr=log, cwd=ROOT)
    worker = subprocess.Popen([BIN / "ringback", "worker", *worker_args], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit(f"Ringback did not start; see {log_path}") from None
                time.sleep(0.1)
        yield web, worker
    finally:
        for proc in (web, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def ghl_signing_key():
    """A GoHighLevel webhook signing key of the run's own: (private key, its public PEM for GHL_WEBHOOK_PUBLIC_KEY)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    return key, key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def add_ghl_locations(env: dict, ghl, count: int, *, label: str, phone_prefix: str) -> list[tuple[str, str]]:
    """``count`` GoHighLevel locations installed at the fake ``ghl``, each a sub-account open 24/7
    (`ringback subaccount add`): [(locationId, its number)]."""
    locations = []
    for i in range(count):
        loc, token, phone = f"{label}Loc{i:02d}{secrets.token_hex(4)}", f"pit-{secrets.token_hex(8)}", f"{phone_prefix}{i:04d}"
        ghl.install(loc, token)
        ringback(env, "subaccount", "add", "--name", f"{label.title()} Co {i}", "--phone", phone, "--timezone",
                 "America/Chicago", "--hours", "24/7", "--ghl-location", loc, "--crm-token", token)
        locations.append((loc, phone))
    return locations


def cpu_seconds(root_pids: list[int]) -> float:
    """utime+stime of the given processes and all their descendants, from /proc."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (int(fields[11]) + int(fields[12])) / CLK
    total, todo = 0.0, list(root_pids)
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total
