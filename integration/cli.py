"""The `ringback` command."""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sys
import time
from urllib.parse import urlparse

import click
import requests
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from workflows.hours import DAYS, BadSchedule, WeeklySchedule, zone
from workflows.phones import UnusableNumber, to_e164
from workflows.settings import DEFAULT_HOURS

from . import migrate
from .config import Config, ConfigError
from .db import make_engine, make_sessionmaker, transaction
from .models import Call, InboxEvent, Message, SubAccount


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
    from .runtime import Runtime
    try:
        return Runtime(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _warn(config: Config) -> None:
    for warning in config.warnings():
        click.secho(f"WARNING: {warning}", fg="red", bold=True, err=True)


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

    from .app import create_app
    from .worker import make_consumer

    import dataclasses

    config = _config()
    url = f"http://{host}:{port}"
    if not os.environ.get("RINGBACK_PUBLIC_URL"):
        # Locally the public URL is the one we serve on: signatures are checked against it.
        config = dataclasses.replace(config, public_url=url)
    app = create_app(config, rt=_runtime(config))  # logs the start-up warnings
    from . import jobs
    jobs.sweep()
    consumer = make_consumer(workers=workers, in_process=True)
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
    from .db import private_file
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
    from .runtime import install
    from .worker import make_consumer

    config = _config()
    _warn(config)
    rt = install(_runtime(config))
    from . import jobs
    jobs.sweep()
    try:
        make_consumer(workers=workers, worker_type="process" if processes else "thread").run()
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


# ------------------------------------------------------------------ sub-accounts

@main.group(help="Businesses whose missed calls Ringback texts back.")
def subaccount() -> None:
    pass


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


@subaccount.command("add", help="Add a sub-account and print its id.")
@click.option("--name", required=True, callback=_name, help="The business name texts are signed with.")
@click.option("--phone", required=True, callback=_phone, help="Its Twilio number, E.164.")
@click.option("--timezone", "tz", required=True, callback=_tz, help="IANA timezone, e.g. America/Chicago.")
@click.option("--booking-url", default=None, callback=_url, help="Link callers can book with.")
@click.option("--hours", default=DEFAULT_HOURS, show_default=True, callback=_hours,
              help=f"Weekly opening hours, e.g. 'mon-fri 08:00-18:00; sat 09:00-13:00' (days: {', '.join(DAYS)}).")
@click.option("--ghl-location", default=None,
              help="A GoHighLevel sub-account: its locationId. Its events arrive at /webhooks/ghl.")
@click.option("--hubspot-portal", default=None,
              help="A HubSpot account: its portal (hub) id. Its call webhooks arrive at /webhooks/hubspot.")
@click.option("--salesforce-org", default=None,
              help="A Salesforce org: its Organization id. Its call Tasks arrive as Outbound Messages at the URL printed.")
@click.option("--salesforce-instance", default=None, callback=_url, help="The org's instance URL (https://...my.salesforce.com).")
@click.option("--crm-token", default=None, envvar="RINGBACK_CRM_TOKEN",
              help="The CRM access token (a GoHighLevel Private Integration Token, a HubSpot private app token) "
                   "until the app is installed through the marketplace. Stored encrypted.")
def subaccount_add(name, phone, tz, booking_url, hours, ghl_location, hubspot_portal, salesforce_org,
                   salesforce_instance, crm_token) -> None:
    from marketplace.vault import Vault

    config = _config()
    crms = [(p, v.strip()) for p, v in (("ghl", ghl_location), ("hubspot", hubspot_portal),
                                         ("salesforce", salesforce_org)) if v]
    if len(crms) > 1:
        raise click.BadParameter("a sub-account has one CRM: give one of --ghl-location, --hubspot-portal, "
                                 "--salesforce-org", param_hint="--hubspot-portal")
    crm = crms[0] if crms else None
    if crm_token and not crm:
        raise click.BadParameter("--crm-token needs --ghl-location, --hubspot-portal or --salesforce-org",
                                 param_hint="--crm-token")
    if salesforce_org and not (salesforce_instance and crm_token):
        raise click.BadParameter("a Salesforce org needs --salesforce-instance and --crm-token", param_hint="--salesforce-org")
    outbound_url = None
    provider, external = crm or ("twilio", phone)
    from . import subaccounts
    try:
        with transaction(_sessions(config)) as s:
            sub = SubAccount(name=name, provider=provider, external_id=external, phone_number=phone,
                             timezone=tz, business_hours=hours, booking_url=booking_url)
            s.add(sub)
            s.flush()
            sub_id = sub.id
            if crm_token:
                outbound_url = subaccounts.connect_crm(s, sub, crm_token, Vault(config.encryption_key),
                                                       public_url=config.public_url, instance_url=salesforce_instance)
    except IntegrityError:
        what = f"{phone} or {provider} account {external}" if crm else phone
        raise click.ClickException(f"{what} already belongs to a sub-account (see `ringback subaccount list`)") from None
    click.echo(sub_id)
    if outbound_url:
        click.echo(f"Outbound Message endpoint URL for the org's call-Task Flow: {outbound_url}", err=True)


@subaccount.command("list", help="List sub-accounts, and say which of them cannot text their missed callers.")
def subaccount_list() -> None:
    from . import texting

    config = _config()
    with _sessions(config)() as s:
        subs = s.scalars(select(SubAccount).where(SubAccount.removed_at.is_(None)).order_by(SubAccount.id)).all()
        problems = {sub.id: texting.problem(s, config, sub) for sub in subs}
    if not subs:
        click.echo("no sub-accounts yet: add one with `ringback subaccount add`")
        return
    click.echo(f"{'id':>4}  {'name':<28} {'source':<28} {'number':<16} {'texting':<22} {'timezone':<22} hours")
    for sub in subs:
        source = "Twilio number" if sub.provider == "twilio" else f"{sub.provider} {sub.external_id}"
        cannot = problems[sub.id]
        state = f"CANNOT: {cannot.short}" if cannot else "ok"
        click.echo(f"{sub.id:>4}  {sub.name[:28]:<28} {source[:28]:<28} {sub.phone_number or '':<16} {state:<22} "
                   f"{sub.timezone:<22} {sub.business_hours}")
    for sub in subs:
        if problems[sub.id]:
            click.echo(f"#{sub.id} {sub.name} cannot text missed callers: {problems[sub.id].why}. "
                       f"Fix: {problems[sub.id].fix}")


@subaccount.command("settings", help="Show or change a sub-account: its name, number, hours, timezone and booking "
                                     "link, and its missed-call text back.")
@click.argument("sub_id", type=int)
@click.option("--name", default=None, callback=_name, help="The business name texts are signed with.")
@click.option("--phone", default=None, callback=lambda c, p, v: None if v is None else _phone(c, p, v),
              help="Its Twilio number, E.164 (the number callers dial and texts come from).")
@click.option("--timezone", "tz", default=None, callback=_tz, help="IANA timezone, e.g. America/Chicago.")
@click.option("--hours", default=None, callback=_hours, help="Weekly opening hours, e.g. 'mon-fri 08:00-18:00'.")
@click.option("--booking-url", default=None, callback=_url, help="Link callers can book with.")
@click.option("--no-booking-url", is_flag=True, help="Take the booking link away.")
@click.option("--crm-token", default=None, envvar="RINGBACK_CRM_TOKEN",
              help="A new CRM token (GoHighLevel Private Integration Token, HubSpot private app token, Salesforce "
                   "session), stored encrypted in place of the current one.")
@click.option("--salesforce-instance", default=None, callback=_url, help="The Salesforce org's instance URL.")
@click.option("--on/--off", "enabled", default=None, help="Switch the text back on or off.")
@click.option("--business-hours-text", default=None, help="Template used while open ({first_name}, {business_name}, {booking_link}).")
@click.option("--after-hours-text", default=None, help="Template used while closed.")
@click.option("--missed-under", type=click.IntRange(0, 600), default=None,
              help="A completed call shorter than this many seconds counts as missed (carrier voicemail).")
@click.option("--dedupe-hours", type=click.FloatRange(0, 24 * 30), default=None,
              help="Text a repeat caller at most once in this many hours.")
@click.option("--block", "block", multiple=True, callback=lambda c, p, v: [_phone(c, p, x) for x in v],
              help="Never text this number (repeatable).")
@click.option("--unblock", "unblock", multiple=True, callback=lambda c, p, v: [_phone(c, p, x) for x in v],
              help="Take a number off the block list (repeatable).")
@click.option("--missed-disposition", "missed_dispositions", multiple=True,
              help="A CRM call disposition (HubSpot id or Salesforce text) that means missed; replaces the list "
                   "(repeatable).")
@click.option("--answered-disposition", "answered_dispositions", multiple=True,
              help="A CRM call disposition that means a person answered; replaces the list (repeatable).")
@click.option("--missed-status", "missed_statuses", multiple=True,
              type=click.Choice(["no-answer", "busy", "failed", "canceled", "voicemail"]),
              help="A final call status that means missed; replaces the list (repeatable). Leave out voicemail "
                   "to let callers who left one be called back by a person instead.")
@click.option("--send-via", type=click.Choice(["twilio", "ghl"]), default=None,
              help="Send texts through Ringback's Twilio number, or (GoHighLevel sub-accounts) through the "
                   "location's own conversations, so they show in its inbox.")
def subaccount_settings(sub_id, name, phone, tz, hours, booking_url, no_booking_url, crm_token, salesforce_instance,
                        enabled, business_hours_text,
                        after_hours_text, missed_under, dedupe_hours, block, unblock, missed_dispositions,
                        answered_dispositions, missed_statuses, send_via) -> None:
    from workflows.hours import BadSchedule as _BadSchedule
    from workflows.templates import BadTemplate

    from . import subaccounts
    from .settings_store import save_text_back, text_back_settings

    if booking_url and no_booking_url:
        raise click.BadParameter("give --booking-url or --no-booking-url, not both", param_hint="--no-booking-url")
    profile = {k: v for k, v in {"name": name, "phone_number": phone, "timezone": tz, "business_hours": hours,
                                 "booking_url": booking_url}.items() if v is not None}
    if no_booking_url:
        profile["booking_url"] = None

    config = _config()
    changes = {k: v for k, v in {
        "business_hours_template": business_hours_text, "after_hours_template": after_hours_text,
        "missed_under_seconds": missed_under,
        "dedupe_window_seconds": int(dedupe_hours * 3600) if dedupe_hours is not None else None,
        "missed_dispositions": sorted({d.strip().lower() for d in missed_dispositions}) or None,
        "answered_dispositions": sorted({d.strip().lower() for d in answered_dispositions}) or None,
        "send_via": send_via,
        "missed_statuses": sorted(set(missed_statuses)) or None,
    }.items() if v is not None}
    try:
        with transaction(_sessions(config)) as s:
            sub = _sub_or_fail(s, sub_id)
            if profile:
                subaccounts.update_profile(s, sub, **profile)
            outbound_url = None
            if crm_token or salesforce_instance:
                from marketplace.vault import Vault
                if not crm_token:
                    raise ValueError("--salesforce-instance goes with --crm-token")
                outbound_url = subaccounts.connect_crm(s, sub, crm_token, Vault(config.encryption_key),
                                                       public_url=config.public_url, instance_url=salesforce_instance)
            if block or unblock:
                current = set(text_back_settings(s, sub).block_list)
                changes["block_list"] = sorted((current | set(block)) - set(unblock))
            if changes or enabled is not None:
                save_text_back(s, sub, enabled=enabled, **changes)
            settings = text_back_settings(s, sub)
    except IntegrityError:
        raise click.ClickException(f"{phone} already belongs to another sub-account (see `ringback subaccount list`)") from None
    except (BadTemplate, _BadSchedule, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    from workflows import templates as tpl
    click.echo(f"{sub.name} (#{sub.id}): missed-call text back is {'ON' if settings.enabled else 'OFF'}")
    click.echo(f"  number: {sub.phone_number or 'none'}; booking link: {sub.booking_url or 'none'}")
    if crm_token:
        click.echo(f"  {sub.provider} token replaced (stored encrypted)")
    if outbound_url:
        click.echo(f"  Outbound Message endpoint URL for the org's call-Task Flow: {outbound_url}")
    click.echo(f"  hours: {settings.hours.format()} ({settings.timezone})")
    click.echo(f"  a completed call under {settings.missed_under_seconds}s counts as missed; "
               f"repeat callers texted at most once per {settings.dedupe_window_seconds / 3600:g} h")
    click.echo("  texts sent through " + ("the GoHighLevel location's conversations" if settings.send_via == "ghl"
                                         else f"Ringback's sender ({config.sms_backend})"))
    click.echo(f"  blocked: {', '.join(sorted(settings.block_list)) or 'nobody'}")
    click.echo(f"  call statuses meaning missed: {', '.join(sorted(settings.missed_statuses))}")
    click.echo(f"  CRM dispositions meaning missed: {', '.join(sorted(settings.missed_dispositions))}")
    for kind in ("business_hours", "after_hours"):
        body = tpl.render(settings.template_for(kind), business_name=settings.business_name, first_name=None,
                          booking_link=settings.booking_link, first_in_conversation=True)
        seg = tpl.segments(body)
        click.echo(f"  {kind.replace('_', ' ')} text ({seg.count} segment{'s' if seg.count > 1 else ''}, {seg.encoding}):")
        click.echo(f"    {body}")
        warning = tpl.length_warning(body)
        if warning:
            click.secho(f"  warning: the {kind.replace('_', ' ')} {warning}", fg="yellow", err=True)


def _sub_or_fail(s, sub_id: int) -> SubAccount:
    from . import subaccounts
    sub = subaccounts.active(s, sub_id) if 0 < sub_id < 2**31 else None
    if sub is None:
        raise click.ClickException(f"no sub-account {sub_id} (see `ringback subaccount list`)")
    return sub


@subaccount.command("number", help="The sub-account's Twilio number: list the account's numbers, assign one, buy "
                                   "one, or release it. Ringback points the number's SMS URL and call status "
                                   "callback at itself (never its voice URL) and puts them back on release. A "
                                   "GoHighLevel location texting through its conversations: --list its numbers, "
                                   "--assign one of them.")
@click.argument("sub_id", type=int)
@click.option("--list", "list_", is_flag=True, help="The Twilio account's numbers, and who uses each.")
@click.option("--assign", "assign", default=None, callback=lambda c, p, v: None if v is None else _phone(c, p, v),
              help="Give it this number of its Twilio account (E.164).")
@click.option("--buy", is_flag=True, help="Buy a local number (with --area-code) and give it to the sub-account.")
@click.option("--area-code", default=None, help="With --buy: the US area code, e.g. 512.")
@click.option("--release", is_flag=True, help="Take its number away and put the number's webhooks back.")
@click.option("--messaging-service", "service", default=None,
              help="Send through this Messaging Service (MG..., holding the number; its A2P campaign), or 'none'.")
@click.option("--yes", is_flag=True, help="Do not ask before replacing webhooks or buying.")
def subaccount_number(sub_id, list_, assign, buy, area_code, release, service, yes) -> None:
    from . import numbers, sender_check
    from .settings_store import text_back_settings

    chosen = [name for name, on in (("--list", list_), ("--assign", assign), ("--buy", buy), ("--release", release),
                                    ("--messaging-service", service)) if on]
    if len(chosen) != 1:
        raise click.UsageError("give one of --list, --assign E164, --buy --area-code N, --release, --messaging-service MG")
    if buy and not (area_code or "").isdigit():
        raise click.BadParameter("--buy needs --area-code with three digits, e.g. 512", param_hint="--area-code")
    config = _config()
    with _sessions(config)() as s:
        sub = _sub_or_fail(s, sub_id)
        via_ghl = sub.provider == "ghl" and text_back_settings(s, sub).send_via == "ghl"
    rt = _runtime(config)
    try:
        if via_ghl:
            _ghl_number(rt, sub, list_, assign)
        elif list_:
            registered = numbers.registration(rt, sub_id)
            sender_check.record(rt, sub_id, sender_check.from_registration(registered))
            if registered:
                click.echo(f"A2P 10DLC: {registered.line}")
            rows = numbers.listed(rt, sub_id)
            if not rows:
                click.echo("the Twilio account has no numbers: buy one with --buy --area-code N")
            for n in rows:
                state = f"used by {n['used_by']}" if n["used_by"] else "free"
                wired = "points at Ringback" if n["ours"] else (f"SMS URL {n['sms_url'] or 'none'}, status callback "
                                                                 f"{n['status_callback'] or 'none'}")
                click.echo(f"{n['phone_number']:<16} {state:<30} {wired}")
            return
        elif service:
            numbers.use_messaging_service(rt, sub_id, None if service.lower() == "none" else service)
            click.echo(f"{sub.name} texts " + ("from its number again" if service.lower() == "none"
                                               else f"through Messaging Service {service}"))
            registered = numbers.registration(rt, sub_id)
            sender_check.record(rt, sub_id, sender_check.from_registration(registered))
            if registered:
                click.echo(registered.line)
            return
        elif assign:
            def replace_ok(foreign):
                shown = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in foreign.items())
                return yes or click.confirm(f"The number's {shown}. Point it at Ringback instead (put back on "
                                            "release)?", default=False)
            numbers.assign(rt, sub_id, assign, replace_ok=replace_ok)
            click.echo(f"{sub.name} now texts from {assign}; its SMS URL and call status callback point at Ringback")
        elif buy:
            bought = numbers.buy(rt, sub_id, area_code, confirm=lambda n: yes or click.confirm(
                f"Buy {n} on Twilio account for {sub.name}? Twilio bills a monthly fee for it (its price list, not "
                "this API, says how much)", default=False))
            click.echo(f"bought {bought['phone_number']}: {sub.name} now texts from it")
        else:
            click.echo(f"released {numbers.release(rt, sub_id)} from {sub.name}; its webhooks are as they were")
            return
        sender_check.safely(rt, sub_id)
        with rt.sessions() as s:
            found = s.get(SubAccount, sub_id).sender_problem
        if found:
            click.echo(f"warning: not texting: {found['why']}. To fix: {found['fix']}", err=True)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        rt.close()


def _ghl_number(rt, sub: SubAccount, list_: bool, assign: str | None) -> None:
    """A location texting through GoHighLevel's conversations: its own numbers, listed or chosen."""
    from . import numbers, sender_check
    if not (list_ or assign):
        raise click.ClickException(f"{sub.name} texts through GoHighLevel: its numbers are the location's own (bought "
                                   "and released in GoHighLevel). List them with --list, choose one with --assign, or "
                                   f"send through Twilio: `ringback subaccount settings {sub.id} --send-via twilio`")
    if assign:
        numbers.use_ghl_number(rt, sub.id, assign)
        sender_check.record(rt, sub.id, None)  # just checked: it is one of the location's numbers
        click.echo(f"{sub.name} now texts from {assign} through GoHighLevel")
        return
    listed = numbers.ghl_numbers(rt, sub.id)
    sender_check.record(rt, sub.id, sender_check.from_ghl_numbers(sub.id, sub.phone_number, listed)
                        if sub.phone_number else None)
    if not listed:
        click.echo("the location has no number that can text: add one in GoHighLevel, or send through Twilio")
    for n in listed:
        marks = [m for m, on in (("texts go out of it", n["phone_number"] == sub.phone_number),
                                 ("GoHighLevel's default", n["default"])) if on]
        click.echo(f"{n['phone_number']:<16} {n['name'] or '':<30} {', '.join(marks)}")
    if sub.phone_number and sub.phone_number not in {n["phone_number"] for n in listed}:
        click.echo(f"warning: {sub.phone_number}, which texts go out of, is no longer one of the location's numbers: "
                   f"choose another with `ringback subaccount number {sub.id} --assign +1...`", err=True)


@subaccount.command("remove", help="Remove a sub-account: its texts stop, its tokens are deleted and its number is "
                                   "freed; its calls, texts and bookings stay in the reports.")
@click.argument("sub_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask first.")
def subaccount_remove(sub_id, yes) -> None:
    from . import subaccounts

    config = _config()
    sessions = _sessions(config)
    with sessions() as s:
        sub = _sub_or_fail(s, sub_id)
        kept = subaccounts.counts(s, sub)
    question = (f"Remove {sub.name} (#{sub.id}, {sub.phone_number or sub.provider + ' ' + sub.external_id})? Its "
                f"missed-call texts stop now; its {kept['calls']} call(s), {kept['recoveries']} recovery(ies) and "
                f"{kept['booked']} booking(s) stay in the reports.")
    if not yes and not click.confirm(question, default=False):
        raise click.ClickException("nothing removed")
    with transaction(sessions) as s:
        subaccounts.remove(s, s.get(SubAccount, sub_id))
    click.echo(f"removed {sub.name} (#{sub.id}); `ringback report --subaccount {sub.id}` still shows its numbers")


def _value(text: str):
    """A --set value: JSON when it parses (numbers, true/false, lists), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@subaccount.command("workflow", help="Show or change one workflow of a sub-account: reply_router, follow_ups, "
                                     "escalation, booking_sync. With --agency, the defaults of its agency.")
@click.argument("sub_id", type=int)
@click.argument("name", type=click.Choice(["reply_router", "follow_ups", "escalation", "booking_sync"]))
@click.option("--agency", is_flag=True, help="Change the agency's defaults (every sub-account without its own value).")
@click.option("--on/--off", "enabled", default=None, help="Switch the workflow on or off.")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help='A setting (repeatable); JSON values allowed: --set touches=2 --set \'on_call_numbers=["+15125550111"]\'.')
def subaccount_workflow(sub_id, name, agency, enabled, pairs) -> None:
    from workflows.config import BadWorkflowSettings, validate_settings

    from .settings_store import save_workflow, workflow_values

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
            effective = validate_settings(name, workflow_values(s, sub).get(name, {}))
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

    from .settings_store import apply_pack

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
    from .settings_store import save_stage_mapping

    config = _config()
    with transaction(_sessions(config)) as s:
        sub = _sub_or_fail(s, sub_id)
        current = save_stage_mapping(s, sub, pipeline=pipeline, stages=parsed, target=target, clear=clear)
    if not current:
        click.echo(f"{sub.name}: stages are matched by name")
        return
    click.echo(f"{sub.name}: " + json.dumps(current, sort_keys=True))


# ------------------------------------------------------------------ CRM sync log

@main.command(help="Missed calls, texted, delivered, replied, booked, lost, opted out and revenue recovered, "
                   "with reply and booking rates and call-to-text seconds: per day and in total.")
@click.option("--subaccount", "sub_id", type=int, default=None, help="One sub-account (default: all).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="From this day (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def report(sub_id, since, fmt) -> None:
    import csv
    import io

    from . import report as report_mod

    config = _config()
    with _sessions(config)() as s:
        sub = s.get(SubAccount, sub_id) if sub_id is not None and 0 < sub_id < 2**31 else None
        if sub_id is not None and sub is None:
            raise click.ClickException(f"no sub-account {sub_id} (see `ringback subaccount list`)")
        # One business's days are its own local days; across sub-accounts, UTC days.
        rows, total = report_mod.build(s, sub_account_id=sub_id, since=since.date() if since else None,
                                       tz=sub.timezone if sub else None)
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

    from .actions import ACTIONS, TRIGGERS, action_secret
    from .app import create_app
    from .models import Installation
    from .runtime import Runtime

    config = _config()
    vault = Vault(config.encryption_key)
    orgs = {}
    with _sessions(config)() as s:
        for inst in s.scalars(select(Installation).where(Installation.provider == "salesforce",
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


def _ago(when, now) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if abs(seconds) >= size:
            return f"{seconds / size:.0f} {unit} ago" if seconds >= 0 else f"in {-seconds / size:.0f} {unit}"
    return "just now" if seconds >= 0 else "in a moment"


@installations.command("list", help="Each installation's health: token, expiry, last event, last CRM write.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def installations_list(fmt: str) -> None:
    from marketplace.vault import Vault

    from . import texting
    from .models import Agency, Installation, SyncOp, utcnow

    config = _config()
    vault = Vault(config.encryption_key)
    now = utcnow()
    rows = []
    with _sessions(config)() as s:
        for inst in s.scalars(select(Installation).order_by(Installation.id)):
            sub = s.get(SubAccount, inst.sub_account_id) if inst.sub_account_id else None
            agency = s.get(Agency, inst.agency_id) if inst.agency_id else None
            failed = s.scalar(select(func.count()).select_from(SyncOp).where(
                SyncOp.sub_account_id == inst.sub_account_id, SyncOp.status == "failed")) if sub else 0
            if inst.expires_at is None:
                token = "no expiry" if inst.kind == "private_token" else "valid until refused"
            elif inst.expires_at > now:
                token = f"valid, expires {_ago(inst.expires_at, now)}"
            else:
                token = "expired" + (", refreshed on next use" if inst.refresh_token or inst.agency_id else "")
            try:
                vault.open(inst.access_token)
            except Exception:  # noqa: BLE001 (a key that was rotated away: say so, never show the token)
                token = "unreadable: encrypted with a key RINGBACK_ENCRYPTION_KEY no longer has"
            outbound = None
            if inst.provider == "salesforce" and inst.webhook_secret:
                try:
                    outbound = f"{config.public_url}/webhooks/salesforce/{vault.open(inst.webhook_secret)}"
                except Exception:  # noqa: BLE001
                    outbound = "unreadable"
            cannot = texting.problem(s, config, sub) if sub else None
            rows.append({
                "texting": f"cannot text: {cannot.why}; {cannot.fix}" if cannot else ("ok" if sub else None),
                "id": inst.id, "provider": inst.provider, "kind": inst.user_type or inst.kind,
                "account": inst.external_id or (sub.external_id if sub else None),
                "sub_account": f"{sub.id} {sub.name}" if sub else f"agency: {agency.name if agency else '?'}",
                "token": token, "expires_at": inst.expires_at.isoformat() if inst.expires_at else None,
                "last_event": _ago(inst.last_event_at, now), "last_write": _ago(inst.last_write_at, now),
                "failed_writes": failed, "outbound_message_url": outbound})
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no installations yet: install Ringback from a CRM marketplace, or `ringback subaccount add --crm-token`")
        return
    click.echo(f"{'id':>4}  {'crm':<10} {'kind':<13} {'sub-account':<26} {'token':<32} {'last event':<12} "
               f"{'last write':<12} {'failed':<6} texting")
    for r in rows:
        texting_state = "ok" if r["texting"] == "ok" else ("-" if r["texting"] is None else "CANNOT TEXT")
        click.echo(f"{r['id']:>4}  {r['provider']:<10} {r['kind']:<13} {r['sub_account'][:26]:<26} {r['token'][:32]:<32} "
                   f"{r['last_event']:<12} {r['last_write']:<12} {r['failed_writes']:<6} {texting_state}")
        if r["texting"] not in ("ok", None):
            click.echo(f"      {r['texting']}")
        if r["outbound_message_url"]:
            click.echo(f"      Outbound Message URL: {r['outbound_message_url']}")


@main.group(help="Writes into the sub-accounts' CRMs (the sync log).")
def sync() -> None:
    pass


@sync.command("list", help="Writes not yet applied (or, with --failed, those that failed for good).")
@click.option("--failed", is_flag=True, help="Only writes that failed after every retry.")
def sync_list(failed: bool) -> None:
    from . import sync as sync_mod

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
    from . import sync as sync_mod
    from .runtime import install

    rt = install(_runtime(_config()))
    if op_ids:
        from .models import SyncOp
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


# ------------------------------------------------------------------ Twilio accounts

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
    from . import numbers, twilio_accounts

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
    from .models import Agency, TwilioAccount

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


# ------------------------------------------------------------------ inbox events

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
    from . import jobs, runner
    from .runtime import install

    rt = install(_runtime(_config()))
    rt.huey.immediate = True  # run here and now, with what it sends
    try:
        ids = [i for i in event_ids if 0 < i < 2**31]
        retried = runner.retry_events(rt, ids)
        missing = [str(i) for i in event_ids if i not in retried]
        for event_id in retried:
            jobs.process_event.call_local(event_id, 0)
            with rt.sessions() as s:
                ev = s.get(InboxEvent, event_id)
            click.echo(f"event {event_id}: {ev.status}: {ev.result}")
    finally:
        rt.close()
    if missing:
        raise click.ClickException(f"not failed events: {', '.join(missing)} (see `ringback events list --failed`)")


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
            call = s.scalar(select(Call).where(Call.provider == "twilio", Call.call_id == call_sid))
            msg = ev = None
            if call is None:
                ev = s.scalar(select(InboxEvent).where(InboxEvent.provider == "twilio",
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
