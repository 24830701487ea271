"""`ringback subaccount workflow|pack|booking-secret|stages`: the recovery's workflows and the
CRM stage mapping."""
from __future__ import annotations

import json
import secrets

import click

from ..db import transaction

from .base import _config, _sessions, _sub_or_fail, _value
from .subaccount_cmds import subaccount


@subaccount.command("workflow", help="Show or change one workflow of a sub-account: reply_router, follow_ups, "
                                     "escalation, booking_sync, weekly_summary (the owner's email: --set "
                                     "to=owner@example.com --set day=mon --set hour=8). With --agency, the defaults "
                                     "of its agency.")
@click.argument("sub_id", type=int)
@click.argument("name", type=click.Choice(["reply_router", "follow_ups", "escalation", "booking_sync",
                                           "weekly_summary"]))
@click.option("--agency", is_flag=True, help="Change the agency's defaults (every sub-account without its own value).")
@click.option("--on/--off", "enabled", default=None, help="Switch the workflow on or off.")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help='A setting (repeatable); JSON values allowed: --set touches=2 --set \'on_call_numbers=["+15125550111"]\'.')
def subaccount_workflow(sub_id, name, agency, enabled, pairs) -> None:
    from workflows.config import BadWorkflowSettings, validate_settings

    from ..settings_store import save_workflow, workflow_values

    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r}: write KEY=VALUE", param_hint="--set")
        values[key.strip()] = _value(raw)
    config = _config()
    try:
        with transaction(_sessions(config)) as s:
            sub = _sub_or_fail(s, sub_id)
            if agency and sub.agency_id is None:
                raise click.ClickException(f"{sub.name} belongs to no agency: set its own values instead")
            if values or enabled is not None:
                if agency:
                    save_workflow(s, None, name, agency_id=sub.agency_id, enabled=enabled, **values)
                else:
                    save_workflow(s, sub, name, enabled=enabled, **values)
            effective = validate_settings(name, workflow_values(s, sub, names=(name,)).get(name, {}))
    except (BadWorkflowSettings, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} for {sub.name} (#{sub.id}): {'ON' if effective['enabled'] else 'OFF'}")
    for key, value in sorted(effective.items()):
        if key != "enabled":
            click.echo(f"  {key}: {json.dumps(value)}")


@subaccount.command("pack", help="Apply a trade's ready-made settings to every workflow of a sub-account.")
@click.argument("sub_id", type=int)
@click.argument("pack", type=click.Choice(["home_services", "med_spa", "dental", "professional", "auto_repair"]))
def subaccount_pack(sub_id, pack) -> None:
    from workflows.config import PACKS

    from ..settings_store import apply_pack

    config = _config()
    with transaction(_sessions(config)) as s:
        sub = _sub_or_fail(s, sub_id)
        done = apply_pack(s, sub, pack)
    click.echo(f"{sub.name}: {PACKS[pack]['label']} applied to {', '.join(done)}")


@subaccount.command("booking-secret", help="Show (or --rotate) the secret a booking tool signs POST /webhooks/booking with.")
@click.argument("sub_id", type=int)
@click.option("--rotate", is_flag=True, help="Make a new secret (the old one stops working).")
def subaccount_booking_secret(sub_id, rotate) -> None:
    from marketplace.vault import Vault

    config = _config()
    vault = Vault(config.encryption_key)
    with transaction(_sessions(config)) as s:
        sub = _sub_or_fail(s, sub_id)
        if rotate or not sub.booking_secret:
            sub.booking_secret = vault.seal(secrets.token_urlsafe(32))
        secret = vault.open(sub.booking_secret)
    click.echo(secret)
    click.echo(f"POST {config.public_url}/webhooks/booking with headers X-Ringback-Account: {sub_id} and "
               "X-Ringback-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" with this secret>; "
               'body {"phone": "+1...", "booking_id": "...", "starts_at": "...", "value": 250}', err=True)


@subaccount.command("stages", help="Map Ringback's stages to the CRM's own pipeline stages (else matched by name).")
@click.argument("sub_id", type=int)
@click.option("--pipeline", default=None, help="GoHighLevel: the pipeline (name or id) to use.")
@click.option("--map", "mappings", multiple=True, metavar="STAGE=CRM_STAGE",
              help="e.g. --map booked='Job scheduled' (stages: missed_call, texted_back, replied, booked, lost).")
@click.option("--for", "target", type=click.Choice(["stages", "lead", "opportunity"]), default="stages",
              show_default=True, help="Salesforce: map Lead Status values (lead) or Opportunity stages (opportunity).")
@click.option("--clear", is_flag=True, help="Forget the mapping: match by name again.")
def subaccount_stages(sub_id, pipeline, mappings, target, clear) -> None:
    from workflows.stages import STAGES

    parsed = {}
    for item in mappings:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in STAGES or not value.strip():
            raise click.BadParameter(f"{item!r}: write STAGE=CRM_STAGE with STAGE one of {', '.join(STAGES)}",
                                     param_hint="--map")
        parsed[key.strip()] = value.strip()
    from ..settings_store import save_stage_mapping

    config = _config()
    with transaction(_sessions(config)) as s:
        sub = _sub_or_fail(s, sub_id)
        current = save_stage_mapping(s, sub, pipeline=pipeline, stages=parsed, target=target, clear=clear)
    if not current:
        click.echo(f"{sub.name}: stages are matched by name")
        return
    click.echo(f"{sub.name}: " + json.dumps(current, sort_keys=True))
