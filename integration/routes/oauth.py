"""Installing Ringback from a CRM's marketplace: OAuth's authorization-code flow per provider.

GET /oauth/<provider>/install   -> the vendor's consent page, with a ``state`` kept in this
                                   browser's session (CSRF)
GET /oauth/<provider>/callback  -> checks, in order: the vendor's error (400 page), the state
                                   (403 page: not started here, or already used), the code
                                   exchange (400 page with the vendor's reason); then the
                                   agency, sub-accounts and sealed tokens are stored and the
                                   installer lands on the sub-account's settings page.

GoHighLevel also starts installs from its own marketplace, which redirect here with a code
and no state: those are accepted when this browser has no install of its own under way (the
code is single-use and bound to our client secret, so a forged one fails at the exchange).
"""
from __future__ import annotations

import logging
import secrets
import time

from flask import Blueprint, redirect, render_template, request, session, url_for

from connectors import registry
from connectors.base import CrmError
from marketplace import apps

from .. import installs, viewer
from . import rt

log = logging.getLogger("ringback.oauth")
bp = Blueprint("oauth", __name__)
STATE_TTL = 15 * 60
NAMES = {key: p.name for key, p in registry.CRMS.items()}


def _page(status: int, title: str, message: str, hint: str | None = None):
    return render_template("message.html", status=status, title=title, message=message, hint=hint, link=None), status


def callback_url(provider: str) -> str:
    return apps.redirect_url(rt().config.public_url, provider)  # the URL the app definitions declare


@bp.get("/oauth/<provider>/install")
def install(provider: str):
    if provider not in NAMES:
        return _page(404, "Unknown CRM", f"Ringback installs into GoHighLevel, HubSpot or Salesforce, not {provider!r}.")
    c = rt().config
    vendor = registry.get(provider)
    if not vendor.client_id(c):
        return _page(503, f"{vendor.name} installs are not set up",
                     f"This Ringback has no {vendor.name} app credentials ({vendor.client_id_setting}).",
                     "Ask whoever runs Ringback to configure the marketplace app.")
    state = secrets.token_urlsafe(24)
    session["oauth_state"] = {"provider": provider, "state": state, "at": time.time()}
    target = vendor.authorize_url(c, callback_url(provider), state)
    log.info("install started provider=%s", provider)
    return redirect(target)


@bp.get("/oauth/<provider>/callback")
def callback(provider: str):
    if provider not in NAMES:
        return _page(404, "Unknown CRM", f"Ringback installs into GoHighLevel, HubSpot or Salesforce, not {provider!r}.")
    name = NAMES[provider]
    if request.args.get("error"):
        log.info("install declined provider=%s error=%s", provider, request.args.get("error"))
        return _page(400, "Ringback was not installed",
                     f"{name} says: {(request.args.get('error_description') or request.args['error'])[:300]}.",
                     "You can start the install again from the marketplace.")
    expected = session.pop("oauth_state", None)
    got = request.args.get("state")
    fresh = expected and expected["provider"] == provider and time.time() - expected["at"] < STATE_TTL
    if got or expected or not registry.get(provider).installs_from_marketplace:
        if not (fresh and got and secrets.compare_digest(got, expected["state"])):
            log.warning("install refused key=oauth.state_mismatch provider=%s remote=%s", provider, request.remote_addr)
            return _page(403, "This install link cannot be used",
                         "It was not started in this browser, it is more than 15 minutes old, or it was used already.",
                         f"Start the install again from {name}'s marketplace.")
    code = request.args.get("code")
    if not code:
        return _page(400, "Ringback was not installed", f"{name} sent no authorization code.")
    try:
        done = installs.from_code(rt(), provider, code, callback_url(provider))
    except CrmError as exc:
        log.warning("install failed key=oauth.exchange_failed provider=%s: %s", provider, exc)
        if exc.retryable:
            # Unreachable, or failing on its side: the details (hosts, ports, exceptions) are for
            # the log, not for the installer's browser.
            return _page(503, "Ringback was not installed", f"{name} could not be reached to finish the install.",
                         "Start the install again in a minute.")
        return _page(400, "Ringback was not installed", str(exc),
                     "An authorization code works once and for a few minutes: start the install again.")
    log.info("installed provider=%s agency=%s sub_accounts=%s", provider, done.agency_id, done.sub_account_ids)
    viewer.sign_in(viewer.Viewer(provider=provider, user="installer",
                                 agency_id=done.agency_id if done.agency_wide else None,
                                 sub_ids=list(done.sub_account_ids)))
    if done.landing is None:
        return redirect(url_for("agency.agency"))
    return redirect(url_for("settings.page", sub_id=done.landing, installed=1))
