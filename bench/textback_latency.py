#!/usr/bin/env python3
"""Text-back latency: Ringback run as the Procfile runs it, under a steady stream of missed calls.

Starts `gunicorn` on the app factory and `ringback worker` on the embedded defaults (SQLite
database, SQLite job queue) with the real Twilio SDK pointed at a loopback fake Twilio, then
fires signed no-answer callbacks from distinct callers at fixed rates (open loop: a slow
answer never slows the load). For each rate it prints, from callback sent to the fake
receiving the text: p50/p95/p99, texts expected/sent/duplicated/lost, and the CPU time
Ringback's processes spent per call; finally the highest rate at which latency stayed flat.

    .venv/bin/python bench/textback_latency.py                     # 10, 50 calls/s for 30 s, then the sweep
    .venv/bin/python bench/textback_latency.py --rates 50 --duration 30
    .venv/bin/python bench/textback_latency.py --postgres-redis --rates 10,50 --sweep 75,100 --interference 0.5
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import logging

import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.procfile import clean_env, cpu_seconds, free_port, procfile, ringback  # noqa: E402
from bench.servers import PrivatePostgres, PrivateRedis, stop_cleanly_on_term  # noqa: E402
from tests.fakes.server import LoopbackServer  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

ACCOUNT_SID, AUTH_TOKEN = "AC" + "ab" * 16, "bench-auth-token-" + "0" * 15
BUSINESS = "+15125550100"


def caller_number(i: int) -> str:
    # Distinct valid US numbers: 512-2xx-xxxx exchanges are valid for phonenumbers.
    return f"+1512{200 + (i // 10000) % 700:03d}{i % 10000:04d}"


def run_rate(url: str, public: str, fake: FakeTwilio, rate: float, duration: float, offset: int) -> dict:
    total = int(rate * duration)
    sent_at: dict[str, float] = {}
    errors: list[str] = []
    path = "/webhooks/twilio/voice"
    validator = RequestValidator(AUTH_TOKEN)
    local = threading.local()

    def fire(i: int) -> None:
        caller = caller_number(offset + i)
        params = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": ACCOUNT_SID, "From": caller, "To": BUSINESS,
                  "Caller": caller, "Called": BUSINESS, "CallStatus": "no-answer", "Direction": "inbound",
                  "ApiVersion": "2010-04-01", "CallDuration": "0", "SequenceNumber": "2",
                  "CallbackSource": "call-progress-events"}
        signature = validator.compute_signature(public + path, params)
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        sent_at[caller] = time.monotonic()
        try:
            resp = session.post(url + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
            if resp.status_code != 200:
                errors.append(f"{resp.status_code} {resp.text[:80]}")
        except requests.RequestException as exc:
            errors.append(str(exc))

    before_msgs = len(fake.messages)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i in range(total):
            target = start + i / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(fire, i)
    deadline = time.monotonic() + 15
    while len(fake.messages) - before_msgs < total and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # let any duplicate show itself
    msgs = fake.messages[before_msgs:]
    per_caller: dict[str, list[float]] = {}
    for m in msgs:
        per_caller.setdefault(m["to"], []).append(m["_received_monotonic"])
    latencies = sorted((min(ts) - sent_at[to]) * 1000 for to, ts in per_caller.items() if to in sent_at)
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) >= 2 else [float("nan")] * 99
    return {
        "rate": rate, "duration": duration, "expected": total, "sent": len(per_caller),
        "duplicated": sum(len(v) - 1 for v in per_caller.values()),
        "lost": total - len(per_caller), "errors": errors[:3], "error_count": len(errors),
        "p50": q[49], "p95": q[94], "p99": q[98], "max": latencies[-1] if latencies else float("nan"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="10,50", help="comma-separated calls/s for the main runs (default 10,50)")
    ap.add_argument("--duration", type=float, default=30, help="seconds per main run (default 30)")
    ap.add_argument("--sweep", default="75,100,125,150", help="rates for the flatness sweep ('' to skip)")
    ap.add_argument("--sweep-duration", type=float, default=10)
    ap.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2, one per core)")
    ap.add_argument("--web-args", default="", help="more gunicorn arguments, e.g. '--worker-class gthread --threads 4'")
    ap.add_argument("--worker-threads", type=int, default=2, help="`ringback worker --workers` (default 2)")
    ap.add_argument("--twilio-latency-ms", type=float, default=0,
                    help="the fake Twilio answers this late (real Twilio: 100-300 ms); texts are timed on arrival")
    ap.add_argument("--worker-processes", action="store_true", help="`ringback worker --processes`")
    ap.add_argument("--postgres-redis", action="store_true",
                    help="run on a PostgreSQL and a Redis of the bench's own (bench/servers.py) instead of the "
                         "embedded SQLite defaults; their CPU is counted with Ringback's")
    ap.add_argument("--interference", type=float, default=0.0,
                    help="share of one core (0-1) a competing process burns throughout, as other work would")
    args = ap.parse_args()
    stop_cleanly_on_term()
    with contextlib.ExitStack() as stack:
        servers = None
        if args.postgres_redis:
            servers = stack.enter_context(PrivatePostgres()), stack.enter_context(PrivateRedis())
        if args.interference:
            stack.enter_context(interference(args.interference))
        return _bench(args, servers)


@contextlib.contextmanager
def interference(share: float):
    """A process that keeps ``share`` of a core busy (busy for share*10 ms of every 10 ms)."""
    code = (f"import time\nwhile True:\n    t=time.monotonic()\n    while time.monotonic()-t<{share * 0.01}:\n"
            f"        pass\n    time.sleep({(1 - share) * 0.01})\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _bench(args, servers) -> int:

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake's access log is not ours
    tmp = Path(tempfile.mkdtemp(prefix="ringback-bench-"))
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, validate=False, answer_delay=args.twilio_latency_ms / 1000)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with LoopbackServer(fake.app) as twilio:
        env = clean_env(RINGBACK_DATA_DIR=tmp, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                        TWILIO_API_URL=twilio.url, RINGBACK_PUBLIC_URL=url)
        if servers:
            env.update(DATABASE_URL=servers[0].url, REDIS_URL=servers[1].url)
        ringback(env, "db", "upgrade")
        ringback(env, "subaccount", "add", "--name", "Bench Plumbing", "--phone", BUSINESS,
                 "--timezone", "America/Chicago", "--hours", "24/7")
        worker_args = ["--workers", str(args.worker_threads)] + (["--processes"] if args.worker_processes else [])
        with procfile(env, port, tmp / "procs.log", web_workers=args.web_workers, web_args=args.web_args.split(),
                      worker_args=worker_args) as (web, worker):
            # warm up both processes (imports, connections) before measuring
            run_rate(url, url, fake, 20, 1, offset=900_000)
            kind = "processes" if args.worker_processes else "threads"
            store = "PostgreSQL + Redis of the bench's own" if servers else f"SQLite in {tmp}"
            print(f"Ringback: gunicorn x{args.web_workers} + ringback worker x{args.worker_threads} {kind}, "
                  f"{store}; {os.cpu_count()} cores; fake Twilio answers after {args.twilio_latency_ms:g} ms"
                  + (f"; another process burning {args.interference:.0%} of a core" if args.interference else ""))
            print(f"{'calls/s':>8} {'secs':>5} {'expected':>8} {'sent':>6} {'dup':>4} {'lost':>5} "
                  f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'CPU ms/call':>11} {'(web':>6} {'worker)':>7}"
                  + (f" {'(pg':>6} {'redis)':>6}" if servers else ""))
            server_pids = [servers[0].pid(), servers[1].proc.pid] if servers else []
            results, offset = [], 0
            plan = [(float(r), args.duration) for r in args.rates.split(",") if r]
            plan += [(float(r), args.sweep_duration) for r in args.sweep.split(",") if r]
            for rate, duration in plan:
                web0, worker0 = cpu_seconds([web.pid]), cpu_seconds([worker.pid])
                servers0 = [cpu_seconds([pid]) for pid in server_pids]
                res = run_rate(url, url, fake, rate, duration, offset)
                n = max(res["expected"], 1)
                res["web_ms"] = (cpu_seconds([web.pid]) - web0) * 1000 / n
                res["worker_ms"] = (cpu_seconds([worker.pid]) - worker0) * 1000 / n
                res["servers_ms"] = [(cpu_seconds([pid]) - before) * 1000 / n for pid, before in zip(server_pids, servers0)]
                res["cpu_ms"] = res["web_ms"] + res["worker_ms"] + sum(res["servers_ms"])
                offset += res["expected"]
                results.append(res)
                print(f"{rate:>8g} {duration:>5g} {res['expected']:>8} {res['sent']:>6} {res['duplicated']:>4} "
                      f"{res['lost']:>5} {res['p50']:>7.1f} {res['p95']:>7.1f} {res['p99']:>7.1f} {res['max']:>7.1f} "
                      f"{res['cpu_ms']:>11.2f} {res['web_ms']:>6.2f} {res['worker_ms']:>7.2f}"
                      + "".join(f" {ms:>6.2f}" for ms in res["servers_ms"]), flush=True)
                if res["error_count"]:
                    print(f"         {res['error_count']} request errors, e.g. {res['errors']}")
            base = results[0]
            flat = [r for r in results if r["lost"] == 0 and r["duplicated"] == 0
                    and r["p99"] <= max(3 * base["p99"], 100)]
            print(f"highest rate with flat latency (none lost or duplicated, p99 <= max(3x the {base['rate']:g}/s p99, 100 ms)): "
                  f"{max(r['rate'] for r in flat) if flat else 'none'} calls/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
