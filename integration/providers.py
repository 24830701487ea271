"""Which connector parses which provider's stored webhook payloads."""
from __future__ import annotations

from connectors.twilio import webhook as twilio_webhook

PARSERS = {
    "twilio": twilio_webhook.parse,
}


def parse_stored(provider: str, kind: str, payload: dict):
    return PARSERS[provider](kind, payload)
