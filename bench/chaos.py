#!/usr/bin/env python3
"""Chaos: the Procfile deployment on PostgreSQL + Redis under a steady stream of missed calls,
while its processes are killed and Twilio misbehaves. Bounded and loopback only.

Starts `gunicorn --workers 2` and two `ringback worker` processes on a fresh PostgreSQL database
(127.0.0.1:5432 by default) and Redis (a database of its own), with the real Twilio SDK pointed at
a loopback fake Twilio, then fires signed no-answer callbacks from distinct callers at a fixed
rate (open loop) and meanwhile:

  at 20% of the run   SIGKILL one worker process (its claimed texts are left with a lease)
  at 35%              start a new worker process in its place (at the earliest when the killed
                      one's leases have run out, so it sweeps them up as it starts)
  at 45%              SIGKILL one gunicorn worker (gunicorn's master starts another)
  from 55%            Twilio fails 30% of the next fifth of the sends with a 500, a third of them
                      after accepting the text (the answer is lost, the text is not: Ringback must
                      find it, not send it twice)

Then it waits for the work to settle and prints: webhooks acknowledged, callers texted exactly
once, lost, doubled, and how long after the last fault the last text went out.

    .venv/bin/python bench/chaos.py                    # 50 calls/s for 40 s
    .venv/bin/python bench/chaos.py --rate 50 --duration 60

Not here yet (issue 13): restarting PostgreSQL and Redis themselves (this machine shares them),
and a CRM answering 429/5xx (see bench/crm_burst.py for GoHighLevel's limit).
"""
from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import logging

import psycopg
import redis
import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.procfile import BIN, clean_env, free_port, procfile, ringback  # noqa: E402
from tests.fakes.server import LoopbackServer  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

ACCOUNT_SID, AUTH_TOKEN = "AC" + "cd" * 16, "chaos-auth-token-" + "0" * 15
BUSINESS = "+15125550100"


def caller(i: int) -> str:
    return f"+1512{7000000 + i:07d}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="missed calls per second (default 50)")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of calls (default 40)")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server to make the run's own database on")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="a Redis database the run may empty")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for the work to finish")
    parser.add_argument("--lease", type=int, default=10, help="seconds a claimed text is held (RINGBACK_STEP_LEASE_SECONDS)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    name = f"ringback_chaos_{secrets.token_hex(4)}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(args.redis).flushdb()
    database_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, validate=False)
    fake.own_number(ACCOUNT_SID, BUSINESS)
    tmp = Path(tempfile.mkdtemp(prefix="ringback-chaos-"))
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    try:
        with LoopbackServer(fake.app) as server:
            env = clean_env(DATABASE_URL=database_url, REDIS_URL=args.redis, RINGBACK_DATA_DIR=tmp,
                            RINGBACK_PUBLIC_URL=public, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                            TWILIO_API_URL=server.url, RINGBACK_STEP_LEASE_SECONDS=args.lease)
            ringback(env, "db", "upgrade")
            ringback(env, "subaccount", "add", "--name", "Chaos Plumbing", "--phone", BUSINESS,
                     "--timezone", "America/Chicago", "--hours", "24/7")
            with procfile(env, port, tmp / "procs.log") as (web, worker):
                return _run(args, env, public, fake, web, worker, tmp)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(args, env, public, fake, web, first_worker, tmp) -> int:
    log = open(tmp / "second-worker.log", "w")
    workers = [first_worker, subprocess.Popen([BIN / "ringback", "worker"], env=env, stdout=log, stderr=log)]
    validator = RequestValidator(AUTH_TOKEN)
    total = int(args.rate * args.duration)
    answers: Counter = Counter()
    faults: list[tuple[float, str]] = []
    session = requests.Session()
    lock = threading.Lock()

    def call(i: int) -> None:
        params = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": ACCOUNT_SID, "From": caller(i),
                  "To": BUSINESS, "CallStatus": "no-answer", "Direction": "inbound", "CallDuration": "0"}
        url = public + "/webhooks/twilio/voice"
        for attempt in range(5):  # as Twilio would, a refused or failed callback is sent again
            try:
                answer = session.post(url, data=params, timeout=10,
                                      headers={"X-Twilio-Signature": validator.compute_signature(url, params)})
                status = answer.status_code
            except requests.RequestException:
                status = "no answer"
            with lock:
                answers[status] += 1
            if status == 200:
                return
            time.sleep(1 + attempt)

    def fault(at: float, what: str, action) -> None:
        time.sleep(at)
        action()
        faults.append((time.monotonic(), what))

    def kill_worker():
        workers[0].send_signal(signal.SIGKILL)

    def restart_worker():
        workers[0] = subprocess.Popen([BIN / "ringback", "worker"], env=env, stdout=log, stderr=log)

    def kill_web_worker():
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        if children:
            os.kill(children[0], signal.SIGKILL)

    def twilio_fails():
        # The next sends (about a fifth of the run's): 30% refused with a 500, of which a third after
        # the text was accepted (its answer lost); None: sent as usual.
        sends = int(args.rate * args.duration * 0.2)
        plan = [(20500, False)] * int(sends * 0.2) + [(20500, True)] * int(sends * 0.1)
        plan += [(None, False)] * (sends - len(plan))
        random.shuffle(plan)
        with fake._lock:
            fake._failures.extend(plan)

    d = args.duration
    # The new worker starts once the killed one's leases have run out: it sweeps them up at start.
    schedule = [(0.20 * d, "SIGKILL worker", kill_worker),
                (max(0.35 * d, 0.20 * d + args.lease + 1), "new worker", restart_worker),
                (0.45 * d, "SIGKILL gunicorn worker", kill_web_worker),
                (0.55 * d, "Twilio failing 30% of sends (10% after accepting them)", twilio_fails)]
    for at, what, action in schedule:
        threading.Thread(target=fault, args=(at, what, action), daemon=True).start()
    started = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        for i in range(total):
            delay = started + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(call, i)
    sent_by = time.monotonic()
    with fake._lock:  # the failures planned are used up by then, or cleared now
        fake._failures.clear()
    deadline = time.monotonic() + args.settle
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        with fake._lock:
            count = len({m["to"] for m in fake.messages})
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        if count >= total:
            break
        time.sleep(0.5)
    with fake._lock:
        per_caller = Counter(m["to"] for m in fake.messages)
    for proc in workers[1:] + ([workers[0]] if workers[0] is not first_worker else []):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    log.close()
    acknowledged = answers.get(200, 0)
    once = sum(1 for i in range(total) if per_caller.get(caller(i)) == 1)
    lost = sum(1 for i in range(total) if caller(i) not in per_caller)
    doubled = sum(1 for n in per_caller.values() if n > 1)
    last_fault = max(t for t, _ in faults) if faults else started
    print(f"PostgreSQL + Redis, gunicorn x2 + 2 ringback worker processes; {args.rate:g} calls/s for {d:g} s")
    print("faults: " + "; ".join(f"{t - started:.1f}s {what}" for t, what in sorted(faults)))
    print(f"webhooks acknowledged: {acknowledged}/{total} (answers: {dict(answers)})")
    print(f"callers texted exactly once: {once}/{total}; lost: {lost}; doubled: {doubled}")
    print(f"last text {last_change - max(last_fault, sent_by):.1f}s after the calls and faults ended; "
          f"{len(fake.messages)} texts in all")
    return 0 if lost == 0 and doubled == 0 and acknowledged == total else 1


if __name__ == "__main__":
    sys.exit(main())
