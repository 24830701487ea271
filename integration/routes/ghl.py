"""GoHighLevel's marketplace webhook. Checked in a fixed order, each failure with its own status and log key:

1. body over 1 MiB                         -> 413 (Flask, before the body is read)
2. no X-GHL-Signature / X-WH-Signature     -> 401 ghl.signature_missing
3. signature does not match the raw body   -> 401 ghl.signature_invalid
4. body not a JSON object                  -> 400 ghl.payload_invalid
5. timestamp missing, unreadable or stale  -> 400 ghl.timestamp_missing / ghl.timestamp_invalid, 401 ghl.timestamp_stale
6. event fields malformed                  -> 400 ghl.payload_invalid
   an INSTALL/UNINSTALL whose appId is not GHL_APP_ID -> 200, stored as ignored (ghl.app_mismatch)
7. duplicate webhookId or message status   -> 200, ignored (ghl.duplicate)
8. locationId not installed                -> 200, stored as unroutable (ghl.unroutable)
9. stored in the inbox, committed, queued  -> 200

GoHighLevel retries only a 429, so nothing here answers 5xx for a problem it could fix later:
the event is committed first and all the work happens in the worker.
"""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from connectors.base import WebhookRejected
from connectors.ghl import webhook
from workflows.events import AppEvent, IgnoredEvent

from .. import inbox
from ..worker import tasks
from ..models import utcnow
from . import rt

log = logging.getLogger("ringback.webhooks.ghl")
bp = Blueprint("ghl", __name__)


def _keys():
    runtime = rt()
    if not hasattr(runtime, "ghl_keys"):
        runtime.ghl_keys = webhook.WebhookKeys.from_pem(runtime.config.ghl_webhook_public_key)
    return runtime.ghl_keys


@bp.post("/webhooks/ghl")
def receive():
    body = request.get_data(cache=True)
    try:
        payload = webhook.verify(body, request.headers, _keys(), utcnow())
        event = webhook.for_this_app(webhook.parse(payload), rt().config.ghl_app_id)
    except WebhookRejected as rej:
        log.warning("rejected key=%s status=%s remote=%s: %s", rej.log_key, rej.status, request.remote_addr,
                    rej.message)
        return jsonify(error=rej.message), rej.status
    kind = type(event).__name__ if not isinstance(event, (AppEvent, IgnoredEvent)) else event.kind
    key = webhook.event_key(payload, event, body)
    webhook_id = payload.get("webhookId")
    stored = inbox.store(rt(), provider="ghl", kind=kind, key=key, payload=payload,
                         account=webhook.location_of(payload), token=f"ghl:{webhook_id}" if webhook_id else None,
                         unroutable_ok=isinstance(event, AppEvent), act=not isinstance(event, IgnoredEvent))
    if stored.event_id is None:
        log.info("duplicate key=ghl.duplicate event=%s webhookId=%s", key, webhook_id)
        return jsonify(status="duplicate")
    if isinstance(event, IgnoredEvent):
        if event.kind.startswith(("INSTALL:", "UNINSTALL:")):
            log.warning("ignored key=ghl.app_mismatch appId=%s (GHL_APP_ID is %s): %s", payload.get("appId"),
                        rt().config.ghl_app_id or "unset", event.kind)
        return jsonify(status="ignored", type=event.kind)
    if not stored.routed:
        log.warning("unroutable key=ghl.unroutable locationId=%s event=%s", webhook.location_of(payload), key)
        return jsonify(status="unroutable")
    tasks.queue_event(stored.event_id)
    return jsonify(status="accepted")
