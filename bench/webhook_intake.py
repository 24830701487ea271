#!/usr/bin/env python3
"""Webhook intake: signed webhooks of all four vendors, accepted (verified, stored, queued) as fast
as the web tier can, on PostgreSQL + Redis.

Starts a PostgreSQL and a Redis of the bench's own (bench/servers.py) and gunicorn on the app
factory, with four sub-accounts (a Twilio number, a GoHighLevel location, a HubSpot portal, a
Salesforce org). Prepares distinct, correctly signed webhooks, a quarter per vendor (a
Twilio no-answer callback, a GoHighLevel call event, a HubSpot call-creation batch, a Salesforce
Outbound Message with a call Task), each with ids of its own so none is a duplicate, and has
`wrk` (Debian: apt-get install wrk) send them over --connections connections for --duration s. No worker runs:
the jobs stay queued, so what is measured is the intake alone. Prints requests/s, latency
percentiles, non-2xx answers, and the rows stored and jobs queued per vendor (they must equal
the 2xx answers). Goal (issue 13): 1,000/s or more with p99 at most 50 ms.

    .venv/bin/python bench/webhook_intake.py                          # 20 s, 2 sync workers
    .venv/bin/python bench/webhook_intake.py --web-args "--worker-class gthread --threads 4"
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import redis
from hubspot.utils.signature import Signature
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.procfile import BIN, clean_env, cpu_seconds, free_port, ghl_signing_key, ringback  # noqa: E402
from bench.servers import PrivatePostgres, PrivateRedis, on_private_servers, stop_cleanly_on_term  # noqa: E402

ACCOUNT_SID, AUTH_TOKEN = "AC" + "ef" * 16, "intake-auth-token-" + "0" * 14
HUBSPOT_SECRET = "intake-hubspot-client-secret"
TWILIO_NUMBER, GHL_NUMBER, HUBSPOT_NUMBER, SF_NUMBER = "+15125550100", "+15125550101", "+15125550102", "+15125550103"
GHL_LOCATION, HUBSPOT_PORTAL, SF_ORG = "intakeLocation000001", "62515", "00D5e000000Ab1cEAC"
FIXTURES = ROOT / "tests" / "fixtures"

LUA = r"""
-- Each wrk thread sends its own share of the prepared requests, each once, then stops.
local requests, counter, total = {}, 0, 0
local f = assert(io.open(os.getenv("INTAKE_FILE"), "rb"))
while true do
  local line = f:read("*l")
  if not line then break end
  local method, path, nheaders, nbody = line:match("^(%S+) (%S+) (%d+) (%d+)$")
  local headers = {}
  for _ = 1, tonumber(nheaders) do
    local h = f:read("*l")
    local k, v = h:match("^([^:]+): (.*)$")
    headers[k] = v
  end
  local body = f:read(tonumber(nbody))
  f:read("*l")
  total = total + 1
  requests[total] = {method, path, headers, body}
end
f:close()
local threads = tonumber(os.getenv("INTAKE_THREADS"))
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  counter = id + 1
end
function request()
  local r = requests[counter]
  counter = counter + threads
  if not r then return wrk.format("GET", "/healthz") end  -- all sent: the bench writes enough for the run
  return wrk.format(r[1], r[2], r[3], r[4])
end
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="seconds wrk sends for (default 20)")
    parser.add_argument("--requests", type=int, default=0,
                        help="webhooks to prepare (default: 3,000 a second of --duration, more than are sent)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--web-args", default="", help="more gunicorn arguments")
    args = parser.parse_args()
    args.requests = args.requests or 3000 * args.duration
    stop_cleanly_on_term()
    if not shutil.which("wrk"):
        print("webhook_intake: needs wrk (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    return on_private_servers("webhook_intake", _bench, args)


def _bench(args, pg: PrivatePostgres, rd: PrivateRedis) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ringback-intake-"))
    key, pem = ghl_signing_key()
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = clean_env(DATABASE_URL=pg.url, REDIS_URL=rd.url, RINGBACK_DATA_DIR=tmp, RINGBACK_PUBLIC_URL=public,
                    TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, GHL_WEBHOOK_PUBLIC_KEY=pem,
                    HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET)
    ringback(env, "db", "upgrade")
    common = ["--timezone", "America/Chicago", "--hours", "24/7"]
    ringback(env, "subaccount", "add", "--name", "Intake Twilio", "--phone", TWILIO_NUMBER, *common)
    ringback(env, "subaccount", "add", "--name", "Intake GHL", "--phone", GHL_NUMBER, "--ghl-location", GHL_LOCATION,
             "--crm-token", "pit-intake", *common)
    ringback(env, "subaccount", "add", "--name", "Intake HubSpot", "--phone", HUBSPOT_NUMBER, "--hubspot-portal",
             HUBSPOT_PORTAL, "--crm-token", "pat-intake", *common)
    done = subprocess.run([BIN / "ringback", "subaccount", "add", "--name", "Intake SF", "--phone", SF_NUMBER,
                           "--salesforce-org", SF_ORG, "--salesforce-instance", "https://intake.my.salesforce.com",
                           "--crm-token", "00D!intake", *common], env=env, capture_output=True, text=True, check=True)
    sf_path = "/" + re.search(r"https?://[^/]+/(\S+)", done.stderr).group(1)

    plan = Plan(public, key, sf_path)
    file = tmp / "requests.txt"
    kinds = Counter()
    with open(file, "wb") as out:
        for i in range(args.requests):
            kind, method, path, headers, body = plan.make(i)
            kinds[kind] += 1
            out.write(f"{method} {path} {len(headers)} {len(body)}\n".encode())
            for k, v in headers.items():
                out.write(f"{k}: {v}\n".encode())
            out.write(body + b"\n")
    lua = tmp / "intake.lua"
    lua.write_text(LUA)

    log = open(tmp / "web.log", "w")
    web = subprocess.Popen([BIN / "gunicorn", "--workers", str(args.web_workers), "--bind", f"127.0.0.1:{port}",
                            *args.web_args.split(), "integration.app:create_app()"], env=env, stdout=log, stderr=log,
                           cwd=ROOT)
    try:
        _wait_ready(public, tmp)
        threads = 2
        parts = {"web": [web.pid], "PostgreSQL": [pg.pid()], "Redis": [rd.proc.pid]}
        cpu_before = {name: cpu_seconds(pids) for name, pids in parts.items()}
        wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        ran = subprocess.run(["wrk", "-t", str(threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--latency",
                              "-s", str(lua), public], capture_output=True, text=True,
                             env=os.environ | {"INTAKE_FILE": str(file), "INTAKE_THREADS": str(threads)})
        elapsed = time.monotonic() - started
        cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in parts.items()}
        wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    finally:
        web.terminate()
        web.wait(timeout=30)
        log.close()
    with psycopg.connect(pg.url) as conn:
        stored = dict(conn.execute("select provider, count(*) from inbox_events group by provider").fetchall())
    queued = redis.Redis.from_url(rd.url).zcard("huey.priority.ringback")  # integration/queue.PriorityQueue
    print(f"gunicorn x{args.web_workers} {args.web_args}; PostgreSQL + Redis of the bench's own; "
          f"{os.cpu_count()} cores; wrk -t{threads} -c{args.connections}; {args.requests} webhooks "
          f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    summary = _wrk_summary(ran.stdout)
    print(f"requests/s: {summary.get('rps', '?')}; latency p50 {summary.get('50%', '?')}, p90 {summary.get('90%', '?')}, "
          f"p99 {summary.get('99%', '?')}; non-2xx answers: {summary.get('non2xx', 0)}; socket errors: "
          f"{summary.get('errors', 'none')}; {elapsed:.1f} s in all")
    total = sum(stored.values())
    print(f"stored: {dict(sorted(stored.items()))} ({total} in all, {total / args.duration:.0f}/s); jobs queued: "
          f"{queued}" + ("; the prepared webhooks ran out: raise --requests" if total >= args.requests else ""))
    answered = max(total, 1)
    print("CPU per webhook: " + ", ".join(f"{name} {1000 * sec / answered:.2f} ms" for name, sec in cpu.items())
          + f"; {1000 * sum(cpu.values()) / answered:.2f} ms in all ({sum(cpu.values()) / elapsed:.2f} cores busy)")
    if ran.returncode:
        print(ran.stdout + ran.stderr)
    return 0 if total == queued and total < args.requests else 1


class Plan:
    """The i-th webhook: vendors in turn, ids of its own, signed as each vendor signs."""

    def __init__(self, public: str, key, sf_path: str):
        self.public, self.key, self.sf_path = public, key, sf_path
        self.validator = RequestValidator(AUTH_TOKEN)
        # GoHighLevel's timestamp must be within 5 minutes of the answer: the run is shorter
        self.now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.sf_xml = (FIXTURES / "salesforce" / "outbound_message__task_no_answer.xml").read_text()
        self.hubspot = json.loads((FIXTURES / "hubspot" / "call_creation__logged_by_calling_app.json").read_text())[0]

    def make(self, i: int):
        caller = f"+1512{7000000 + i:07d}"
        return [self.twilio, self.ghl, self.hubspot_batch, self.salesforce][i % 4](i, caller)

    def twilio(self, i, caller):
        from urllib.parse import urlencode
        path = "/webhooks/twilio/voice"
        params = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": ACCOUNT_SID, "From": caller,
                  "To": TWILIO_NUMBER, "CallStatus": "no-answer", "Direction": "inbound", "CallDuration": "0"}
        return ("twilio", "POST", path, {"X-Twilio-Signature": self.validator.compute_signature(self.public + path, params),
                                         "Content-Type": "application/x-www-form-urlencoded"}, urlencode(params).encode())

    def ghl(self, i, caller):
        body = json.dumps({"type": "InboundMessage", "locationId": GHL_LOCATION, "attachments": [],
                           "contactId": f"c{i:07d}", "conversationId": f"v{i:07d}", "direction": "inbound",
                           "messageType": "CALL", "messageId": f"m{i:07d}{secrets.token_hex(4)}", "status": "voicemail",
                           "callStatus": "voicemail", "from": caller, "to": GHL_NUMBER, "messageTypeId": 10,
                           "dateAdded": self.now, "timestamp": self.now, "webhookId": secrets.token_hex(16)},
                          separators=(",", ":")).encode()
        return ("ghl", "POST", "/webhooks/ghl", {"X-GHL-Signature": base64.b64encode(self.key.sign(body)).decode(),
                                                 "Content-Type": "application/json"}, body)

    def hubspot_batch(self, i, caller):
        path = "/webhooks/hubspot"
        body = json.dumps([self.hubspot | {"eventId": 10_000_000 + i, "objectId": 60_000_000 + i,
                                           "occurredAt": int(time.time() * 1000)}]).encode()
        ts = str(int(time.time() * 1000))
        sig = Signature.get_signature(HUBSPOT_SECRET, body.decode(), "v3", http_uri=self.public + path,
                                      http_method="POST", timestamp=ts)
        return ("hubspot", "POST", path, {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": ts,
                                          "Content-Type": "application/json"}, body)

    def salesforce(self, i, caller):
        xml = (self.sf_xml.replace("04l5e00000KBkLkAAL", f"04l{i:015d}")
               .replace("00T5e00000QxA1bEAF", f"00T{i:015d}").replace("CA3f9e1d2c4b5a69788706f5e4d3c2b1a0",
                                                                      "CA" + secrets.token_hex(16)))
        return ("salesforce", "POST", self.sf_path, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                xml.encode())


def _wait_ready(public: str, tmp: Path) -> None:
    import requests
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(public + "/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise SystemExit(f"Ringback did not start; see {tmp / 'web.log'}") from None
            time.sleep(0.1)


def _wrk_summary(text: str) -> dict:
    out = {}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        out["rps"] = m.group(1)
    for p in ("50%", "90%", "99%"):
        if m := re.search(rf"^\s+{re.escape(p)}\s+(\S+)", text, re.M):
            out[p] = m.group(1)
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        out["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: (.*)", text):
        out["errors"] = m.group(1)
    return out


if __name__ == "__main__":
    sys.exit(main())
