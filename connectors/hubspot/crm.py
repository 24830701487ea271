"""The CRM port for HubSpot, through hubspot-api-client (reads for now: calls and contacts)."""
from __future__ import annotations

from hubspot import Client
from hubspot.crm.objects.calls.exceptions import ApiException as CallsApiException
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException

from workflows.events import CallEvent

from ..base import CrmError
from . import calls

HUBSPOT_API = "https://api.hubapi.com"


def make_client(token: str, api_url: str = HUBSPOT_API) -> Client:
    # host= points the SDK at a loopback fake in tests (it uses urllib3, not requests).
    return Client.create(access_token=token, host=api_url.rstrip("/"))


class HubSpotCrm:
    provider = "hubspot"

    def __init__(self, client: Client):
        self.client = client

    def get_call(self, call_id: str) -> CallEvent:
        try:
            call = self.client.crm.objects.calls.basic_api.get_by_id(call_id, properties=calls.PROPERTIES)
        except CallsApiException as exc:
            raise _error(exc, f"GET call {call_id}") from None
        return calls.to_call_event(call.id, call.properties or {})

    def contact_phone(self, contact_id: str) -> str | None:
        try:
            contact = self.client.crm.contacts.basic_api.get_by_id(contact_id, properties=["phone", "mobilephone"])
        except ContactsApiException as exc:
            raise _error(exc, f"GET contact {contact_id}") from None
        props = contact.properties or {}
        return props.get("mobilephone") or props.get("phone")


def _error(exc, what: str) -> CrmError:
    status = getattr(exc, "status", None) or 0
    headers = getattr(exc, "headers", None) or {}
    message = f"HubSpot {what}: {status} {getattr(exc, 'reason', '')}".strip()
    if status == 429 or status >= 500:
        retry_after = headers.get("Retry-After")
        return CrmError(message, status=status, retryable=True,
                        retry_after=float(retry_after) if retry_after else (10.0 if status == 429 else None))
    return CrmError(message, status=status, token_expired=status == 401)
