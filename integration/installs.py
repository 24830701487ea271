"""What an install, a new location or an uninstall does to Ringback's records.

An OAuth callback hands over a token response; these functions turn it into the agency, its
sub-accounts and their installations (tokens sealed by the vault, never stored in plain text),
creating or updating, so a re-install is safe. Vendor calls happen before the database
transaction; each function returns what it did, for the landing page and the logs.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select, update

from connectors.base import CrmError
from connectors.ghl import oauth as ghl_oauth
from connectors.hubspot import oauth as hubspot_oauth
from connectors.registry import GHL, HUBSPOT, SALESFORCE
from connectors.salesforce.crm import make_client as make_salesforce_client
from connectors.base import secret_hash
from .db import transaction
from .models import Agency, Installation, SubAccount, WorkflowSetting, utcnow
from .settings_store import TEXT_BACK, save_text_back
from workflows.settings import DEFAULT_HOURS

log = logging.getLogger("ringback.installs")
DEFAULT_TIMEZONE = "America/New_York"


@dataclass
class Installed:
    provider: str
    agency_id: int
    sub_account_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # locations that could not be set up, and why
    agency_wide: bool = False  # an agency-level install: the installer may see every sub-account

    @property
    def landing(self) -> int | None:
        return self.sub_account_ids[0] if self.sub_account_ids else None


# ------------------------------------------------------------------ GoHighLevel

def ghl_from_code(rt, code: str, redirect_uri: str) -> Installed:
    c = rt.config
    token = ghl_oauth.exchange_code(c.ghl_api_url, c.ghl_client_id, c.ghl_client_secret, code, redirect_uri)
    company_id = token.get("companyId")
    if token.get("userType") == "Company":
        return ghl_company(rt, token)
    location_id = token.get("locationId")
    if not location_id:
        raise CrmError("GoHighLevel's token names neither a location nor an agency")
    info = _ghl_location_info(rt, token["access_token"], location_id)
    with transaction(rt.sessions) as s:
        agency = _agency(s, GHL.key, company_id, f"GoHighLevel agency {company_id}" if company_id else info["name"])
        sub = _sub_account(s, agency, GHL.key, location_id, info["name"], info["timezone"])
        _installation(s, rt, sub_account_id=sub.id, agency_id=agency.id, provider=GHL.key, user_type="Location",
                      external_id=location_id, token=token)
        _ghl_sender(s, sub, info["texting_number"])
        return Installed(GHL.key, agency.id, [sub.id])


def ghl_company(rt, token: dict) -> Installed:
    """An agency install: keep the Company token, exchange a token for each installed location."""
    c = rt.config
    company_id = token["companyId"]
    with transaction(rt.sessions) as s:
        agency = _agency(s, GHL.key, company_id, f"GoHighLevel agency {company_id}")
        _installation(s, rt, sub_account_id=None, agency_id=agency.id, provider=GHL.key, user_type="Company",
                      external_id=company_id, token=token)
        agency_id = agency.id
    result = Installed(GHL.key, agency_id, agency_wide=True)
    if not c.ghl_app_id:
        result.problems.append("GHL_APP_ID is not set: the agency's locations cannot be listed")
        return result
    locations = ghl_oauth.installed_locations(c.ghl_api_url, token["access_token"], company_id, c.ghl_app_id)
    for loc in locations:
        try:
            result.sub_account_ids.append(ghl_location_from_company(rt, company_id, loc["_id"], loc.get("name")))
        except CrmError as exc:
            result.problems.append(f"location {loc['_id']}: {exc}")
            log.warning("agency %s: location %s not set up: %s", company_id, loc["_id"], exc)
    return result


def ghl_location_from_company(rt, company_id: str, location_id: str, name: str | None = None) -> int:
    """A location of an installed agency (listed at install, or an INSTALL webhook later): its own token."""
    c = rt.config
    with rt.sessions() as s:
        agency = s.scalar(select(Agency).where(Agency.provider == GHL.key, Agency.external_id == company_id))
        company = agency and s.scalar(select(Installation).where(
            Installation.agency_id == agency.id, Installation.sub_account_id.is_(None), Installation.provider == GHL.key))
        if company is None:
            raise CrmError(f"agency {company_id} has not installed Ringback: no Company token to exchange")
        company_token = rt.vault.open(company.access_token)
    token = ghl_oauth.location_token(c.ghl_api_url, company_token, company_id, location_id)
    info = _ghl_location_info(rt, token["access_token"], location_id, name)
    with transaction(rt.sessions) as s:
        agency = s.get(Agency, agency.id)
        sub = _sub_account(s, agency, GHL.key, location_id, info["name"], info["timezone"])
        _installation(s, rt, sub_account_id=sub.id, agency_id=agency.id, provider=GHL.key, user_type="Location",
                      external_id=location_id, token=token)
        _ghl_sender(s, sub, info["texting_number"])
        return sub.id


def _ghl_location_info(rt, token: str, location_id: str, name: str | None = None) -> dict:
    try:
        loc = ghl_oauth.location(rt.config.ghl_api_url, token, location_id)
    except CrmError as exc:  # locations.readonly refused: the sub-account still works, named by id
        log.warning("location %s: details unavailable: %s", location_id, exc)
        loc = {}
    try:
        number = ghl_oauth.texting_number(ghl_oauth.location_numbers(rt.config.ghl_api_url, token, location_id))
    except CrmError as exc:  # phonenumbers.read refused (or GoHighLevel down): Twilio, and the page says so
        log.warning("location %s: its numbers could not be read: %s", location_id, exc)
        number = None
    return {"name": loc.get("name") or name or f"GoHighLevel location {location_id}",
            "timezone": loc.get("timezone") or DEFAULT_TIMEZONE, "texting_number": number}


def _ghl_sender(s, sub: SubAccount, number: str | None) -> None:
    """Texts go out of the location's own number, in its own inbox, when it has one that texts and
    nobody chose otherwise; else through Twilio (and the settings page says a number is needed)."""
    row = s.scalar(select(WorkflowSetting).where(WorkflowSetting.sub_account_id == sub.id,
                                                 WorkflowSetting.workflow == TEXT_BACK))
    if number is None or (row is not None and "send_via" in (row.settings or {})):
        return
    save_text_back(s, sub, send_via=GHL.key)
    # The number texts go out of (GoHighLevel's fromNumber); the client may pick another of the
    # location's on the number page. Only when no other sub-account already has it.
    if not sub.phone_number and s.scalar(select(SubAccount.id).where(SubAccount.phone_number == number)) is None:
        sub.phone_number = number
    log.info("location %s texts from its own number %s through GoHighLevel", sub.external_id, number)


def uninstall(rt, provider: str, *, account_id: str | None = None, company_id: str | None = None) -> list[int]:
    """Delete the tokens of a location (or every location of an agency) and switch its workflows
    off; its recoveries, messages and calls stay for the agency's reports."""
    with transaction(rt.sessions) as s:
        subs = []
        if account_id:
            subs = s.scalars(select(SubAccount).where(SubAccount.provider == provider,
                                                      SubAccount.external_id == account_id)).all()
        agency = None
        if company_id and not account_id:
            agency = s.scalar(select(Agency).where(Agency.provider == provider, Agency.external_id == company_id))
            if agency is not None:
                subs = s.scalars(select(SubAccount).where(SubAccount.agency_id == agency.id,
                                                          SubAccount.provider == provider)).all()
                s.execute(delete(Installation).where(Installation.agency_id == agency.id,
                                                     Installation.sub_account_id.is_(None)))
        ids = [sub.id for sub in subs]
        if ids:
            s.execute(delete(Installation).where(Installation.sub_account_id.in_(ids)))
            for sub in subs:
                row = s.scalar(select(WorkflowSetting).where(WorkflowSetting.sub_account_id == sub.id,
                                                             WorkflowSetting.workflow == TEXT_BACK))
                if row is None:
                    s.add(WorkflowSetting(sub_account_id=sub.id, agency_id=sub.agency_id, workflow=TEXT_BACK,
                                          settings={}, enabled=False))
                else:
                    row.enabled = False
        log.info("%s uninstall of %s: %d sub-account(s) stopped, tokens deleted", provider,
                 account_id or company_id, len(ids))
        return ids


# ------------------------------------------------------------------ HubSpot

def hubspot_from_code(rt, code: str, redirect_uri: str) -> Installed:
    c = rt.config
    if not (c.hubspot_client_id and c.hubspot_client_secret):
        raise CrmError("HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET are needed for HubSpot's OAuth")
    token = hubspot_oauth.exchange_code(c.hubspot_api_url, c.hubspot_client_id, c.hubspot_client_secret,
                                        redirect_uri, code)
    info = hubspot_oauth.token_info(c.hubspot_api_url, c.hubspot_client_id, c.hubspot_client_secret,
                                    token["access_token"])
    token["scope"] = " ".join(info["scopes"])
    with transaction(rt.sessions) as s:
        name = info.get("hub_domain") or f"HubSpot account {info['hub_id']}"
        agency = _agency(s, HUBSPOT.key, info["hub_id"], name)
        sub = _sub_account(s, agency, HUBSPOT.key, info["hub_id"], name, DEFAULT_TIMEZONE)
        _installation(s, rt, sub_account_id=sub.id, agency_id=agency.id, provider=HUBSPOT.key, user_type=None,
                      external_id=info["hub_id"], token=token)
        return Installed(HUBSPOT.key, agency.id, [sub.id])


# ------------------------------------------------------------------ Salesforce

def salesforce_from_code(rt, code: str, redirect_uri: str) -> Installed:
    from connectors.salesforce import oauth as salesforce_oauth
    c = rt.config
    if not (c.salesforce_client_id and c.salesforce_client_secret):
        raise CrmError("SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET are needed for Salesforce's OAuth")
    token = salesforce_oauth.exchange_code(c.salesforce_login_url, c.salesforce_client_id,
                                           c.salesforce_client_secret, redirect_uri, code)
    org_id = token.get("org_id")
    if not (org_id and token.get("instance_url")):
        raise CrmError("Salesforce's token response has no org id or instance URL")
    name, tz = f"Salesforce org {org_id}", DEFAULT_TIMEZONE
    try:
        org = make_salesforce_client(token["instance_url"], token["access_token"]).query(
            "SELECT Id, Name, TimeZoneSidKey FROM Organization")["records"][0]
        name, tz = org["Name"], org.get("TimeZoneSidKey") or tz
    except Exception as exc:  # noqa: BLE001 (the name is a nicety; the install stands without it)
        log.warning("org %s: name unavailable: %s", org_id, exc)
    with transaction(rt.sessions) as s:
        agency = _agency(s, SALESFORCE.key, org_id, name)
        sub = _sub_account(s, agency, SALESFORCE.key, org_id, name, tz)
        inst = _installation(s, rt, sub_account_id=sub.id, agency_id=agency.id, provider=SALESFORCE.key, user_type=None,
                             external_id=org_id, token=token)
        inst.instance_url = token["instance_url"]
        if not inst.webhook_secret:  # the Outbound Message URL's secret, kept across re-installs
            secret = secrets.token_urlsafe(24)
            inst.webhook_secret, inst.webhook_secret_hash = rt.vault.seal(secret), secret_hash(secret)
        return Installed(SALESFORCE.key, agency.id, [sub.id])


def from_code(rt, provider: str, code: str, redirect_uri: str) -> Installed:
    """An OAuth callback's code for this CRM, exchanged and installed."""
    return {GHL.key: ghl_from_code, HUBSPOT.key: hubspot_from_code,
            SALESFORCE.key: salesforce_from_code}[provider](rt, code, redirect_uri)


# ------------------------------------------------------------------ shared

def _agency(s, provider: str, external_id: str | None, name: str) -> Agency:
    agency = None
    if external_id:
        agency = s.scalar(select(Agency).where(Agency.provider == provider, Agency.external_id == external_id))
    if agency is None:
        agency = Agency(name=name, provider=provider if external_id else None, external_id=external_id)
        s.add(agency)
        s.flush()
    return agency


def _sub_account(s, agency: Agency, provider: str, external_id: str, name: str, tz: str) -> SubAccount:
    sub = s.scalar(select(SubAccount).where(SubAccount.provider == provider, SubAccount.external_id == external_id))
    if sub is None:
        sub = SubAccount(agency_id=agency.id, name=name, provider=provider, external_id=external_id, phone_number=None,
                         timezone=_known_zone(tz), business_hours=DEFAULT_HOURS)
        s.add(sub)
        s.flush()
    else:
        sub.agency_id = sub.agency_id or agency.id
        # Re-installed after an uninstall: the text back comes back on.
        s.execute(update(WorkflowSetting).where(WorkflowSetting.sub_account_id == sub.id,
                                                WorkflowSetting.workflow == TEXT_BACK).values(enabled=True))
    return sub


def _known_zone(tz: str) -> str:
    from workflows.hours import BadSchedule, zone
    try:
        zone(tz)
        return tz
    except BadSchedule:
        return DEFAULT_TIMEZONE


def _installation(s, rt, *, sub_account_id, agency_id, provider, user_type, external_id, token: dict) -> Installation:
    where = ([Installation.sub_account_id == sub_account_id] if sub_account_id is not None
             else [Installation.agency_id == agency_id, Installation.sub_account_id.is_(None)])
    inst = s.scalar(select(Installation).where(Installation.provider == provider, *where))
    if inst is None:
        inst = Installation(sub_account_id=sub_account_id, agency_id=agency_id, provider=provider, kind="oauth",
                            access_token="")
        s.add(inst)
    inst.kind, inst.user_type, inst.external_id, inst.agency_id = "oauth", user_type, external_id, agency_id
    inst.access_token = rt.vault.seal(token["access_token"])
    inst.refresh_token = rt.vault.seal(token["refresh_token"]) if token.get("refresh_token") else None
    expires = token.get("expires_in")
    inst.expires_at = utcnow() + timedelta(seconds=int(expires)) if expires else None
    inst.scopes = token.get("scope")
    inst.refreshed_at, inst.last_error = utcnow(), None
    s.flush()
    return inst
