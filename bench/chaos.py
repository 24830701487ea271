#!/usr/bin/env python3
"""Chaos: the Procfile deployment on PostgreSQL + Redis under a steady stream of missed calls and
hostile traffic, while its processes are killed, its servers restarted and its vendors misbehave.
Bounded and loopback only.

Starts a PostgreSQL and a Redis of the run's own (bench/servers.py: the machine's binaries, free
ports, so restarting them touches nothing else), `gunicorn --workers 2` and two `ringback worker`
processes, with the real Twilio SDK pointed at a loopback fake Twilio and GoHighLevel at a fake
GoHighLevel holding its published limit (100 requests per 10 s per location). Half the calls are
signed Twilio no-answer callbacks to a Twilio number, half signed GoHighLevel call events across
--locations sub-accounts (each a text-back plus its CRM writes: contact, opportunity, stage, note),
each from a caller of its own, fired at a fixed rate (open loop); alongside, --hostile requests a
second of mangled, forged, oversized and nonsense requests (tests/hostile.py). Meanwhile:

  at 10% of the run   SIGKILL one worker process (its claimed texts are left with a lease)
  at 25%              a new worker process in its place (once the killed one's leases ran out)
  at 30%              SIGKILL one gunicorn worker (gunicorn's master starts another)
  at 40%              restart Redis: down for --down seconds, back empty (every queued job lost)
  at 55%              restart PostgreSQL (fast shutdown): down for --down seconds; the web answers
                      503 (429 to GoHighLevel, which retries nothing else) with Retry-After
  from 15%            GoHighLevel answers 30% of requests 429/500/502/503 for --crm-fault seconds
  from 70%            Twilio fails 30% of sends for 15% of the run: refused with a 500, accepted
                      with the answer lost, or accepted and answered after Ringback's timeout

The vendors' side sends a webhook again after a 429 or 503 (after its Retry-After, up to 10 s),
a 5xx or no answer, as Twilio's and HubSpot's retries would. Then the run waits for the work to
settle and prints: webhooks acknowledged, callers texted exactly once, lost, doubled, CRM writes
applied / failed for good / lost, answers to the hostile requests (5xx: must be none), rows left
half-done, text-back latency, and how long after each fault ended everything begun before its
end was done (goal: within 60 s). Exits 1 if anything was lost, doubled or left half-done, or a
hostile request got a 5xx; the recovery times are figures, not part of the exit status.

    .venv/bin/python bench/chaos.py                    # 50 calls/s for 60 s, the CRM failing 120 s
    .venv/bin/python bench/chaos.py --rate 20 --duration 10 --crm-fault 5 --settle 90
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.procfile import BIN, add_ghl_locations, clean_env, free_port, ghl_signing_key, procfile, ringback  # noqa: E402
from bench.servers import PrivatePostgres, PrivateRedis, on_private_servers, stop_cleanly_on_term  # noqa: E402
from tests.fakes.ghl_api import FakeGhl  # noqa: E402
from tests.fakes.server import LoopbackServer  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402
from tests.hostile import HostileTraffic  # noqa: E402

ACCOUNT_SID, AUTH_TOKEN = "AC" + "cd" * 16, "chaos-auth-token-" + "0" * 15
BUSINESS = "+15125550100"


def caller(i: int) -> str:
    return f"+1512{7000000 + i:07d}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="missed calls per second (default 50)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of calls (default 60)")
    parser.add_argument("--locations", type=int, default=20, help="GoHighLevel sub-accounts (default 20)")
    parser.add_argument("--hostile", type=float, default=10.0, help="hostile requests per second (default 10)")
    parser.add_argument("--crm-fault", type=float, default=120.0, help="seconds GoHighLevel fails 30%% (default 120)")
    parser.add_argument("--down", type=float, default=3.0, help="seconds Redis and PostgreSQL stay down (default 3)")
    parser.add_argument("--settle", type=float, default=240.0, help="seconds to wait for the work to finish")
    parser.add_argument("--lease", type=int, default=10, help="seconds a claimed text is held (RINGBACK_STEP_LEASE_SECONDS)")
    args = parser.parse_args()
    stop_cleanly_on_term()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return on_private_servers("chaos", _deploy, args)


def _deploy(args, pg: PrivatePostgres, rd: PrivateRedis) -> int:
    twilio = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, validate=False)
    twilio.own_number(ACCOUNT_SID, BUSINESS)
    ghl = FakeGhl()
    key, pem = ghl_signing_key()
    tmp = Path(tempfile.mkdtemp(prefix="ringback-chaos-"))
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with LoopbackServer(twilio.app) as tw, LoopbackServer(ghl.app) as gh:
        env = clean_env(DATABASE_URL=pg.url, REDIS_URL=rd.url, RINGBACK_DATA_DIR=tmp, RINGBACK_PUBLIC_URL=public,
                        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_API_URL=tw.url,
                        GHL_API_URL=gh.url, GHL_WEBHOOK_PUBLIC_KEY=pem,
                        RINGBACK_STEP_LEASE_SECONDS=args.lease)
        ringback(env, "db", "upgrade")
        ringback(env, "subaccount", "add", "--name", "Chaos Plumbing", "--phone", BUSINESS,
                 "--timezone", "America/Chicago", "--hours", "24/7")
        locations = add_ghl_locations(env, ghl, args.locations, label="chaos", phone_prefix="+1512556")
        with procfile(env, port, tmp / "procs.log") as (web, worker):
            return Run(args, env, public, pg, rd, twilio, ghl, key, locations, web, worker, tmp).go()


class Run:
    def __init__(self, args, env, public, pg, rd, twilio, ghl, key, locations, web, worker, tmp):
        self.args, self.env, self.public, self.pg, self.rd = args, env, public, pg, rd
        self.twilio, self.ghl, self.key, self.locations, self.web, self.tmp = twilio, ghl, key, locations, web, tmp
        self.log = open(tmp / "more-workers.log", "w")
        self.workers = [worker, self._worker()]
        self.first_worker = worker
        self.total = int(args.rate * args.duration)
        self.sent_at: dict[str, float] = {}  # caller -> when its call was first sent (monotonic)
        self.answers: Counter = Counter()
        self.not_retried_by_ghl = 0  # a GoHighLevel event answered neither 2xx nor 429: GoHighLevel drops it
        self.hostile_answers: Counter = Counter()
        self.hostile_resent = 0  # hostile requests that got no answer the first time
        self.faults: list[tuple[float, float, str]] = []  # (start, end) monotonic, what
        self.lock = threading.Lock()
        self.validator = RequestValidator(AUTH_TOKEN)
        self.local = threading.local()

    def _worker(self) -> subprocess.Popen:
        return subprocess.Popen([BIN / "ringback", "worker"], env=self.env, stdout=self.log, stderr=self.log)

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    # ------------------------------------------------------------------ traffic

    def call(self, i: int) -> None:
        number = caller(i)
        if i % 2 == 0:
            url = self.public + "/webhooks/twilio/voice"
            params = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": ACCOUNT_SID, "From": number,
                      "To": BUSINESS, "CallStatus": "no-answer", "Direction": "inbound", "CallDuration": "0"}
            request = dict(data=params, headers={"X-Twilio-Signature": self.validator.compute_signature(url, params)})
        else:
            loc, phone = self.locations[(i // 2) % len(self.locations)]
            now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            body = json.dumps({
                "type": "InboundMessage", "locationId": loc, "attachments": [], "contactId": f"c{i:07d}",
                "conversationId": f"v{i:07d}", "dateAdded": now, "direction": "inbound", "messageType": "CALL",
                "messageId": f"m{i:07d}{secrets.token_hex(4)}", "status": "voicemail", "callStatus": "voicemail",
                "from": number, "to": phone, "messageTypeId": 10, "messageTypeString": "TYPE_VOICEMAIL",
                "timestamp": now, "webhookId": secrets.token_hex(16)}, separators=(",", ":")).encode()
            url = self.public + "/webhooks/ghl"
            request = dict(data=body, headers={"X-GHL-Signature": base64.b64encode(self.key.sign(body)).decode(),
                                               "Content-Type": "application/json"})
        with self.lock:
            self.sent_at[number] = time.monotonic()
        for attempt in range(12):  # as a vendor would: again after a 429/503's Retry-After, a 5xx, no answer
            retry_after = None
            try:
                answer = self._session().post(url, timeout=15, **request)
                status = answer.status_code
                retry_after = answer.headers.get("Retry-After")
            except requests.RequestException:
                status = "no answer"
            with self.lock:
                self.answers[status] += 1
                if i % 2 and status not in (200, 429):
                    self.not_retried_by_ghl += 1
            if status == 200:
                return
            time.sleep(min(float(retry_after), 10.0) if retry_after else 1 + attempt)

    def hostile(self, stop: threading.Event) -> None:
        if self.args.hostile <= 0:
            return
        traffic = HostileTraffic(self.public, auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID, ghl_key=self.key,
                                 ghl_location=self.locations[0][0], business=BUSINESS, seed=1)
        session, started, n = requests.Session(), time.monotonic(), 0
        while not stop.is_set():
            delay = started + n / self.args.hostile - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            kind, method, path, headers, body = traffic.next()
            for attempt in range(2):  # no answer (a gunicorn worker SIGKILLed mid-request): sent once more
                try:
                    answer = session.request(method, self.public + path, headers=headers, data=body, timeout=15)
                    status = answer.status_code
                    if status in (429, 503) and answer.headers.get("Retry-After") == "10":
                        status = f"{status} database away"  # the outage's answer to everyone, not the input's
                    break
                except requests.RequestException:
                    status = "no answer"
                    with self.lock:
                        self.hostile_resent += 1
            with self.lock:
                self.hostile_answers[(kind, status)] += 1
            n += 1

    # ------------------------------------------------------------------ faults

    def fault(self, at: float, what: str, action) -> None:
        time.sleep(max(at - (time.monotonic() - self.started), 0))
        began = time.monotonic()
        ended = action()
        with self.lock:
            self.faults.append((began, ended or time.monotonic(), what))

    def kill_worker(self):
        self.workers[0].send_signal(signal.SIGKILL)
        self.workers[0].wait()
        # the new one starts once the killed one's leases have run out: it sweeps them up at start
        time.sleep(max(0.25 * self.args.duration - 0.10 * self.args.duration, self.args.lease + 1))
        self.workers[0] = self._worker()

    def kill_web_worker(self):
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(self.web.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        if children:
            os.kill(children[0], signal.SIGKILL)

    def restart_redis(self):
        self.rd.restart(self.args.down)

    def restart_postgres(self):
        self.pg.restart(self.args.down)

    def crm_fails(self):
        self.ghl.flaky(0.3, self.args.crm_fault, seed=2)
        return time.monotonic() + self.args.crm_fault

    def twilio_fails(self):
        seconds = 0.15 * self.args.duration
        self.twilio.flaky(0.3, seconds, seed=3)
        return time.monotonic() + seconds

    # ------------------------------------------------------------------ the run

    def go(self) -> int:
        d = self.args.duration
        schedule = [(0.10 * d, "SIGKILL worker (and a new one later)", self.kill_worker),
                    (0.15 * d, f"GoHighLevel failing 30% for {self.args.crm_fault:g}s", self.crm_fails),
                    (0.30 * d, "SIGKILL gunicorn worker", self.kill_web_worker),
                    (0.40 * d, f"Redis restarted ({self.args.down:g}s down, back empty)", self.restart_redis),
                    (0.55 * d, f"PostgreSQL restarted ({self.args.down:g}s down)", self.restart_postgres),
                    (0.70 * d, "Twilio failing 30% of sends", self.twilio_fails)]
        self.started = time.monotonic()
        threads = [threading.Thread(target=self.fault, args=item, daemon=True) for item in schedule]
        stop_hostile = threading.Event()
        threads.append(threading.Thread(target=self.hostile, args=(stop_hostile,), daemon=True))
        for thread in threads:
            thread.start()
        with ThreadPoolExecutor(96) as pool:
            for i in range(self.total):
                delay = self.started + i / self.args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.call, i)
        calls_ended = time.monotonic()
        stop_hostile.set()
        for thread in threads:
            thread.join()
        db = Db(self.pg.url)
        last_fault_end = max(end for _, end, _ in self.faults)
        deadline = max(calls_ended, last_fault_end) + self.args.settle
        while time.monotonic() < deadline:
            texted = self._texted()
            if len(texted) >= self.total and db.settled():
                break
            time.sleep(0.5)
        db.watch_stop()
        for proc in self.workers[1:] + ([self.workers[0]] if self.workers[0] is not self.first_worker else []):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        self.log.close()
        return self.report(db, calls_ended)

    def _texted(self) -> dict[str, list[float]]:
        """caller -> when each text to them was accepted by the fake Twilio (monotonic)."""
        out: dict[str, list[float]] = {}
        with self.twilio._lock:
            for m in self.twilio.messages:
                out.setdefault(m["to"], []).append(m["_received_monotonic"])
        return out

    def report(self, db: "Db", calls_ended: float) -> int:
        texted = self._texted()
        callers = [caller(i) for i in range(self.total)]
        acknowledged = self.answers.get(200, 0)
        once = sum(1 for c in callers if len(texted.get(c, ())) == 1)
        lost = sum(1 for c in callers if c not in texted)
        doubled = sum(1 for c in callers if len(texted.get(c, ())) > 1)
        latency = [min(texted[c]) - self.sent_at[c] for c in callers if c in texted]
        ghl_callers = {caller(i) for i in range(1, self.total, 2)}
        writes = db.writes(ghl_callers)  # the callers' own: a hostile event that parses is a call too
        in_stage = sum(1 for o in self.ghl.opportunities.values() if self.ghl.stage_name(o) == "Texted back"
                       and self.ghl.contacts.get(o["contactId"], {}).get("phone") in ghl_callers)
        hostile = Counter()
        for (kind, status), n in self.hostile_answers.items():
            hostile[status] += n
        hostile_5xx = {k: n for k, n in self.hostile_answers.items() if isinstance(k[1], int) and k[1] >= 500
                       or k[1] == "no answer"}
        leftovers = db.leftovers()
        print(f"PostgreSQL + Redis (private, restarted), gunicorn x2 + 2 ringback worker processes; "
              f"{self.args.rate:g} calls/s for {self.args.duration:g} s (half Twilio, half GoHighLevel across "
              f"{len(self.locations)} locations) + {self.args.hostile:g} hostile requests/s")
        print("faults: " + "; ".join(f"{b - self.started:.1f}-{e - self.started:.1f}s {what}"
                                     for b, e, what in sorted(self.faults)))
        print(f"webhooks acknowledged: {acknowledged}/{self.total} (answers: {dict(self.answers)}); "
              f"GoHighLevel events answered neither 2xx nor 429 (GoHighLevel would not resend; catch-up "
              f"finds those): {self.not_retried_by_ghl}")
        print(f"callers texted exactly once: {once}/{self.total}; lost: {lost}; doubled: {doubled}")
        print(f"text-back latency from the first webhook sent: p50 {percentile(latency, 50) * 1000:.0f} ms, "
              f"p99 {percentile(latency, 99) * 1000:.0f} ms, max {max(latency, default=0):.1f} s")
        expected = 4 * len(ghl_callers)
        print(f"CRM writes applied: {writes.get('done', 0)}/{expected}; failed for good: {writes.get('failed', 0)}; "
              f"lost: {expected - writes.get('done', 0) - writes.get('failed', 0)} (opportunities in 'Texted back': "
              f"{in_stage}/{len(ghl_callers)}; GoHighLevel refused {self.ghl.flaky_failed} requests, 429 for "
              f"the limit {self.ghl.throttled})")
        print(f"hostile requests: {sum(hostile.values())}, answered {dict(sorted(hostile.items(), key=str))} "
              f"({self.hostile_resent} sent again after no answer); "
              f"5xx or no answer: {sum(hostile_5xx.values())} {hostile_5xx or ''}")
        print(f"rows left half-done: {leftovers}")
        recovered = []
        for began, ended, what in sorted(self.faults):
            done = [min(texted[c]) for c in callers if c in texted and self.sent_at[c] <= ended]
            waited = max(max(done, default=ended) - ended, 0.0)
            if "GoHighLevel" in what:
                waited = max(waited, db.crm_recovery(ended))
            recovered.append(waited)
            print(f"  after '{what}' ended: everything begun before was done {waited:.1f}s later")
        print(f"recovery within 60 s of each fault ending (the goal): {'yes' if max(recovered) <= 60 else 'NO'}")
        ok = (lost == 0 and doubled == 0 and acknowledged == self.total and not hostile_5xx
              and writes.get("done", 0) == expected and not any(leftovers.values()))
        print("result: " + ("OK (nothing lost, doubled or half-done; no 5xx)" if ok else "FAILED"))
        return 0 if ok else 1


class Db:
    """What the run reads of Ringback's database (and, from a thread of its own, when the CRM
    writes made before a moment were all applied)."""

    def __init__(self, url: str):
        self.url = url
        self.stop = threading.Event()
        self.samples: list[tuple[float, datetime]] = []  # (monotonic, the oldest write not applied yet)
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _query(self, sql: str):
        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return conn.execute(sql).fetchall()

    def _watch(self) -> None:
        while not self.stop.wait(0.5):
            try:
                [(oldest,)] = self._query("select min(created_at) from sync_log where status <> 'done'")
            except psycopg.Error:
                continue
            self.samples.append((time.monotonic(), oldest))

    def watch_stop(self) -> None:
        self.stop.set()
        self.thread.join()
        [(oldest,)] = self._query("select min(created_at) from sync_log where status <> 'done'")
        self.samples.append((time.monotonic(), oldest))

    def settled(self) -> bool:
        [(events, writes)] = self._query("select (select count(*) from inbox_events where status = 'pending'), "
                                         "(select count(*) from sync_log where status in ('pending', 'running'))")
        return events == 0 and writes == 0

    def writes(self, callers: set[str]) -> dict:
        """CRM writes by status, of the recoveries of ``callers``."""
        rows = self._query("select r.caller, s.status, count(*) from sync_log s join recoveries r "
                           "on r.id = s.recovery_id group by r.caller, s.status")
        out: Counter = Counter()
        for who, status, n in rows:
            if who in callers:
                out[status] += n
        return dict(out)

    def leftovers(self) -> dict:
        [row] = self._query(
            "select (select count(*) from inbox_events where status = 'pending'), "
            "(select count(*) from steps where status = 'running'), "
            "(select count(*) from sync_log where status in ('pending', 'running'))")
        return dict(zip(("events pending", "texts claimed and not sent", "CRM writes waiting"), row))

    def crm_recovery(self, ended: float) -> float:
        """Seconds after ``ended`` until no write made before it was waiting."""
        wall = datetime.now(timezone.utc) - timedelta(seconds=time.monotonic() - ended)
        for at, oldest in self.samples:
            if at >= ended and (oldest is None or _utc(oldest) > wall):
                return at - ended
        return float("inf")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


if __name__ == "__main__":
    sys.exit(main())
