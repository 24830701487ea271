"""What an operator looks at: the report, the app definitions, installations' health and the CRM
sync log."""
from __future__ import annotations

import json
import re

import click
from sqlalchemy import select

from connectors.registry import SALESFORCE

from ..models import SubAccount

# ------------------------------------------------------------------ CRM sync log

from .base import _config, _runtime, _sessions, main


@main.command(help="Missed calls, texted, delivered, replied, booked, lost, opted out and revenue recovered, "
                   "with reply and booking rates and call-to-text seconds: per day and in total.")
@click.option("--subaccount", "sub_id", type=int, default=None, help="One sub-account (default: all).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="From this day (YYYY-MM-DD).")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="To this day, included (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def report(sub_id, since, until, fmt) -> None:
    import csv
    import io

    from .. import report as report_mod

    config = _config()
    with _sessions(config)() as s:
        sub = s.get(SubAccount, sub_id) if sub_id is not None and 0 < sub_id < 2**31 else None
        if sub_id is not None and sub is None:
            raise click.ClickException(f"no sub-account {sub_id} (see `ringback subaccount list`)")
        # One business's days are its own local days; across sub-accounts, UTC days.
        if since and until and until < since:
            raise click.BadParameter("--until is before --since", param_hint="--until")
        rows, total = report_mod.build(s, sub_account_id=sub_id, since=since.date() if since else None,
                                       until=until.date() if until else None, tz=sub.timezone if sub else None)
    if fmt == "json":
        click.echo(json.dumps({"days": [r.as_dict() for r in rows], "total": total.as_dict()}, indent=2))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=report_mod.COLUMNS)
        writer.writeheader()
        for r in [*rows, total]:
            writer.writerow(r.as_dict())
        click.echo(out.getvalue().rstrip("\n"))
    else:
        click.echo(report_mod.as_table(rows, total))


@main.command(help="Write the app definitions each marketplace reads, filled in for a deployment, and check them: "
                   "a HubSpot developer project (hubspot/, for `hs project upload`), a Salesforce sfdx source "
                   "project per installed org (salesforce-ORG/, for `sf project deploy start`) and the values to "
                   "enter in GoHighLevel's developer UI (ghl-setup.md).")
@click.option("--base-url", required=True, help="Where this Ringback is reached, e.g. https://ringback.example.com.")
@click.option("--out", "out_dir", default="manifests", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write them into: empty, new, or an earlier output of this command (replaced whole).")
@click.option("--contact-email", default="support@example.com", show_default=True,
              help="The support address the apps show (HubSpot's support email, the Salesforce app's contact).")
@click.option("--integration-user", default="integration@example.com", show_default=True,
              help="The Salesforce user the Outbound Message runs as.")
@click.option("--allow-http", is_flag=True, help="Accept an http base URL (local trials; the marketplaces refuse it).")
def manifests(base_url, out_dir, contact_email, integration_user, allow_http) -> None:
    from pathlib import Path

    from marketplace import manifests as manifests_mod
    from marketplace.vault import Vault

    from ..actions import ACTIONS, TRIGGERS, action_secret
    from ..app import create_app
    from ..models import Installation
    from ..runtime import Runtime

    config = _config()
    vault = Vault(config.encryption_key)
    orgs = {}
    with _sessions(config)() as s:
        for inst in s.scalars(select(Installation).where(Installation.provider == SALESFORCE.key,
                                                         Installation.webhook_secret.is_not(None))):
            sub = s.get(SubAccount, inst.sub_account_id)
            orgs[sub.external_id] = f"{base_url.rstrip('/')}/webhooks/salesforce/{vault.open(inst.webhook_secret)}"
    app = create_app(config, rt=Runtime(config))
    routes = {re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "[^/]+", rule.rule) for rule in app.url_map.iter_rules()}
    written = manifests_mod.render(base_url, Path(out_dir), action_secret=action_secret(config), salesforce_orgs=orgs,
                                   routes=routes, actions=ACTIONS, triggers=TRIGGERS, contact_email=contact_email,
                                   integration_user=integration_user, allow_http=allow_http)
    folders: dict[str, int] = {}
    for path in written.files:
        top = path.relative_to(Path(out_dir)).parts[0]
        folders[top] = folders.get(top, 0) + 1
    for top, count in folders.items():
        click.echo(f"wrote {Path(out_dir) / top}" + (f" ({count} files)" if count > 1 else ""))
    for note in written.notes:
        click.echo(f"note: {note}")
    if written.problems:
        for problem in written.problems:
            click.echo(f"invalid: {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"{len(written.files)} file(s) written and valid for {base_url}")


@main.group(help="Ringback's access to the CRMs it is installed in.")
def installations() -> None:
    pass


@installations.command("list", help="Each installation's health: token, expiry, last event, last CRM write.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def installations_list(fmt: str) -> None:
    from marketplace.vault import Vault

    from .. import installation_health
    from ..models import utcnow

    config = _config()
    with _sessions(config)() as s:
        rows = installation_health.rows(s, config, Vault(config.encryption_key), utcnow())
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no installations yet: install Ringback from a CRM marketplace, or `ringback subaccount add --crm-token`")
        return
    click.echo(f"{'id':>4}  {'crm':<10} {'kind':<13} {'sub-account':<26} {'token':<32} {'last event':<12} "
               f"{'last write':<12} {'failed':<6} {'caught up':<12} texting")
    for r in rows:
        texting_state = "ok" if r["texting"] == "ok" else ("-" if r["texting"] is None else "CANNOT TEXT")
        click.echo(f"{r['id']:>4}  {r['provider']:<10} {r['kind']:<13} {r['sub_account'][:26]:<26} {r['token'][:32]:<32} "
                   f"{r['last_event']:<12} {r['last_write']:<12} {r['failed_writes']:<6} "
                   f"{'FAILING' if r['caught_up'].startswith('could not') else r['caught_up']:<12} {texting_state}")
        if r["texting"] not in ("ok", None):
            click.echo(f"      {r['texting']}")
        if r["outbound_message_url"]:
            click.echo(f"      Outbound Message URL: {r['outbound_message_url']}")
        if r["caught_up"].startswith("could not"):
            click.echo(f"      catch-up {r['caught_up']}")


@main.group(help="Writes into the sub-accounts' CRMs (the sync log).")
def sync() -> None:
    pass


@sync.command("list", help="Writes not yet applied (or, with --failed, those that failed for good).")
@click.option("--failed", is_flag=True, help="Only writes that failed after every retry.")
def sync_list(failed: bool) -> None:
    from .. import sync as sync_mod

    rows = sync_mod.pending_or_failed(_runtime(_config()), failed_only=failed)
    if not rows:
        click.echo("no failed CRM writes" if failed else "every CRM write is applied")
        return
    click.echo(f"{'id':>5}  {'recovery':>8}  {'crm':<5} {'write':<11} {'status':<8} {'tries':>5}  error")
    for op in rows:
        click.echo(f"{op.id:>5}  {op.recovery_id:>8}  {op.provider:<5} {op.op:<11} {op.status:<8} {op.attempts:>5}  "
                   f"{op.last_error or ''}")


@sync.command("retry", help="Put failed CRM writes back in line and apply them now.")
@click.argument("op_ids", nargs=-1, type=int)
def sync_retry(op_ids) -> None:
    from .. import sync as sync_mod
    from ..runtime import install

    rt = install(_runtime(_config()))
    if op_ids:
        from ..models import SyncOp
        with rt.sessions() as s:
            found = dict(s.execute(select(SyncOp.id, SyncOp.status).where(
                SyncOp.id.in_([i for i in op_ids if 0 < i < 2**31]))).all())
        wrong = [f"{i} ({'no such write' if i not in found else found[i]})" for i in op_ids if found.get(i) != "failed"]
        if wrong:
            raise click.ClickException(f"not failed CRM writes: {', '.join(wrong)} (see `ringback sync list --failed`)")
    recoveries = sync_mod.retry(rt, list(op_ids) or None)
    if not recoveries:
        click.echo("no failed CRM writes to retry")
        return
    failed = 0
    for recovery_id in recoveries:
        outcome = sync_mod.run(rt, recovery_id)
        click.echo(f"recovery {recovery_id}: {outcome.summary}")
        failed += "failed" in outcome.summary
    if failed:
        raise SystemExit(1)


@main.group(help="The business owners' weekly summary emails (sent hourly by the worker when due).")
def summaries() -> None:
    pass


@summaries.command("send", help="Send the summaries due now; with --subaccount ID --now, that one now, whatever "
                                "the day (again, if already sent: to check the mail setup).")
@click.option("--subaccount", "sub_id", type=int, default=None, help="Only this sub-account.")
@click.option("--now", "force", is_flag=True, help="Send now, whatever the day and hour (needs --subaccount).")
def summaries_send(sub_id, force) -> None:
    from .. import summaries as summaries_mod

    if force and sub_id is None:
        raise click.UsageError("--now needs --subaccount ID (it sends whatever the day)")
    rt = _runtime(_config())
    if sub_id is not None:
        with rt.sessions() as s:
            found = s.get(SubAccount, sub_id) if 0 < sub_id < 2**31 else None
            if found is None:
                raise click.ClickException(f"no sub-account {sub_id} (see `ringback subaccount list`)")
    lines = summaries_mod.send_due(rt, sub_ids=[sub_id] if sub_id is not None else None, force=force)
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("no summary is due now (each goes out on its day and hour, in the sub-account's time zone)")
    if any(": not sent:" in line or "no address" in line for line in lines):
        raise SystemExit(1)


@summaries.command("preview", help="Print the summary a sub-account's owner would get now (nothing is sent).")
@click.option("--subaccount", "sub_id", type=int, required=True)
def summaries_preview(sub_id) -> None:
    from .. import summaries as summaries_mod
    from ..models import utcnow
    from ..settings_store import summary_settings

    rt = _runtime(_config())
    with rt.sessions() as s:
        sub = s.get(SubAccount, sub_id) if 0 < sub_id < 2**31 else None
        if sub is None:
            raise click.ClickException(f"no sub-account {sub_id} (see `ringback subaccount list`)")
        settings = summary_settings(s, sub)
        email = summaries_mod.compose(s, rt.config, sub, settings.to, utcnow())
    click.echo(f"To: {', '.join(settings.to) or '(no address: --set to=owner@example.com)'}"
               f"{'' if settings.enabled else ' (switched off)'}")
    click.echo(f"Subject: {email.subject}\n")
    click.echo(email.text)
