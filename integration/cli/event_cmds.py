"""`ringback events`: the webhooks received, those that failed, and replaying them."""
from __future__ import annotations

import click
from sqlalchemy import select

from ..models import InboxEvent

# ------------------------------------------------------------------ inbox events

from .base import _config, _runtime, _sessions, main


@main.group(help="Webhooks received (the inbox): those that failed, and replaying them.")
def events() -> None:
    pass


@events.command("list", help="Events not processed yet, or with --failed those that failed for good, with the reason.")
@click.option("--failed", is_flag=True, help="Only events that failed after every retry.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def events_list(failed: bool, limit: int) -> None:
    config = _config()
    statuses = ("failed",) if failed else ("pending", "failed")
    with _sessions(config)() as s:
        rows = s.scalars(select(InboxEvent).where(InboxEvent.status.in_(statuses))
                         .order_by(InboxEvent.id.desc()).limit(limit)).all()
    if not rows:
        click.echo("no failed events" if failed else "every event is processed")
        return
    click.echo(f"{'id':>6}  {'received (UTC)':<19} {'from':<10} {'kind':<16} {'status':<8} {'tries':>5}  result")
    for ev in rows:
        click.echo(f"{ev.id:>6}  {ev.received_at:%Y-%m-%d %H:%M:%S} {ev.provider:<10} {ev.kind[:16]:<16} {ev.status:<8} "
                   f"{ev.attempts:>5}  {(ev.result or '')[:200]}")


@events.command("retry", help="Process failed events again from the start, now (after fixing what failed).")
@click.argument("event_ids", nargs=-1, type=int, required=True)
def events_retry(event_ids) -> None:
    from ..worker import events as worker_events
    from ..worker import tasks
    from ..runtime import install

    rt = install(_runtime(_config()))
    rt.huey.immediate = True  # run here and now, with what it sends
    try:
        ids = [i for i in event_ids if 0 < i < 2**31]
        retried = worker_events.retry_events(rt, ids)
        missing = [str(i) for i in event_ids if i not in retried]
        for event_id in retried:
            tasks.process_event.call_local(event_id, 0)
            with rt.sessions() as s:
                ev = s.get(InboxEvent, event_id)
            click.echo(f"event {event_id}: {ev.status}: {ev.result}")
    finally:
        rt.close()
    if missing:
        raise click.ClickException(f"not failed events: {', '.join(missing)} (see `ringback events list --failed`)")


@main.command("catch-up", help="One catch-up pass now: ask each sub-account's CRM (or Twilio, for a number) for "
                               "the calls since the last pass and handle those no webhook brought, as the worker "
                               "does every five minutes. A call found after the late-text window becomes a "
                               "call-back task, never a late text.")
@click.option("--sub-account", "sub_ids", multiple=True, type=click.IntRange(1, 2**31 - 1),
              help="Only this sub-account (repeatable).")
def catch_up(sub_ids) -> None:
    from .. import catch_up as catching_up
    from ..runtime import install
    from ..worker import tasks

    rt = install(_runtime(_config()))
    rt.huey.immediate = True  # handle what is found here and now, with what it sends
    failed = 0
    try:
        passes = catching_up.run(rt, sub_ids=list(sub_ids) or None, progress=lambda one: click.echo(one.line))
        for one in passes:
            failed += bool(one.error)
            for event_id in one.event_ids:
                tasks.process_event.call_local(event_id)
                with rt.sessions() as s:
                    ev = s.get(InboxEvent, event_id)
                click.echo(f"  event {event_id}: {ev.status}: {ev.result}")
    finally:
        rt.close()
    if sub_ids and not passes:
        raise click.ClickException(f"no active sub-account {', '.join(map(str, sub_ids))}")
    new = sum(one.new for one in passes)
    click.echo(f"caught up {len(passes) - failed} of {len(passes)} sub-account(s); {new} call(s) no webhook brought")
    if failed:
        raise SystemExit(1)


@main.command("retention", help="Forget now what is older than RINGBACK_RETENTION_DAYS (or --days): message bodies, "
                                "callers' numbers (cut to their last four digits) and webhook payloads. The counts "
                                "the reports need stay; opt-outs and open recoveries are kept. The worker does this "
                                "daily when RINGBACK_RETENTION_DAYS is set.")
@click.option("--days", type=click.IntRange(1, 36500), default=None, help="Older than this many days.")
def retention_now(days) -> None:
    from .. import retention

    config = _config()
    if days is None and not config.retention_days:
        raise click.ClickException("RINGBACK_RETENTION_DAYS is not set: give --days N to forget what is older")
    rt = _runtime(config)
    try:
        done = retention.apply(rt, days=days)
    finally:
        rt.close()
    click.echo(done.line + f" older than {days or config.retention_days} days")
