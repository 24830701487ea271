"""`ringback subaccount`: add, list, change and remove the businesses Ringback texts for."""
from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors import registry
from workflows.hours import DAYS
from workflows.settings import DEFAULT_HOURS

from ..db import transaction
from ..models import SubAccount

# ------------------------------------------------------------------ sub-accounts

from .base import _config, _hours, _name, _phone, _sessions, _sub_or_fail, _tz, _url, main


@main.group(help="Businesses whose missed calls Ringback texts back.")
def subaccount() -> None:
    pass


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
    provider, external = crm or ("twilio", phone)
    from .. import subaccounts
    try:
        with transaction(_sessions(config)) as s:
            sub_id, outbound_url = subaccounts.create(
                s, Vault(config.encryption_key), name=name, provider=provider, external_id=external,
                phone_number=phone, timezone=tz, business_hours=hours, booking_url=booking_url, crm_token=crm_token,
                public_url=config.public_url, instance_url=salesforce_instance)
    except IntegrityError:
        what = f"{phone} or {provider} account {external}" if crm else phone
        raise click.ClickException(f"{what} already belongs to a sub-account (see `ringback subaccount list`)") from None
    click.echo(sub_id)
    if outbound_url:
        click.echo(f"Outbound Message endpoint URL for the org's call-Task Flow: {outbound_url}", err=True)


@subaccount.command("list", help="List sub-accounts, and say which of them cannot text their missed callers.")
def subaccount_list() -> None:
    from .. import texting

    config = _config()
    with _sessions(config)() as s:
        subs = s.scalars(select(SubAccount).where(SubAccount.removed_at.is_(None)).order_by(SubAccount.id)).all()
        problems = {sub.id: texting.problem(s, config, sub) for sub in subs}
    if not subs:
        click.echo("no sub-accounts yet: add one with `ringback subaccount add`")
        return
    click.echo(f"{'id':>4}  {'name':<28} {'source':<28} {'number':<16} {'texting':<22} {'timezone':<22} hours")
    for sub in subs:
        source = registry.get(sub.provider).source(sub.external_id)
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
@click.option("--late-text-minutes", type=click.IntRange(0, 24 * 60), default=None,
              help="A call found late (its webhook lost; `ringback catch-up`) is texted only this soon after it "
                   "happened; an older one becomes a call-back task (default 15).")
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
                        after_hours_text, missed_under, dedupe_hours, late_text_minutes, block, unblock,
                        missed_dispositions, answered_dispositions, missed_statuses, send_via) -> None:
    from workflows.hours import BadSchedule as _BadSchedule
    from workflows.templates import BadTemplate

    from .. import subaccounts
    from ..settings_store import save_text_back, text_back_settings, texts_through_crm

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
        "late_text_seconds": late_text_minutes * 60 if late_text_minutes is not None else None,
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
               f"repeat callers texted at most once per {settings.dedupe_window_seconds / 3600:g} h; a call found "
               f"late is texted up to {settings.late_text_seconds // 60} min after it, later called back")
    via_crm = texts_through_crm(sub, settings)
    vendor = registry.crm(sub.provider)
    click.echo("  texts sent through " + (f"the {vendor.name} {vendor.account_noun}'s conversations" if via_crm
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



@subaccount.command("remove", help="Remove a sub-account: its texts stop, its tokens are deleted and its number is "
                                   "freed; its calls, texts and bookings stay in the reports.")
@click.argument("sub_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask first.")
def subaccount_remove(sub_id, yes) -> None:
    from .. import subaccounts

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
