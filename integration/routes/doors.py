"""The doors into Ringback's pages: each turns a CRM's proof of the person into a session viewer
(integration.viewer), in a fixed order of checks, refusing with a page that says why.

  GET  /embed/ghl            GoHighLevel custom page: asks its parent for the encrypted user
  POST /sso/ghl              ... which is decrypted here with GHL_SSO_KEY
  POST /sso/salesforce       Salesforce Canvas signed request (the External Client App's secret)
  GET  /sso/link             the HubSpot card's short-lived link (routes/hubspot_extensions.py)
"""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from connectors.base import load_json
from connectors.registry import GHL, SALESFORCE
from marketplace import sso

from .. import viewer
from ..models import Agency, SubAccount
from . import access, rt

log = logging.getLogger("ringback.doors")
bp = Blueprint("doors", __name__)


@bp.get("/embed/ghl")
def embed_ghl():
    return render_template("embed_ghl.html")


@bp.post("/sso/ghl")
def sso_ghl():
    try:
        body = load_json(request.get_data())
    except ValueError:
        body = None
    encrypted = body.get("encryptedData") if isinstance(body, dict) else None
    try:
        user = sso.ghl_decrypt(encrypted if isinstance(encrypted, str) else "", rt().config.ghl_sso_key)
    except sso.SsoRefused as exc:
        log.warning("sso refused key=sso.ghl_invalid remote=%s: %s", request.remote_addr, exc)
        return jsonify(error=str(exc)), 403
    with rt().sessions() as s:
        agency = s.scalar(select(Agency).where(Agency.provider == GHL.key, Agency.external_id == user.get("companyId")))
        sub = None
        if user.get("activeLocation"):
            sub = s.scalar(select(SubAccount).where(SubAccount.provider == GHL.key,
                                                    SubAccount.external_id == user["activeLocation"]))
            if sub is None:
                return jsonify(error="Ringback is not installed in this sub-account"), 403
            owner = s.get(Agency, sub.agency_id) if sub.agency_id else None
            if owner is not None and owner.provider == GHL.key and owner.external_id != user.get("companyId"):
                log.warning("sso refused key=sso.cross_tenant location=%s company=%s", user["activeLocation"],
                            user.get("companyId"))
                return jsonify(error="this sub-account belongs to another agency"), 403
        elif user["type"] != "agency" or agency is None:
            return jsonify(error="Ringback is not installed for this agency"), 403
    agency_wide = user["type"] == "agency" and agency is not None
    viewer.sign_in(viewer.Viewer(provider=GHL.key, user=user.get("email") or user["userId"],
                                 agency_id=agency.id if agency_wide else None, sub_ids=[sub.id] if sub else []))
    target = url_for("settings.page", sub_id=sub.id) if sub else url_for("agency.agency")
    return jsonify(redirect=target)


@bp.post("/sso/salesforce")
def sso_salesforce():
    try:
        envelope = sso.canvas_verify(request.form.get("signed_request", ""), rt().config.salesforce_client_secret)
    except sso.SsoRefused as exc:
        return access.refused(str(exc))
    org = envelope["context"]["organization"]["organizationId"]
    with rt().sessions() as s:
        sub = s.scalar(select(SubAccount).where(SubAccount.provider == SALESFORCE.key,
                                                SubAccount.external_id.in_({org, org[:15]})))
    if sub is None:
        return access.refused(f"Ringback is not installed in Salesforce org {org}")
    user = (envelope["context"].get("user") or {})
    viewer.sign_in(viewer.Viewer(provider=SALESFORCE.key, user=user.get("email") or user.get("userId") or "canvas",
                                 sub_ids=[sub.id]))
    return redirect(url_for("settings.page", sub_id=sub.id))


@bp.get("/sso/link")
def link():
    try:
        data = sso.link_open(rt().config.secret_key, request.args.get("t", ""))
    except sso.SsoRefused as exc:
        return access.refused(str(exc))
    viewer.sign_in(viewer.Viewer(provider=data["provider"], user=data["user"], sub_ids=[int(data["sub"])]))
    return redirect(url_for("settings.page", sub_id=int(data["sub"])))
