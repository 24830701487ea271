"""Salesforce Outbound Messages. Checked in a fixed order, each failure with its own status and log key:

1. body over 1 MiB                                   -> 413 (Flask)
2. the secret in the URL is no installation's        -> 403 salesforce.secret_unknown
3. not a SOAP Outbound Message                       -> 400 salesforce.payload_invalid
4. OrganizationId is not that installation's org     -> 403 salesforce.org_mismatch
5. each Notification stored once (by its Id); call Tasks queued, others stored as ignored
6. the SOAP Ack, only after everything is committed  -> 200

Outbound Messages carry no signature: the per-installation secret in the endpoint URL and the
org id together are the proof, compared in constant time through the secret's hash.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from connectors.base import WebhookRejected
from connectors.registry import SALESFORCE
from connectors.salesforce import webhook
from connectors.salesforce.webhook import secret_hash  # noqa: F401 (re-exported for the CLI and tests)
from workflows.events import IgnoredEvent

from .. import inbox
from ..worker import tasks
from ..statements import INSTALLATION_BY_SECRET
from . import rt

log = logging.getLogger("ringback.webhooks.salesforce")
bp = Blueprint("salesforce", __name__)


@bp.post("/webhooks/salesforce/<secret>")
def receive(secret: str):
    runtime = rt()
    body = request.get_data(cache=True)
    try:
        with runtime.autocommit_engine.connect() as conn:
            found = conn.execute(INSTALLATION_BY_SECRET, {"_provider": SALESFORCE.key,
                                                          "_hash": secret_hash(secret)}).one_or_none()
        if found is None:
            raise WebhookRejected(403, "salesforce.secret_unknown", "this Outbound Message URL belongs to no installation")
        org, notifications = webhook.parse(body)
        if not webhook.same_org(org, found.external_id):
            raise WebhookRejected(403, "salesforce.org_mismatch", f"OrganizationId {org} is not this installation's org")
    except WebhookRejected as rej:
        log.warning("rejected key=%s status=%s remote=%s: %s", rej.log_key, rej.status, request.remote_addr, rej.message)
        return Response(rej.message + "\n", status=rej.status, mimetype="text/plain")
    for n in notifications:
        event = webhook.to_event(n)
        ignored = isinstance(event, IgnoredEvent)
        stored = inbox.store(runtime, provider=SALESFORCE.key, kind=event.kind if ignored else "call",
                             key=f"notification:{n.id}", account=found.external_id, act=not ignored,
                             payload={"id": n.id, "type": n.sobject_type, "fields": n.fields})
        if stored.event_id is not None and stored.routed:
            tasks.queue_event(stored.event_id)
    return Response(webhook.ACK, status=200, mimetype="text/xml")
