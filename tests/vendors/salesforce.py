"""Salesforce: Outbound Messages (SOAP) posted to the org's secret URL."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from tests import webhooks
from tests.conftest import SF_CONTACT, SF_LEAD, SF_ORG, SF_OTHER_CALLER, SF_SECRET

FIXTURES = webhooks.folder("salesforce")
ORG, SECRET, LEAD, CONTACT, OTHER_CALLER = SF_ORG, SF_SECRET, SF_LEAD, SF_CONTACT, SF_OTHER_CALLER
SF_CONSUMER_SECRET = "7C1F4A2B9D8E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1"  # the app's, signs Canvas


def send(client, name: str, secret: str = SECRET, body: bytes | None = None):
    data = body if body is not None else (FIXTURES / f"{name}.xml").read_bytes()
    return client.post(f"/webhooks/salesforce/{secret}", data=data, headers={"Content-Type": "text/xml; charset=utf-8",
                                                                              "SOAPAction": '""'})


def canvas_request(envelope: dict, secret: str = SF_CONSUMER_SECRET) -> str:
    encoded = base64.b64encode(json.dumps(envelope).encode()).decode()
    sig = base64.b64encode(hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()).decode()
    return f"{sig}.{encoded}"
