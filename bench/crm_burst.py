#!/usr/bin/env python3
"""CRM burst: 500 missed calls across 5 GoHighLevel sub-accounts arrive at once.

Ringback runs as the Procfile runs it (gunicorn + `ringback worker`, SQLite) against a
loopback fake Twilio and a fake GoHighLevel that enforces GoHighLevel's published limit of
100 requests per 10 seconds per location (answering 429 past it). Every call is a signed
GoHighLevel call event; each becomes a text-back plus CRM writes (contact, opportunity,
stage move, note). Reported: the time until every CRM write is applied, against the minimum
the rate limit allows for the requests made; the 429s received; writes lost or failed.

    .venv/bin/python bench/crm_burst.py [--calls 500] [--locations 5]
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import math
import secrets
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.procfile import add_ghl_locations, clean_env, cpu_seconds, free_port, ghl_signing_key, procfile  # noqa: E402
from tests.fakes.ghl_api import FakeGhl  # noqa: E402
from tests.fakes.server import LoopbackServer  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

ACCOUNT_SID, AUTH_TOKEN = "AC" + "cd" * 16, "bench-auth-token-" + "1" * 15


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--locations", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    tmp = Path(tempfile.mkdtemp(prefix="ringback-crm-burst-"))
    key, pem = ghl_signing_key()
    twilio, ghl = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, validate=False), FakeGhl()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with LoopbackServer(twilio.app) as tw, LoopbackServer(ghl.app) as gh:
        env = clean_env(RINGBACK_DATA_DIR=tmp, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                        TWILIO_API_URL=tw.url, RINGBACK_PUBLIC_URL=url, GHL_API_URL=gh.url,
                        GHL_WEBHOOK_PUBLIC_KEY=pem)
        locations = add_ghl_locations(env, ghl, args.locations, label="bench", phone_prefix="+1512557")
        with procfile(env, port, tmp / "procs.log") as (web, worker):
            session = requests.Session()

            def fire(i: int) -> int:
                loc, phone = locations[i % len(locations)]
                now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                body = json.dumps({
                    "type": "InboundMessage", "locationId": loc, "attachments": [], "contactId": f"c{i:06d}",
                    "conversationId": f"v{i:06d}", "dateAdded": now, "direction": "inbound", "messageType": "CALL",
                    "messageId": f"m{i:06d}{secrets.token_hex(4)}", "status": "voicemail", "callStatus": "voicemail",
                    "from": f"+1512{300 + i // 10000:03d}{i % 10000:04d}", "to": phone, "messageTypeId": 10,
                    "messageTypeString": "TYPE_VOICEMAIL", "timestamp": now, "webhookId": secrets.token_hex(16),
                }, separators=(",", ":")).encode()
                signature = base64.b64encode(key.sign(body)).decode()
                return session.post(url + "/webhooks/ghl", data=body, timeout=30,
                                    headers={"X-GHL-Signature": signature, "Content-Type": "application/json"}).status_code

            cpu0 = cpu_seconds([web.pid, worker.pid])
            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=16) as pool:
                codes = Counter(pool.map(fire, range(args.calls)))
            print(f"{args.calls} GoHighLevel call events sent in {time.monotonic() - start:.1f}s: {dict(codes)}")
            db = sqlite3.connect(f"file:{tmp / 'ringback.db'}?mode=ro", uri=True)
            last_print, expected_ops = 0.0, 4 * args.calls
            while True:
                counts = dict(db.execute("select status, count(*) from sync_log group by status").fetchall())
                done, total = counts.get("done", 0), sum(counts.values())
                elapsed = time.monotonic() - start
                if total >= expected_ops and done + counts.get("failed", 0) == total:
                    break
                if elapsed - last_print >= 5:
                    print(f"  {elapsed:5.0f}s  CRM writes: {done}/{expected_ops} applied {counts}, "
                          f"429s so far {ghl.throttled}", flush=True)
                    last_print = elapsed
                if elapsed > args.timeout:
                    print("timed out")
                    break
                time.sleep(0.2)
            finished = time.monotonic() - start
            cpu = cpu_seconds([web.pid, worker.pid]) - cpu0
            per_location = Counter(location for _, location, _ in ghl.requests)
            minimum = max((math.ceil(n / 100) - 1) * 10 for n in per_location.values())
            texted = sum(1 for o in ghl.opportunities.values() if ghl.stage_name(o) == "Texted back")
            print(f"texts sent: {len(twilio.messages)}/{args.calls}")
            print(f"GoHighLevel requests per location: {dict(sorted(per_location.items()))}")
            print(f"every CRM write applied after {finished:.1f}s; the rate limit allows at least {minimum:.0f}s "
                  f"for these requests: {finished / minimum if minimum else float('nan'):.2f}x the minimum (target <= 1.25)")
            print(f"429s received: {ghl.throttled}; writes failed: {counts.get('failed', 0)}; "
                  f"writes lost: {expected_ops - total + (args.calls - texted)} "
                  f"(opportunities in 'Texted back': {texted}/{args.calls}, contacts: {len(ghl.contacts)})")
            print(f"CPU of Ringback's processes: {cpu:.1f}s ({cpu * 1000 / args.calls:.1f} ms per call)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
