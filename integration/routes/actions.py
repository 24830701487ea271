"""CRM workflows calling Ringback: GoHighLevel's custom actions and trigger subscriptions,
HubSpot's custom workflow actions. Checked in this order, each failure with its own answer:

GoHighLevel (its action calls carry no signature: the app sends a secret header, set in the
manifest, and the location must have Ringback installed):
1. X-Ringback-Secret missing or wrong            -> 401 actions.secret_invalid
2. body not JSON / extras.locationId missing    -> 400 actions.payload_invalid
3. location not installed                       -> 404 actions.not_installed
4. unknown action                               -> 404 actions.unknown
HubSpot: its v2 or v3 signature (v3 first), then the same 400/404 checks on origin.portalId.
"""
from __future__ import annotations

import hashlib
import logging

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from connectors.base import WebhookRejected, same_secret
from connectors.ghl import actions as ghl_actions
from connectors.hubspot import actions as hubspot_actions
from connectors.hubspot import webhook as hubspot_webhook

from .. import actions
from ..worker import tasks
from ..models import Installation, SubAccount
from . import rt

log = logging.getLogger("ringback.actions")
bp = Blueprint("actions", __name__)


def _refuse(status: int, key: str, message: str):
    log.warning("action refused key=%s status=%s remote=%s: %s", key, status, request.remote_addr, message)
    return jsonify(error=message), status


def _installed(provider: str, account: str) -> SubAccount | None:
    with rt().sessions() as s:
        return s.scalar(select(SubAccount).join(Installation, Installation.sub_account_id == SubAccount.id).where(
            SubAccount.provider == provider, SubAccount.external_id == account))


def _ghl_checked(parse):
    """(call, sub) of an authentic GoHighLevel workflow call, or the refusal to answer with."""
    secret = actions.action_secret(rt().config)
    if not same_secret(request.headers.get("X-Ringback-Secret"), secret):
        return None, _refuse(401, "actions.secret_invalid", "X-Ringback-Secret is missing or wrong")
    try:
        call = parse(request.get_data())
    except ValueError as exc:
        return None, _refuse(400, "actions.payload_invalid", f"body must be GoHighLevel's JSON with extras.locationId: {exc}")
    sub = _installed("ghl", call.location_id)
    if sub is None:
        return None, _refuse(404, "actions.not_installed", f"Ringback is not installed in location {call.location_id}")
    return (call, sub), None


@bp.post("/ghl/actions/<key>")
def ghl_action(key: str):
    checked, refusal = _ghl_checked(ghl_actions.parse_action)
    if refusal:
        return refusal
    call, sub = checked
    if key not in actions.ACTIONS:
        return _refuse(404, "actions.unknown", f"no action {key[:100]!r} (Ringback's: {', '.join(actions.ACTIONS)})")
    contact = call.contact_id
    if not contact:
        return _refuse(400, "actions.payload_invalid", "extras.contactId is missing: run the action on a contact")
    if key == "send_text_back":
        event_id = actions.store_text_back(rt(), sub, contact, "ghl-action", request.get_data())
        if event_id is not None:
            tasks.queue_event(event_id)
        log.info("action send_text_back location=%s contact=%s event=%s", sub.external_id, contact, event_id)
        return jsonify(ringback_status="queued" if event_id else "duplicate")
    stopped = actions.stop_followups(rt(), sub, contact)
    log.info("action stop_followups location=%s contact=%s stopped=%s", sub.external_id, contact, stopped)
    return jsonify(ringback_status="stopped" if stopped else "nothing to stop", ringback_stopped=stopped)


@bp.post("/ghl/triggers")
def ghl_trigger_subscription():
    checked, refusal = _ghl_checked(ghl_actions.parse_trigger)
    if refusal:
        return refusal
    call, sub = checked
    try:
        done = actions.subscribe(rt(), sub, call.trigger, workflow_id=call.workflow_id)
    except ValueError as exc:
        return _refuse(400, "actions.payload_invalid", str(exc))
    log.info("trigger subscription %s location=%s key=%s", done, sub.external_id, call.trigger.get("key"))
    return jsonify(status=done)


def _hubspot_verified(config):
    """HubSpot signs workflow-action calls with v3 (or v2: hex SHA-256 of secret + method + URI + body)."""
    query = request.query_string.decode("latin-1")
    url = config.public_url + request.path + (f"?{query}" if query else "")
    body = request.get_data()
    if request.headers.get("X-HubSpot-Signature-v3"):
        hubspot_webhook.check_signature(body, request.headers, client_secret=config.hubspot_client_secret, url=url,
                                        method=request.method)
        return
    v2 = request.headers.get("X-HubSpot-Signature")
    if request.headers.get("X-HubSpot-Signature-Version") == "v2" and v2 and config.hubspot_client_secret:
        expected = hashlib.sha256((config.hubspot_client_secret + request.method + url).encode() + body).hexdigest()
        if same_secret(v2, expected):
            return
        raise WebhookRejected(401, "hubspot.signature_invalid", "X-HubSpot-Signature (v2) does not match this request")
    raise WebhookRejected(401, "hubspot.signature_missing", "X-HubSpot-Signature-v3 (or v2) header is required")


@bp.post("/hubspot/actions/<key>")
def hubspot_action(key: str):
    runtime = rt()
    try:
        _hubspot_verified(runtime.config)
    except WebhookRejected as rej:
        return _refuse(rej.status, rej.log_key, rej.message)
    try:
        call = hubspot_actions.parse_action(request.get_data())
    except ValueError as exc:
        return _refuse(400, "actions.payload_invalid",
                       f"body must be HubSpot's action JSON with origin.portalId and object: {exc}")
    portal = call.portal_id
    sub = _installed("hubspot", portal)
    if sub is None:
        return _refuse(404, "actions.not_installed", f"Ringback is not installed in HubSpot account {portal}")
    if key not in actions.ACTIONS:
        return _refuse(404, "actions.unknown", f"no action {key[:100]!r} (Ringback's: {', '.join(actions.ACTIONS)})")
    if call.object_type != "CONTACT":
        return jsonify(outputFields={"hs_execution_state": "FAIL_CONTINUE",
                                     "ringback_status": "Ringback acts on contacts only"})
    contact = call.object_id
    if key == "send_text_back":
        event_id = actions.store_text_back(runtime, sub, contact, "hubspot-action", request.get_data())
        if event_id is not None:
            tasks.queue_event(event_id)
        status = "queued" if event_id else "duplicate"
    else:
        status = f"stopped {actions.stop_followups(runtime, sub, contact)}"
    return jsonify(outputFields={"hs_execution_state": "SUCCESS", "ringback_status": status})
