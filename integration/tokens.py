"""CRM access tokens: refreshed once when the CRM says they expired (or are about to), single-flight.

GoHighLevel's refresh tokens are single-use: each refresh returns a new pair and kills the
old refresh token. Two workers refreshing at once would lock the location out, so a refresh
happens under a lock on the installation row (PostgreSQL: SELECT ... FOR UPDATE; SQLite:
the database's write lock), re-reads the row first (another process may have refreshed
already: then its token is used), and commits the new pair before anyone uses it. HubSpot
(30-minute tokens) and Salesforce (sessions that end by org policy) go through the same door.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from connectors.base import CrmError
from connectors import registry

from .db import transaction
from .models import Agency, Installation, utcnow

log = logging.getLogger("ringback.tokens")
AHEAD = timedelta(minutes=5)  # a token this close to its expiry is refreshed before use


def expiring(expires_at, now=None) -> bool:
    return expires_at is not None and expires_at <= (now or utcnow()) + AHEAD


def refresh(rt, installation_id: int, stale_access_token: str) -> str:
    """A fresh access token for the installation whose ``stale_access_token`` was refused (or is expiring).
    A refusal no retry can mend (a revoked grant) is kept on the installation for the health list."""
    try:
        return _refresh(rt, installation_id, stale_access_token)
    except CrmError as exc:
        if not exc.retryable:
            with transaction(rt.sessions) as s:
                s.execute(update(Installation).where(Installation.id == installation_id).values(
                    last_error=f"token refresh refused: {exc}"[:1000]))
        raise


def _refresh(rt, installation_id: int, stale_access_token: str) -> str:
    with transaction(rt.sessions) as s:
        inst = s.get(Installation, installation_id, with_for_update=True, populate_existing=True)
        current = rt.vault.open(inst.access_token)
        if current != stale_access_token and not expiring(inst.expires_at):
            return current  # another worker refreshed while this one waited for the lock
        vendor = registry.crm(inst.provider)
        if (vendor is not None and vendor.exchanges_account_tokens and inst.kind == "oauth" and not inst.refresh_token
                and inst.agency_id):
            # An account's token exchanged from the agency's (a GoHighLevel location's): exchange
            # again, after the agency's own token is fresh; there is no refresh token for it.
            return _exchange_again(rt, s, inst)
        if inst.kind != "oauth" or not inst.refresh_token:
            raise CrmError(f"{inst.provider} refused the token and it cannot be refreshed ({inst.kind}): "
                           "reinstall the app or give a new token", status=401)
        pair = _ask(rt.config, inst.provider, rt.vault.open(inst.refresh_token), inst.user_type)
        inst.access_token = rt.vault.seal(pair["access_token"])
        if pair.get("refresh_token"):  # Salesforce keeps the one it gave at install
            inst.refresh_token = rt.vault.seal(pair["refresh_token"])
        if pair.get("instance_url"):
            inst.instance_url = pair["instance_url"]
        inst.expires_at = utcnow() + timedelta(seconds=int(pair["expires_in"])) if pair.get("expires_in") else None
        inst.refreshed_at, inst.last_error = utcnow(), None
        log.info("refreshed the %s token of installation %s", inst.provider, installation_id)
        return pair["access_token"]


def _exchange_again(rt, s, inst: Installation) -> str:
    vendor = registry.crm(inst.provider)
    agency = s.get(Agency, inst.agency_id)
    company = s.scalar(select(Installation).where(Installation.agency_id == inst.agency_id,
                                                  Installation.sub_account_id.is_(None),
                                                  Installation.provider == inst.provider))
    if company is None or agency is None:
        raise CrmError(f"{inst.external_id}'s agency has no {vendor.name} token any more: reinstall", status=401)
    company_token = rt.vault.open(company.access_token)
    if expiring(company.expires_at) and company.refresh_token:
        pair = _ask(rt.config, inst.provider, rt.vault.open(company.refresh_token), "Company")
        company.access_token, company.refresh_token = rt.vault.seal(pair["access_token"]), rt.vault.seal(pair["refresh_token"])
        company.expires_at = utcnow() + timedelta(seconds=int(pair.get("expires_in") or 86399))
        company.refreshed_at = utcnow()
        company_token = pair["access_token"]
    token = vendor.account_token(rt.config, company_token, agency.external_id, inst.external_id)
    inst.access_token = rt.vault.seal(token["access_token"])
    inst.expires_at = utcnow() + timedelta(seconds=int(token.get("expires_in") or 86399))
    inst.refreshed_at = utcnow()
    log.info("exchanged a new %s account token for installation %s", inst.provider, inst.id)
    return token["access_token"]


def _ask(config, provider: str, refresh_token: str, user_type: str | None) -> dict:
    vendor = registry.crm(provider)
    if vendor is None:
        raise CrmError(f"no token refresh for {provider}", status=401)
    return vendor.refresh(config, refresh_token, user_type)
