"""Which connector parses which provider's stored webhook payloads."""
from __future__ import annotations

from connectors.ghl import webhook as ghl_webhook
from connectors.hubspot import webhook as hubspot_webhook
from connectors.salesforce import webhook as salesforce_webhook
from connectors.twilio import webhook as twilio_webhook
from workflows.events import CallEvent

PARSERS = {
    "twilio": twilio_webhook.parse,
    "ghl": lambda _kind, payload: ghl_webhook.parse(payload),
    "hubspot": lambda _kind, payload: hubspot_webhook.parse(payload),
    "salesforce": lambda _kind, payload: salesforce_webhook.to_event(salesforce_webhook.Notification(
        payload["id"], payload["type"], payload["fields"])),
    # A CRM workflow's "Send missed-call text back" action: a call Ringback missed from a contact.
    "action": lambda _kind, payload: CallEvent(**payload["call"]),
}


def parse_stored(provider: str, kind: str, payload: dict):
    return PARSERS[provider](kind, payload)
