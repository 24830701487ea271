"""What every `ringback` command shares: the command group, configuration, sessions, runtime,
and the checks of common options."""
from __future__ import annotations

import json
from urllib.parse import urlparse

import click

from workflows.hours import BadSchedule, WeeklySchedule, zone
from workflows.phones import UnusableNumber, to_e164

from .. import migrate
from ..config import Config, ConfigError
from ..db import make_engine, make_sessionmaker
from ..models import SubAccount


def _config() -> Config:
    try:
        return Config.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _sessions(config: Config):
    """Sessions on a database that is created or migrated first (works on a brand-new machine)."""
    engine = make_engine(config.database_url)
    migrate.ensure_current(config.database_url, engine)
    return make_sessionmaker(engine)


@click.group(help="Ringback: text every missed caller back within a second, and win the job.")
@click.version_option(package_name="ringback", prog_name="ringback", message="%(prog)s %(version)s")
def main() -> None:
    pass


def _runtime(config: Config):
    """The runtime, or one line saying why it cannot start (an unmigrated production database...)."""
    from ..runtime import Runtime
    try:
        return Runtime(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _warn(config: Config) -> None:
    for warning in config.warnings():
        click.secho(f"WARNING: {warning}", fg="red", bold=True, err=True)



def _phone(_ctx, _param, value):
    try:
        e164 = to_e164(value)
    except UnusableNumber as exc:
        raise click.BadParameter(str(exc)) from None
    if not value.startswith("+"):
        raise click.BadParameter(f"{value!r}: write the number in E.164, e.g. {e164}")
    return e164


def _name(_ctx, _param, value):
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        raise click.BadParameter("a business name is needed: texts are signed with it")
    if len(value) > 200:
        raise click.BadParameter(f"{len(value)} characters: at most 200")
    return value


def _tz(_ctx, _param, value):
    if value is None:
        return None
    try:
        zone(value)
    except BadSchedule as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _hours(_ctx, _param, value):
    if value is None:
        return None
    try:
        return WeeklySchedule.parse(value).format()
    except BadSchedule as exc:
        raise click.BadParameter(str(exc)) from None


def _url(_ctx, _param, value):
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or any(c.isspace() for c in value) or len(value) > 500:
        raise click.BadParameter(f"{value!r} is not an http(s) URL")
    return value


def _sub_or_fail(s, sub_id: int) -> SubAccount:
    from .. import subaccounts
    sub = subaccounts.active(s, sub_id) if 0 < sub_id < 2**31 else None
    if sub is None:
        raise click.ClickException(f"no sub-account {sub_id} (see `ringback subaccount list`)")
    return sub


def _value(text: str):
    """A --set value: JSON when it parses (numbers, true/false, lists), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text
