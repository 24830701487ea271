"""Twilio behind one object: a phone number's voice and SMS webhooks; no CRM records."""
from __future__ import annotations

from . import webhook


class TwilioProvider:
    key = "twilio"
    name = "Twilio"
    is_crm = False

    def parse_stored(self, kind: str, payload: dict):
        return webhook.parse(kind, payload)


PROVIDER = TwilioProvider()
