"""`ringback agency`: the agencies Ringback is installed for, and their admin API tokens."""
from __future__ import annotations

import getpass

import click
from sqlalchemy import func, select

from .base import _config, _sessions, main


@main.group(help="Agencies (made when one installs Ringback from a marketplace) and their admin API tokens.")
def agency() -> None:
    pass


@agency.command("list", help="Each agency: its id, name, the CRM it installed from, and its sub-accounts.")
def agency_list() -> None:
    from ..models import Agency, SubAccount

    with _sessions(_config())() as s:
        counts = dict(s.execute(select(SubAccount.agency_id, func.count()).where(SubAccount.removed_at.is_(None))
                                .group_by(SubAccount.agency_id)).all())
        agencies = s.scalars(select(Agency).order_by(Agency.id)).all()
        if not agencies:
            click.echo("No agency yet: one is made when an agency installs Ringback from a marketplace.")
            return
        click.echo(f"{'id':>5}  {'name':<30} {'crm':<11} {'crm account':<26} sub-accounts")
        for a in agencies:
            click.echo(f"{a.id:>5}  {a.name[:30]:<30} {a.provider or '-':<11} {(a.external_id or '-')[:26]:<26} "
                       f"{counts.get(a.id, 0)}")


@agency.group(help="Admin API tokens (Authorization: Bearer rb_...): each opens the API to one agency's "
                   "sub-accounts.")
def token() -> None:
    pass


@token.command("create", help="Make a token for an agency and print it: it is shown this once (only its hash is "
                              "kept).")
@click.option("--agency", "agency_id", type=click.IntRange(1, 2**31 - 1), required=True,
              help="The agency's id (`ringback agency list`).")
@click.option("--name", required=True, help="What will use it, e.g. 'weekly reporting script'.")
def token_create(agency_id, name) -> None:
    from .. import api_tokens

    with _sessions(_config()).begin() as s:
        try:
            row, secret = api_tokens.create(s, agency_id, name, f"cli:{getpass.getuser()}")
        except api_tokens.TokenError as exc:
            raise click.ClickException(str(exc)) from None
        token_id = row.id
    click.echo(secret)
    click.echo(f"token {token_id} for agency {agency_id}: copy it now, it is not shown again "
               f"(revoke: `ringback agency token revoke {token_id}`)", err=True)


@token.command("list", help="An agency's tokens (or every agency's): never the tokens themselves.")
@click.option("--agency", "agency_id", type=click.IntRange(1, 2**31 - 1), default=None, help="One agency.")
def token_list(agency_id) -> None:
    from .. import api_tokens

    with _sessions(_config())() as s:
        rows = api_tokens.listed(s, agency_id)
        if not rows:
            click.echo("No API token." + ("" if agency_id is None else
                                          f" Make one: `ringback agency token create --agency {agency_id} --name ...`"))
            return
        click.echo(f"{'id':>5}  {'agency':>6}  {'token':<14} {'name':<28} {'created':<17} {'last used':<17} state")
        for r in rows:
            used = r.last_used_at.strftime("%Y-%m-%d %H:%M") if r.last_used_at else "never"
            state = f"revoked {r.revoked_at:%Y-%m-%d}" if r.revoked_at else "live"
            click.echo(f"{r.id:>5}  {r.agency_id:>6}  {r.prefix + '...':<14} {r.name[:28]:<28} "
                       f"{r.created_at:%Y-%m-%d %H:%M}  {used:<17} {state}")


@token.command("revoke", help="Revoke a token: the next request with it is refused (401).")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
def token_revoke(token_id) -> None:
    from .. import api_tokens

    with _sessions(_config()).begin() as s:
        try:
            row = api_tokens.revoke(s, token_id)
        except api_tokens.TokenError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"token {row.id} ({row.prefix}..., {row.name}) of agency {row.agency_id} revoked")
