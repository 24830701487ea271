"""Twilio behind one object: a phone number's voice and SMS webhooks; no CRM records."""
from __future__ import annotations

from ..provider import Provider
from . import calls, webhook


class TwilioProvider(Provider):
    key = "twilio"
    name = "Twilio"
    account_noun = "number"
    known_by_number = True  # a Twilio-number sub-account is its number

    def source(self, external_id: str | None) -> str:
        return "Twilio number"

    def recent_calls(self, client, number: str, since, limit: int, already_decided=lambda sids: set()):
        """The number's finished inbound calls since ``since`` (catch-up), as FoundCalls."""
        return calls.recent_calls(client, number, since, limit, already_decided)

    def parse_stored(self, kind: str, payload: dict):
        return webhook.parse(kind, payload)


PROVIDER = TwilioProvider()
