"""Twilio: its webhooks posted the way Twilio does, form-encoded and signed."""
from __future__ import annotations

import json

from tests import webhooks
from tests.conftest import PUBLIC_URL, sign

FIXTURES = webhooks.folder("twilio")
ROUTES = {"call_status": "voice", "dial_action": "dial", "inbound_sms": "sms", "message_status": "message-status"}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def all_fixtures() -> list[str]:
    return sorted(webhooks.names("twilio"))


def route_for(name: str) -> str:
    return "/webhooks/twilio/" + ROUTES[name.split("__")[0]]


def post(client, path: str, params: dict, *, signature: str | None = "auto", headers: dict | None = None):
    hdrs = dict(headers or {})
    if signature == "auto":
        signature = sign(PUBLIC_URL + path, params)
    if signature is not None:
        hdrs["X-Twilio-Signature"] = signature
    return client.post(path, data=params, headers=hdrs)


def report(client, sid: str, status: str, error_code: int | None = None):
    """Twilio's status callback for one of our texts (as the fake Twilio would post it)."""
    params = fixture("message_status__delivered") | {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                                                     "SmsStatus": status}
    if error_code:
        params["ErrorCode"] = str(error_code)
    assert post(client, "/webhooks/twilio/message-status", params).status_code == 200
