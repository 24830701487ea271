"""`ringback subaccount number`: the number a sub-account texts from (Twilio's, or a GoHighLevel
location's own)."""
from __future__ import annotations

import click

from ..models import SubAccount

from .base import _config, _phone, _runtime, _sessions, _sub_or_fail
from .subaccount_cmds import subaccount


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
    from .. import numbers, sender_check
    from ..settings_store import text_back_settings, texts_through_crm

    chosen = [name for name, on in (("--list", list_), ("--assign", assign), ("--buy", buy), ("--release", release),
                                    ("--messaging-service", service)) if on]
    if len(chosen) != 1:
        raise click.UsageError("give one of --list, --assign E164, --buy --area-code N, --release, --messaging-service MG")
    if buy and not (area_code or "").isdigit():
        raise click.BadParameter("--buy needs --area-code with three digits, e.g. 512", param_hint="--area-code")
    config = _config()
    with _sessions(config)() as s:
        sub = _sub_or_fail(s, sub_id)
        via_ghl = texts_through_crm(sub, text_back_settings(s, sub))
    rt = _runtime(config)
    try:
        if via_ghl:
            _ghl_number(rt, sub, list_, assign)
        elif list_:
            account = numbers.account_for(rt, sub_id)
            registered = numbers.registration(rt, sub_id, account)
            sender_check.record(rt, sub_id, sender_check.from_registration(registered))
            if registered:
                click.echo(f"A2P 10DLC: {registered.line}")
            rows = numbers.listed(rt, sub_id, account)
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
            bought = numbers.buy(rt, sub_id, area_code, confirm=lambda n, price: yes or click.confirm(
                f"Buy {n} for {sub.name}? Twilio bills the account "
                + (f"{price} a month for it (its Pricing API's figure for a local number)" if price
                   else "a monthly fee for it (its Pricing API gave no figure: see its price list)"), default=False))
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
    from .. import numbers, sender_check
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
