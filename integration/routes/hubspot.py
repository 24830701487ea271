"""HubSpot's webhook batches. Checked in a fixed order, each failure with its own status and log key:

1. body over 1 MiB                                  -> 413 (Flask)
2. no signature or timestamp header                 -> 401 hubspot.signature_missing
3. timestamp older (or newer) than 5 minutes        -> 401 hubspot.timestamp_stale
4. v3 signature does not match (URL as HubSpot signed it) -> 401 hubspot.signature_invalid
5. not a JSON array of at most 100 events           -> 400 hubspot.payload_invalid
6. each event: stored once (repeats ignored), routed by portalId (unknown: unroutable),
   call events queued; every other type stored as ignored  -> 200 with counts

HubSpot retries any 4xx/5xx or an answer slower than 5 s, up to 10 times in 24 hours: the
batch is committed and answered at once, and the calls are fetched in the worker.
"""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from connectors.base import WebhookRejected
from connectors.hubspot import webhook
from workflows.events import IgnoredEvent

from .. import inbox
from ..worker import tasks
from . import rt

log = logging.getLogger("ringback.webhooks.hubspot")
bp = Blueprint("hubspot", __name__)


@bp.post("/webhooks/hubspot")
def receive():
    runtime = rt()
    body = request.get_data(cache=True)
    query = request.query_string.decode("latin-1")
    url = runtime.config.public_url + request.path + (f"?{query}" if query else "")
    try:
        if not runtime.config.hubspot_client_secret:
            raise WebhookRejected(401, "hubspot.not_configured", "HUBSPOT_CLIENT_SECRET is not set: no signature can be checked")
        batch = webhook.verify(body, request.headers, client_secret=runtime.config.hubspot_client_secret, url=url)
    except WebhookRejected as rej:
        log.warning("rejected key=%s status=%s remote=%s: %s", rej.log_key, rej.status, request.remote_addr, rej.message)
        return jsonify(error=rej.message), rej.status
    counts = {"accepted": 0, "duplicate": 0, "ignored": 0, "unroutable": 0}
    for item in batch:
        event = webhook.parse(item)
        ignored = isinstance(event, IgnoredEvent)
        stored = inbox.store(runtime, provider="hubspot", kind=event.kind if ignored else type(event).__name__, payload=item,
                             key=webhook.event_key(item), account=str(item["portalId"]), act=not ignored)
        if stored.event_id is None:
            counts["duplicate"] += 1
        elif ignored:
            counts["ignored"] += 1
        elif not stored.routed:
            counts["unroutable"] += 1
            log.warning("unroutable key=hubspot.unroutable portalId=%s objectId=%s", item["portalId"], item["objectId"])
        else:
            counts["accepted"] += 1
            tasks.queue_event(stored.event_id)
    return jsonify(counts)
