"""HubSpot: webhook batches signed with the SDK's own v3 signer."""
from __future__ import annotations

import time

from hubspot.utils.signature import Signature

from tests import webhooks
from tests.conftest import BUSINESS_NUMBER, CALLER, HUBSPOT_PORTAL, HUBSPOT_SECRET, PUBLIC_URL

FIXTURES = webhooks.folder("hubspot")
PORTAL = HUBSPOT_PORTAL
PATH = "/webhooks/hubspot"
MISSED = {"hs_call_direction": "INBOUND", "hs_call_status": "MISSED", "hs_call_duration": "0",
          "hs_call_from_number": CALLER, "hs_call_to_number": BUSINESS_NUMBER}


def headers(body: bytes, url: str = PUBLIC_URL + PATH, secret: str = HUBSPOT_SECRET, ts: int | None = None) -> dict:
    ts = ts if ts is not None else int(time.time() * 1000)
    sig = Signature.get_signature(secret, body.decode(), "v3", http_uri=url, http_method="POST", timestamp=str(ts))
    return {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": str(ts), "Content-Type": "application/json"}


def post(client, body: bytes, hdrs: dict, path: str = PATH):
    return client.post(path, data=body, headers=hdrs)


def missed_call(client, fake_hubspot):
    """A calling app logs a missed inbound call in the portal."""
    fake_hubspot.put(PORTAL, "calls", "52000001", MISSED)
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    assert post(client, body, headers(body)).json["accepted"] == 1
