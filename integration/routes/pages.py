"""Pages a person uses: what Ringback heard and what it texted."""
from __future__ import annotations

import re

from flask import Blueprint, redirect, render_template, request
from sqlalchemy import select

from .. import viewer
from ..models import Call, Message, SubAccount
from . import rt

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    runtime = rt()
    if runtime.config.env == "production":
        # Every business's calls and texts are on the development dashboard: in production the
        # data is only on the settings pages, behind the CRMs' sign-in.
        return render_template("message.html", status=200, title="Ringback is running",
                               message="Install Ringback from your CRM's marketplace (GoHighLevel, HubSpot or "
                                       "Salesforce), then open it from inside the CRM.", hint=None, link=None)
    with runtime.sessions() as s:
        subs = s.scalars(select(SubAccount).order_by(SubAccount.id)).all()
        calls = s.scalars(select(Call).order_by(Call.id.desc()).limit(25)).all()
        messages = s.scalars(select(Message).order_by(Message.id.desc()).limit(25)).all()
    return render_template("home.html", subs=subs, calls=calls, messages=messages,
                           sender=runtime.sender.name, config=runtime.config)


@bp.post("/dev/sign-in")
def dev_sign_in():
    """Development only: look at every sub-account's settings and the agency page without a CRM.
    In production the only doors are the CRMs' own (GoHighLevel SSO, Canvas, HubSpot)."""
    runtime = rt()
    if runtime.config.env == "production":
        return render_template("message.html", status=404, title="Not here",
                               message="Open Ringback from inside your CRM.", hint=None, link=None), 404
    with runtime.sessions() as s:
        ids = list(s.scalars(select(SubAccount.id)))
    viewer.sign_in(viewer.Viewer(provider="development", user="local developer", sub_ids=ids))
    target = request.form.get("next", "")
    return redirect(target if re.fullmatch(r"/settings/[0-9]{1,10}|/agency", target) else "/agency")


@bp.get("/setup/ghl")
def setup_ghl():
    """The operator's GoHighLevel setup sheet (marketplace.manifests.ghl). Development only: it
    holds the workflow actions' secret header, and production has no operator sign-in; there
    `ringback manifests` writes the same sheet."""
    from itertools import groupby

    from marketplace.manifests import ghl

    from ..actions import ACTIONS, TRIGGERS, action_secret
    runtime = rt()
    if runtime.config.env == "production":
        return render_template("message.html", status=404, title="Not here",
                               message="Run `ringback manifests --base-url URL` on the server for this sheet.",
                               hint=None, link=None), 404
    fields = ghl.fields(runtime.config.public_url, action_secret=action_secret(runtime.config), actions=ACTIONS,
                        triggers=TRIGGERS)
    sections = [(section, list(rows)) for section, rows in groupby(fields, key=lambda f: f.section)]
    return render_template("setup_ghl.html", base_url=runtime.config.public_url, sections=sections)
