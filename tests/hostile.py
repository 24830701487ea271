"""What an attacker or a broken integration sends: the values that break parsers (shared by the
route fuzz, tests/test_fuzz_routes.py) and a stream of hostile requests for a live server (mixed
into bench/chaos.py's missed calls), correctly signed where a signature is checked so the parsers
behind it are reached."""
from __future__ import annotations

import base64
import json
import random
import secrets
from datetime import datetime, timezone

from twilio.request_validator import RequestValidator

BUSINESS_NUMBER = "+15125550100"  # the business number of the suite (tests/conftest.py) and the benches

NASTY = ["\x00", "+1512555\x000123", "\u202e", "é" * 3, "9" * 40, "-1", "1e308", "NaN", "Infinity", "<script>x</script>",
         "' OR 1=1 --", "%00", "../../etc/passwd", "\U0001f600", " ", "", "+15125550123", BUSINESS_NUMBER,
         "99999999999999999999999", "2026-13-45T99:99:99Z", "9999-12-31T23:59:59-23:59", "1e400", "2147483648",
         "-9223372036854775809", "x" * 5000]
# The same as JSON values, where a field's type is not a string.
NASTY_JSON = [*NASTY, None, True, [], {}, {"a": [1]}, 10**30, -1, 1e308, 2**31, 0.5, ["+15125550123"]]


class HostileTraffic:
    """Hostile requests for a Ringback at ``base_url``: ``next()`` gives (kind, method, path, headers, body).

    Kinds: Twilio voice callbacks signed with the account's token but with fields replaced by
    nasty values; GoHighLevel events signed with its key, mutated, not JSON, or nested too deep;
    forged signatures for every vendor; a body over the 1 MiB limit; paths that lead nowhere.
    """

    KINDS = ("twilio_signed", "ghl_signed", "ghl_garbage", "forged", "oversized", "nowhere")

    def __init__(self, base_url: str, *, auth_token: str, account_sid: str, ghl_key, ghl_location: str,
                 business: str = BUSINESS_NUMBER, seed: int = 0):
        self.base_url, self.business, self.account_sid = base_url, business, account_sid
        self.validator = RequestValidator(auth_token)
        self.ghl_key, self.ghl_location = ghl_key, ghl_location
        self.rng = random.Random(seed)

    def next(self) -> tuple[str, str, str, dict, bytes]:
        kind = self.rng.choice(self.KINDS)
        return (kind, *getattr(self, "_" + kind)())

    def _twilio_signed(self):
        params = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": self.account_sid, "From": "+15125550199",
                  "To": self.business, "CallStatus": "no-answer", "Direction": "inbound", "CallDuration": "0"}
        for key in self.rng.sample(sorted(params), self.rng.randint(1, 3)):
            params[key] = self.rng.choice(NASTY)
        path = "/webhooks/twilio/voice"
        # requests sends a form; NUL and other bytes survive form encoding, so the signature holds
        signature = self.validator.compute_signature(self.base_url + path, params)
        body = "&".join(f"{_q(k)}={_q(v)}" for k, v in params.items()).encode()
        return "POST", path, {"X-Twilio-Signature": signature,
                              "Content-Type": "application/x-www-form-urlencoded"}, body

    def _ghl_event(self) -> dict:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"type": "InboundMessage", "locationId": self.ghl_location, "attachments": [],
                "contactId": secrets.token_hex(8), "conversationId": secrets.token_hex(8), "direction": "inbound",
                "messageType": "CALL", "messageId": secrets.token_hex(10), "status": "voicemail",
                "callStatus": "voicemail", "from": "+15125550198", "to": self.business, "messageTypeId": 10,
                "dateAdded": now, "timestamp": now, "webhookId": secrets.token_hex(16)}

    def _ghl_signed(self):
        event = self._ghl_event()
        for key in self.rng.sample(sorted(event), self.rng.randint(1, 3)):
            event[key] = self.rng.choice(NASTY_JSON)
        return self._ghl(json.dumps(event).encode())

    def _ghl_garbage(self):
        depth = self.rng.randint(40, 3000)
        body = self.rng.choice([b"[" * depth + b"]" * depth, bytes(self.rng.randrange(256) for _ in range(60)),
                                b'{"type": "InboundMessage", "locationId": ', json.dumps([self._ghl_event()]).encode(),
                                json.dumps({"type": None, "locationId": {"$gt": ""}}).encode()])
        return self._ghl(body)

    def _ghl(self, body: bytes):
        signature = base64.b64encode(self.ghl_key.sign(body)).decode()
        return "POST", "/webhooks/ghl", {"X-GHL-Signature": signature, "Content-Type": "application/json"}, body

    def _forged(self):
        return self.rng.choice([
            ("POST", "/webhooks/twilio/voice", {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
             f"CallSid=CA{secrets.token_hex(16)}&From=%2B15125550197&To={_q(self.business)}&CallStatus=no-answer".encode()),
            ("POST", "/webhooks/ghl", {"X-GHL-Signature": base64.b64encode(secrets.token_bytes(64)).decode(),
                                       "Content-Type": "application/json"}, json.dumps(self._ghl_event()).encode()),
            ("POST", "/webhooks/hubspot", {"X-HubSpot-Signature-v3": "AAAA", "X-HubSpot-Request-Timestamp": "1",
                                           "Content-Type": "application/json"}, b'[{"subscriptionType":"object.creation"}]'),
            ("POST", "/webhooks/salesforce/" + secrets.token_hex(24), {"Content-Type": "text/xml"},
             b"<soapenv:Envelope><soapenv:Body><notifications/></soapenv:Body></soapenv:Envelope>"),
            ("POST", "/webhooks/twilio/voice", {"X-Twilio-Signature": "\xff\xfe".encode("latin-1").decode("latin-1")},
             b"From=%00"),
        ])

    def _oversized(self):
        return "POST", "/webhooks/twilio/voice", {"X-Twilio-Signature": "x",
                                                  "Content-Type": "application/x-www-form-urlencoded"}, \
            b"Body=" + b"A" * (1024 * 1024 + 512)

    def _nowhere(self):
        return self.rng.choice([
            ("GET", "/webhooks/../../etc/passwd", {}, b""),
            ("DELETE", "/webhooks/ghl", {}, b""),
            ("POST", "/webhooks/twilio/voice?" + "a=" + "%ff" * 50, {}, b""),
            ("GET", "/settings/2147483648", {}, b""),
            ("PUT", "/webhooks/twilio/sms", {"Content-Type": "text/plain"}, b"\x00" * 100),
            ("GET", "/" + secrets.token_hex(4) * 20, {}, b""),
        ])


def _q(value: str) -> str:
    from urllib.parse import quote
    return quote(str(value), safe="")
