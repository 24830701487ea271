"""`ringback twilio`: the Twilio accounts texts are sent through."""
from __future__ import annotations

import click
from sqlalchemy import select

# ------------------------------------------------------------------ Twilio accounts

from .base import _config, _runtime, _sessions, main


@main.group(help="Twilio accounts texts are sent through: each agency's own, or the deployment's default.")
def twilio() -> None:
    pass


@twilio.command("connect", help="Connect a Twilio account: checked with Twilio at once, stored encrypted. Without "
                                "--agency, the deployment's default, for every agency without its own.")
@click.option("--account-sid", required=True, help="The Account SID (AC...).")
@click.option("--auth-token", default=None, help="The account's auth token (asked for when neither it nor --api-key "
                                                "is given).")
@click.option("--api-key", "api_key_sid", default=None,
              help="Instead of the auth token: an API key SID (SK...) of the account, with --api-secret. Its "
                   "numbers' webhook URLs then carry a login of Ringback's, since Twilio signs webhooks with the "
                   "auth token.")
@click.option("--api-secret", default=None, help="The API key's secret (asked for when --api-key is given alone).")
@click.option("--agency", "agency_id", type=click.IntRange(1, 2**31 - 1), default=None,
              help="The agency whose own account this is.")
def twilio_connect(account_sid, auth_token, api_key_sid, api_secret, agency_id) -> None:
    from .. import numbers, twilio_accounts

    if api_key_sid and auth_token:
        raise click.UsageError("give --auth-token, or --api-key with --api-secret, not both")
    if api_secret and not api_key_sid:
        raise click.UsageError("--api-secret goes with --api-key")
    if api_key_sid:
        secret = api_secret or click.prompt("API key secret", hide_input=True)
    else:
        secret = auth_token or click.prompt("Auth token", hide_input=True)
    rt = _runtime(_config())
    try:
        row = twilio_accounts.connect(rt, account_sid, secret, agency_id, api_key_sid=api_key_sid)
        repointed, refused = numbers.repoint(rt, row.account_sid)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        rt.close()
    whose = f"agency {agency_id}'s account" if agency_id else "the default account (agencies without their own)"
    how = f" with API key {row.api_key_sid}" if row.api_key_sid else ""
    click.echo(f"connected {row.account_sid} ({row.friendly_name}){how} as {whose}")
    if repointed:
        click.echo(f"{repointed} number(s) Ringback wired now point at Ringback with these credentials")
    for line in refused:
        click.echo(f"warning: could not update {line}", err=True)


@twilio.command("list", help="The connected Twilio accounts (never a token).")
def twilio_list() -> None:
    from ..models import Agency, TwilioAccount

    config = _config()
    with _sessions(config)() as s:
        rows = s.execute(select(TwilioAccount, Agency.name).outerjoin(Agency, Agency.id == TwilioAccount.agency_id)
                         .order_by(TwilioAccount.agency_id.is_not(None), TwilioAccount.agency_id)).all()
    if config.twilio_account_sid:
        click.echo(f"environment: {config.twilio_account_sid} (TWILIO_ACCOUNT_SID), used when nothing below applies")
    if not rows:
        click.echo("no Twilio account connected: `ringback twilio connect --account-sid AC... --auth-token ...`")
    for row, agency in rows:
        whose = f"agency {row.agency_id} {agency}" if row.agency_id else "default"
        how = f"API key {row.api_key_sid}" if row.api_key_sid else "auth token"
        click.echo(f"{whose}: {row.account_sid} ({row.friendly_name}), {how}, checked {row.checked_at:%Y-%m-%d %H:%M} UTC")
