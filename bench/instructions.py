#!/usr/bin/env python3
"""Instructions per missed call, counted by valgrind's callgrind: a CPU figure that does not
move with the machine's speed.

This machine's speed swings by the hour (bench/compare.py), so a 5-10% change in CPU per call
cannot be seen in seconds. Instructions can: callgrind counts them exactly, the same for the same
code whatever else the machine does. This runs, in one process, what Ringback's web and worker do
for a missed call through a Twilio number (the signed no-answer callback through the Flask app,
the worker's processing of the stored event, the text-back sent with the real Twilio SDK to a fake
Twilio in another process, and its bookkeeping), first ``--warm`` + ``--calls`` times and then
``--warm`` times, each under callgrind, and prints the difference per call. Only this process is
counted: not the database server, the queue or the fake (their share is in
bench/textback_latency.py's CPU columns). The queue is the embedded one: no job goes through it,
each step runs inline as the worker runs it.

    .venv/bin/python bench/instructions.py                        # on a PostgreSQL of its own
    .venv/bin/python bench/instructions.py --sqlite --calls 50
    .venv/bin/python bench/compare.py --base HEAD~1 --rounds 1 -- instructions.py
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACCOUNT_SID, AUTH_TOKEN = "AC" + "cd" * 16, "bench-auth-token-" + "1" * 15
BUSINESS = "+15125550100"
PUBLIC_URL = "https://ringback.example.com"


def run_calls(database_url: str, twilio_url: str, count: int) -> None:
    """The measured work: ``count`` missed calls, webhook to sent text, in this process."""
    import logging

    from twilio.request_validator import RequestValidator

    from integration import migrate
    from integration.app import create_app
    from integration.config import Config
    from integration.models import SubAccount
    from integration.runtime import Runtime
    from integration.worker import events, steps

    from bench.textback_latency import caller_number

    logging.disable(logging.WARNING)
    migrate.upgrade(database_url)
    config = Config.from_env({}, database_url=database_url, data_dir=Path(tempfile.mkdtemp(prefix="ringback-ins-")),
                             public_url=PUBLIC_URL, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                             twilio_api_url=twilio_url, queue_immediate=False, env="test")
    rt = Runtime(config)
    client = create_app(config, rt=rt).test_client()
    with rt.sessions.begin() as s:
        s.add(SubAccount(name="Bench Plumbing", provider="twilio", external_id=BUSINESS, phone_number=BUSINESS,
                         timezone="America/Chicago", business_hours="24/7", booking_url="https://bench.example/book"))
    validator = RequestValidator(AUTH_TOKEN)
    path = "/webhooks/twilio/voice"
    for i in range(count):
        params = {"AccountSid": ACCOUNT_SID, "CallSid": f"CA{i:032x}", "CallStatus": "no-answer", "Direction": "inbound",
                  "From": caller_number(i), "To": BUSINESS, "CallDuration": "0", "ApiVersion": "2010-04-01"}
        answer = client.post(path, data=params,
                             headers={"X-Twilio-Signature": validator.compute_signature(PUBLIC_URL + path, params)})
        if answer.status_code >= 300:
            raise SystemExit(f"the webhook was refused: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
        outcome = events.process_event(rt, i + 1)
        if not outcome.claims:
            raise SystemExit(f"call {i} was not texted: {outcome.summary}")
        for claim in outcome.claims:
            sent = steps.deliver(rt, claim)
            if not sent.summary.startswith("sent"):
                raise SystemExit(f"call {i}: the text was not sent: {sent.summary}")
    rt.close()


def count_instructions(database_url: str, twilio_url: str, calls: int) -> int:
    out = Path(tempfile.mkdtemp(prefix="ringback-cg-")) / "callgrind.out"
    try:
        done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                               __file__, "--child", database_url, twilio_url, str(calls)],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            raise SystemExit(f"the measured run failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.M)
        if not found:
            raise SystemExit("callgrind wrote no instruction count")
        return int(found.group(1))
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def fresh_database(args, pg) -> str:
    if args.sqlite:
        return f"sqlite:///{tempfile.mkdtemp(prefix='ringback-ins-')}/ringback.db"
    import psycopg
    name = f"ins_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return "postgresql+psycopg://" + pg.url.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_calls(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30, help="missed calls measured (default 30)")
    parser.add_argument("--warm", type=int, default=10,
                        help="calls in both runs, so start-up and first-use costs cancel out (default 10)")
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite database instead of PostgreSQL")
    args = parser.parse_args()
    if args.calls < 1 or args.warm < 1:
        parser.error("--calls and --warm must be at least 1")
    if not shutil.which("valgrind"):
        print("instructions.py: valgrind is not installed (Debian: valgrind)", file=sys.stderr)
        return 2
    from bench.servers import PrivatePostgres, ServerMissing, stop_cleanly_on_term

    stop_cleanly_on_term()
    # The fake Twilio runs in a process of its own: its instructions are not Ringback's.
    fake = subprocess.Popen([sys.executable, "-c", _FAKE_TWILIO, ACCOUNT_SID, AUTH_TOKEN], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        twilio_url = fake.stdout.readline().strip()
        pg = PrivatePostgres() if not args.sqlite else None
        try:
            if pg is not None:
                pg.__enter__()
        except ServerMissing as exc:
            print(f"instructions.py: {exc}", file=sys.stderr)
            return 2
        try:
            where = "SQLite" if args.sqlite else "PostgreSQL"
            print(f"counting instructions under callgrind ({where}): {args.warm} calls, then "
                  f"{args.warm + args.calls}; each run takes a minute or more", flush=True)
            small = count_instructions(fresh_database(args, pg), twilio_url, args.warm)
            large = count_instructions(fresh_database(args, pg), twilio_url, args.warm + args.calls)
        finally:
            if pg is not None:
                pg.__exit__(None, None, None)
    finally:
        fake.kill()
    per_call = (large - small) / args.calls
    print(f"instructions per missed call (web + worker, this process, {where}): {per_call / 1e6:.2f} M")
    return 0


_FAKE_TWILIO = """
import logging, sys, time
sys.path.insert(0, ".")
from tests.fakes.server import LoopbackServer
from tests.fakes.twilio_api import FakeTwilio
logging.disable(logging.INFO)
fake = FakeTwilio(sys.argv[1], sys.argv[2], validate=False)
server = LoopbackServer(fake.app).__enter__()
print(server.url, flush=True)
time.sleep(24 * 3600)
"""

if __name__ == "__main__":
    sys.exit(main())
