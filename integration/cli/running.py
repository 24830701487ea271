"""Running Ringback: serve, worker, the database schema, keys, and a simulated call."""
from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time

import click
import requests
from sqlalchemy import select

from connectors.registry import TWILIO

from .. import migrate
from ..config import Config
from ..models import Call, InboxEvent, Message

from .base import _config, _phone, _runtime, _sessions, _warn, main


@main.group(help="Keys for RINGBACK_ENCRYPTION_KEY.")
def keys() -> None:
    pass


@keys.command("new", help="Print a fresh Fernet key for RINGBACK_ENCRYPTION_KEY (put it in front of the old "
                          "ones to rotate: the first key encrypts, all of them decrypt).")
def keys_new() -> None:
    from cryptography.fernet import Fernet
    click.echo(Fernet.generate_key().decode())


# ------------------------------------------------------------------ serve / worker

@main.command(help="Run the web app and an in-process worker (migrates the database first).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, help="Worker threads for jobs.")
def serve(host: str, port: int, workers: int) -> None:
    from werkzeug.serving import make_server

    from ..app import create_app
    from ..worker.consumer import make_consumer

    import dataclasses

    config = _config()
    url = f"http://{host}:{port}"
    if not os.environ.get("RINGBACK_PUBLIC_URL"):
        # Locally the public URL is the one we serve on: signatures are checked against it.
        config = dataclasses.replace(config, public_url=url)
    app = create_app(config, rt=_runtime(config))  # logs the start-up warnings
    from ..worker import tasks
    tasks.queue_catch_up()  # the calls whose webhooks were lost while no worker ran
    consumer = make_consumer(workers=workers, in_process=True, sweep=tasks.sweep)
    consumer.start()
    server = make_server(host, port, app, threaded=True)
    store = "SQLite " + config.database_url.split("///", 1)[-1] if config.is_sqlite else "PostgreSQL"
    queue = "Redis job queue" if config.redis_url else "SQLite job queue"
    click.echo(f"Ringback is running at {url}  ({store}; {queue}; {config.sms_backend} SMS sender)")
    if config.public_url != url:
        click.echo(f"Webhook signatures are checked against RINGBACK_PUBLIC_URL={config.public_url}")
    # `ringback simulate-call` (and the other commands) find this server here, and sign for it.
    server_file = _write_server_file(config, url)
    click.echo("Try it: ringback simulate-call --to <a sub-account's number> --from +15125550123")
    click.echo("Press Ctrl+C to stop.")

    def _terminate(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("Stopping: finishing jobs in progress...")
        server_file.unlink(missing_ok=True)
        server.server_close()
        consumer.stop(graceful=True)
        app.extensions["ringback"].close()


SERVER_FILE = "server.json"


def _write_server_file(config: Config, url: str):
    from ..db import private_file
    path = config.data_dir / SERVER_FILE
    private_file(path)
    path.write_text(json.dumps({"url": url, "public_url": config.public_url, "pid": os.getpid()}))
    return path


def _running_server(config: Config) -> dict | None:
    """The `ringback serve` running from this data directory, if one is."""
    try:
        found = json.loads((config.data_dir / SERVER_FILE).read_text())
        os.kill(int(found["pid"]), 0)
        return found
    except (OSError, ValueError, KeyError, TypeError):
        return None


@main.command(help="Run the job worker (huey consumer; TERM stops it gracefully).")
@click.option("--workers", default=2, show_default=True,
              help="Queue workers (threads, or processes with --processes); sends run on their own "
                   "RINGBACK_SEND_CONCURRENCY threads.")
@click.option("--processes", is_flag=True, help="Run each worker in its own process (uses every core).")
def worker(workers: int, processes: bool) -> None:
    from ..runtime import install
    from ..worker.consumer import make_consumer

    from .. import logs
    config = _config()
    logs.configure(config.log_format)  # request ids, callers' numbers cut to their last four digits
    _warn(config)
    rt = install(_runtime(config))
    from ..worker import tasks
    tasks.queue_catch_up()  # the calls whose webhooks were lost while no worker ran
    try:
        make_consumer(workers=workers, worker_type="process" if processes else "thread", sweep=tasks.sweep).run()
    finally:
        rt.close()  # texts already handed to the send pool are sent and recorded before exit


# ------------------------------------------------------------------ db

@main.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Create the database or migrate it to the newest schema.")
def db_upgrade() -> None:
    config = _config()
    migrate.upgrade(config.database_url)
    click.echo("database is up to date")



# ------------------------------------------------------------------ simulate-call

@main.command("simulate-call", help="Send a signed Twilio call-status callback to a running Ringback and show what it did.")
@click.option("--to", "to", required=True, callback=_phone, help="The sub-account's number that was called.")
@click.option("--from", "from_", required=True, help="The caller's number.")
@click.option("--status", default="no-answer", show_default=True,
              type=click.Choice(["no-answer", "busy", "failed", "canceled", "completed"]))
@click.option("--duration", default=0, show_default=True, type=int, help="Call length in seconds (for completed).")
@click.option("--url", default=None, help="Where Ringback listens (default: the `ringback serve` running from this "
                                         "data directory, else RINGBACK_PUBLIC_URL).")
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for Ringback's decision.")
def simulate_call(to, from_, status, duration, url, wait) -> None:
    from twilio.request_validator import RequestValidator

    config = _config()
    path = "/webhooks/twilio/voice"
    call_sid = "CA" + secrets.token_hex(16)
    params = {
        "CallSid": call_sid, "AccountSid": config.twilio_account_sid or "AC" + "0" * 32,
        "From": from_, "To": to, "Caller": from_, "Called": to, "CallStatus": status,
        "Direction": "inbound", "ApiVersion": "2010-04-01", "CallbackSource": "call-progress-events",
        "SequenceNumber": "0", "CallDuration": str(duration),
        "Timestamp": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
    }
    # Sign for the server we talk to: the URL it checks signatures against is its public URL
    # (RINGBACK_PUBLIC_URL, or where `ringback serve` listens, which it notes in the data directory).
    server = _running_server(config)
    if url:
        target_base = url.rstrip("/")
        signed_base = (server["public_url"] if server and server["url"] == target_base else
                       config.public_url if os.environ.get("RINGBACK_PUBLIC_URL") else target_base)
    elif server and not os.environ.get("RINGBACK_PUBLIC_URL"):
        target_base, signed_base = server["url"], server["public_url"]
    else:
        target_base = signed_base = config.public_url
    signature = RequestValidator(config.twilio_webhook_token).compute_signature(signed_base + path, params)
    target = target_base + path
    try:
        resp = requests.post(target, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    except requests.RequestException:
        raise click.ClickException(f"could not reach Ringback at {target}. Is `ringback serve` running? "
                                   "(give its address with --url)") from None
    if resp.status_code == 403:
        raise click.ClickException(
            f"Ringback refused the signature: {resp.text.strip()}. It was signed for {signed_base}{path}: the server "
            f"must check signatures against that address (RINGBACK_PUBLIC_URL), with the same TWILIO_AUTH_TOKEN or, "
            f"in sandbox mode, the same data directory ({config.data_dir}).")
    if resp.status_code != 200:
        raise click.ClickException(f"Ringback answered {resp.status_code}: {resp.text.strip()}")
    click.echo(f"sent {status} call {call_sid} from {from_} to {to}")
    sessions = _sessions(config)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with sessions() as s:
            call = s.scalar(select(Call).where(Call.provider == TWILIO.key, Call.call_id == call_sid))
            msg = ev = None
            if call is None:
                ev = s.scalar(select(InboxEvent).where(InboxEvent.provider == TWILIO.key,
                                                       InboxEvent.event_key == f"voice:{call_sid}:{status}"))
            elif call.outcome == "texted":
                msg = s.scalar(select(Message).where(Message.idempotency_key == f"recovery:{call.recovery_id}:touch:1"))
        if ev is not None and ev.status == "unroutable":
            click.echo(f"outcome: nothing done: {ev.result}")
            sys.exit(1)
        if call is not None and call.outcome and (call.outcome != "texted" or (msg and msg.status != "pending")):
            click.echo(f"outcome: {call.outcome} ({call.reason})")
            if msg is not None:
                click.echo(f"text {msg.provider_sid or '(not sent)'} [{msg.status}] to {msg.to_number} "
                           f"from {msg.from_number}:")
                click.echo(f"  {msg.body}")
            return
        time.sleep(0.1)
    raise click.ClickException(f"no decision within {wait:g}s: is a worker running (`ringback serve` has one)?")


if __name__ == "__main__":
    main()
