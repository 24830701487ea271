"""GoHighLevel: marketplace webhooks signed with its Ed25519 key (or the legacy RSA one)."""
from __future__ import annotations

import base64
import json
import subprocess
from datetime import datetime, timezone

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from integration.actions import action_secret
from tests import webhooks
from tests.conftest import CALLER, GHL_LOCATION

FIXTURES = webhooks.folder("ghl")
LOCATION = GHL_LOCATION  # the locationId in the fixtures
FIXTURE_TIME = b"2026-11-17T15:04:05.123Z"
APP_ID = "ve9EPM428h8vShlRW1KT"  # the appId of Ringback's app in the fixtures
EVENT_CONTACT = "gb7laj5aYQC4glDtP1r5"  # the contactId in the call fixtures
SSO_KEY = "3f2b8c1d-9e7a-4b6c-8d5e-1f0a2b3c4d5e"  # the app's Shared Secret for its custom pages


def raw(name: str, now: datetime | None = None) -> bytes:
    """The fixture's bytes with its timestamp moved to ``now`` (GoHighLevel signs fresh events)."""
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return (FIXTURES / f"{name}.json").read_bytes().replace(FIXTURE_TIME, stamp.encode())


def signed(body: bytes, keys, scheme: str = "ed25519") -> dict:
    ed, rsa_key, _ = keys
    if scheme == "ed25519":
        return {"X-GHL-Signature": base64.b64encode(ed.sign(body)).decode()}
    sig = rsa_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return {"X-WH-Signature": base64.b64encode(sig).decode()}


def send(client, body: bytes, headers: dict):
    return client.post("/webhooks/ghl", data=body, headers=headers | {"Content-Type": "application/json"})


def missed_call(client, keys):
    """A caller's voicemail on the location's number (the fixture names contact EVENT_CONTACT)."""
    body = raw("inbound_message__call_voicemail")
    assert send(client, body, signed(body, keys)).status_code == 200


def known_caller(fake_ghl) -> None:
    """The fake location holds the fixtures' contact, with the caller's number."""
    fake_ghl.contacts[EVENT_CONTACT] = {"id": EVENT_CONTACT, "locationId": LOCATION, "phone": CALLER,
                                        "firstName": "Dana"}


def outbound(fake_ghl) -> list[dict]:
    """The texts the location's conversations sent."""
    return [m for m in fake_ghl.messages if m["direction"] == "outbound"]


def cryptojs_encrypt(data: dict, secret: str) -> str:
    """CryptoJS.AES.encrypt(JSON.stringify(data), secret), made by OpenSSL's own `enc` (the same
    Salted__ + EVP_BytesToKey(MD5) format), not by Ringback's code."""
    out = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-md", "md5", "-pass", f"pass:{secret}", "-a", "-A"],
                         input=json.dumps(data).encode(), capture_output=True, check=True)
    return out.stdout.decode().strip()


def ghl_call(client, config, path: str, body: dict, secret: str | None = "auto"):
    """A GoHighLevel workflow's call to one of Ringback's actions or trigger routes, with the app's secret."""
    headers = {"X-Ringback-Secret": action_secret(config) if secret == "auto" else secret} if secret else {}
    return client.post(path, data=json.dumps(body), headers=headers | {"Content-Type": "application/json"})


def subscribe(client, config, fake_ghl, key, event="CREATED", sub_id="trg-1", target=None):
    """A location's workflow subscribes to one of Ringback's triggers (GoHighLevel's subscription call)."""
    body = {"triggerData": {"id": sub_id, "key": key, "filters": [], "eventType": event,
                            "targetUrl": target or f"{fake_ghl.url}/workflows-marketplace/triggers/execute/{sub_id}"},
            "meta": {"key": key, "version": "1.0"}, "extras": {"locationId": LOCATION, "workflowId": "wf-1",
                                                               "companyId": "otg8dTQqGLh3Q6iQI55w"}}
    return ghl_call(client, config, "/ghl/triggers", body)
