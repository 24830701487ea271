"""What the pages a person opens share: answering with a page, and who may see a sub-account."""
from __future__ import annotations

import logging

from flask import render_template, request, url_for

from connectors import registry

from .. import subaccounts, viewer
from . import rt

log = logging.getLogger("ringback.pages")


def page(status: int, title: str, message: str, hint: str | None = None, link: dict | None = None):
    return render_template("message.html", status=status, title=title, message=message, hint=hint, link=link), status


def refused(why: str):
    log.warning("sso refused key=sso.refused remote=%s: %s", request.remote_addr, why)
    return page(403, "Ringback cannot tell who you are", why, "Open Ringback again from inside your CRM.")


def visible_sub(sub_id: int):
    """(viewer, sub) when the session may see this sub-account, else the page to answer with."""
    who = viewer.current()
    with rt().sessions() as s:
        sub = subaccounts.active(s, sub_id)  # a removed sub-account has no page
    if who is None:
        vendor = registry.get(sub.provider) if sub is not None else None
        link = ({"id": f"{vendor.key}-sign-in", "href": url_for("oauth.install", provider=vendor.key),
                 "text": f"Sign in with {vendor.name}"} if vendor is not None and vendor.signs_in_by_oauth else None)
        return None, page(401, "Open Ringback from your CRM",
                          "This page shows a business's settings, so it opens only from inside its CRM "
                          "(GoHighLevel, HubSpot or Salesforce), which tells Ringback who you are.", link=link)
    if not who.may_see(sub):
        log.warning("settings refused key=settings.forbidden viewer=%s sub=%s", who.user, sub_id)
        return None, page(403, "Not yours to see", "You can only see the sub-accounts your CRM login belongs to.")
    return who, sub
