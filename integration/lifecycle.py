"""Marketplace lifecycle webhooks (GoHighLevel INSTALL / UNINSTALL), applied by the worker.

INSTALL for a location of an agency that installed Ringback (bulk installs, locations added
later): a location token is exchanged from the agency's and the sub-account made. A Location
install that arrives before (or without) its OAuth callback is only recorded: the callback
brings the token. UNINSTALL deletes the tokens and switches the workflows off; history stays.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from connectors.base import CrmError
from . import installs
from workflows.events import AppEvent

from .models import Agency, Installation, SubAccount

log = logging.getLogger("ringback.lifecycle")


def apply(rt, event: AppEvent) -> str:
    """Do what the event says; returns the summary recorded on the inbox row. Raises CrmError."""
    if event.kind == "uninstall":
        if event.account_ref and event.account_ref != event.company_ref:
            ids = installs.uninstall(rt, event.provider, account_id=event.account_ref)
        else:
            ids = installs.uninstall(rt, event.provider, company_id=event.company_ref or event.account_ref)
        return f"uninstalled: {len(ids)} sub-account(s) stopped, tokens deleted, history kept"
    if event.kind != "install":
        return f"{event.kind}: nothing to do"
    location = event.account_ref if event.account_ref != event.company_ref else None
    with rt.sessions() as s:
        known = location and s.scalar(select(Installation.id).join(SubAccount).where(
            SubAccount.provider == event.provider, SubAccount.external_id == location))
        agency = event.company_ref and s.scalar(select(Installation.id).join(Agency, Installation.agency_id == Agency.id)
                                                .where(Agency.provider == event.provider,
                                                       Agency.external_id == event.company_ref,
                                                       Installation.sub_account_id.is_(None)))
    if not location:
        return "agency install recorded; its locations arrive with the OAuth callback"
    if known:
        return f"location {location} is installed already"
    if not agency:
        return f"location {location}: waiting for the OAuth callback (no agency token to exchange from)"
    try:
        sub_id = installs.ghl_location_from_company(rt, event.company_ref, location)
    except CrmError as exc:
        if exc.retryable:
            raise
        log.warning("location %s not set up: %s", location, exc)
        return f"location {location} not set up: {exc}"
    return f"location {location} installed as sub-account {sub_id}"
