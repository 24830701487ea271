"""Texts through GoHighLevel's conversations API, so they show in the sub-account's inbox.

Sending: ``POST /conversations/messages {type: "SMS", contactId, message, toNumber, fromNumber}``
(https://highlevel.stoplight.io/docs/integrations/, conversations.json "Send a new message").
GoHighLevel sends it from the location's own number (LC Phone or its Twilio) and reports the
delivery in OutboundMessage webhooks keyed by the messageId it answered here.

Logging a text Ringback sent through Twilio: ``POST /conversations/messages/inbound`` with the
app's conversation provider id (docs/marketplace-modules/ConversationProviders.md). Despite its
path it records either direction: its ``direction`` "default is outbound".
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..base import CrmError, SendError, SendResult, iso_time
from .client import VERSION_CONVERSATIONS, GhlClient

# GoHighLevel's message statuses, in Twilio's words (workflows.statuses orders those).
STATUS = {"pending": "queued", "queued": "queued", "scheduled": "scheduled", "sent": "sent",
          "delivered": "delivered", "read": "read", "undelivered": "undelivered", "failed": "failed",
          "opt_out": "failed"}


def conversation_of(client: GhlClient, contact_id: str) -> str:
    """The contact's conversation (GoHighLevel keeps one per contact), created if there is none."""
    found = client.request("GET", "/conversations/search", version=VERSION_CONVERSATIONS,
                           params={"locationId": client.location_id, "contactId": contact_id, "limit": 1})
    for conv in found.get("conversations") or []:
        if conv.get("contactId") == contact_id:
            return conv["id"]
    made = client.request("POST", "/conversations/", version=VERSION_CONVERSATIONS,
                          json={"locationId": client.location_id, "contactId": contact_id})
    return made["conversation"]["id"]


def log_message(client: GhlClient, *, provider_id: str, contact_id: str, direction: str, body: str,
                conversation_id: str | None = None) -> tuple[str, str]:
    """Record a text sent elsewhere in the contact's conversation: (conversation id, message id)."""
    conversation_id = conversation_id or conversation_of(client, contact_id)
    made = client.request("POST", "/conversations/messages/inbound", version=VERSION_CONVERSATIONS, json={
        "type": "SMS", "conversationId": conversation_id, "contactId": contact_id,
        "conversationProviderId": provider_id, "message": body, "direction": direction,
        "date": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")})
    return conversation_id, made["messageId"]


class GhlConversationSender:
    """The SMS sender port over a location's GoHighLevel conversations.

    ``contact_id`` is the caller's contact when the event named it (GoHighLevel's call events
    do); otherwise the contact is found or created by phone first.
    """

    name = "ghl"
    label = "GoHighLevel"
    reports_by_callback = False  # its delivery reports are OutboundMessage webhooks

    def __init__(self, client: GhlClient, contact_id: str | None = None):
        self.client = client
        self.contact_id = contact_id
        self._looked_up = False  # the contact was found by phone (not named by the event)

    def _contact(self, phone: str) -> str:
        if self.contact_id:
            return self.contact_id
        self._looked_up = True
        found = self.client.request("GET", "/contacts/search/duplicate",
                                    params={"locationId": self.client.location_id, "number": phone})
        if found.get("contact"):
            self.contact_id = found["contact"]["id"]
        else:
            self.contact_id = self.client.request("POST", "/contacts/upsert", json={
                "locationId": self.client.location_id, "phone": phone,
                "source": "Ringback missed call"})["contact"]["id"]
        return self.contact_id

    def send(self, *, to, from_, body, status_callback=None, validity_seconds=None) -> SendResult:
        try:
            contact_id = self._contact(to)
        except CrmError as exc:
            raise _send_error(exc, maybe_sent=False) from exc
        payload = {"type": "SMS", "contactId": contact_id, "message": body, "toNumber": to}
        if from_:
            payload["fromNumber"] = from_
        try:
            try:
                sent = self.client.request("POST", "/conversations/messages", version=VERSION_CONVERSATIONS,
                                           json=payload)
            except CrmError as exc:
                if exc.status not in (400, 404, 422) or self._looked_up:
                    raise
                # The contact the event named is gone (deleted or merged since): the caller's
                # contact by phone instead, once.
                self.contact_id = None
                payload["contactId"] = self._contact(to)
                sent = self.client.request("POST", "/conversations/messages", version=VERSION_CONVERSATIONS,
                                           json=payload)
        except CrmError as exc:
            raise _send_error(exc, maybe_sent=True) from exc
        return SendResult(sent["messageId"], STATUS.get(sent.get("status") or "pending", "queued"))

    def find_sent(self, *, to, from_, body, since: datetime) -> SendResult | None:
        """After a crash between sending and recording: the text in the contact's conversation."""
        try:
            conversation_id = conversation_of(self.client, self._contact(to))
            data = self.client.request("GET", f"/conversations/{conversation_id}/messages",
                                       version=VERSION_CONVERSATIONS, params={"type": "TYPE_SMS", "limit": 50})
        except CrmError as exc:
            raise _send_error(exc, maybe_sent=True) from exc
        # The spec puts the list at the top; the live API has been seen nesting it once more.
        page = data.get("messages")
        messages = page.get("messages", []) if isinstance(page, dict) else (page or [])
        for msg in messages:
            added = iso_time(msg.get("dateAdded"))
            if (msg.get("direction") == "outbound" and msg.get("body") == body
                    and (added is None or added >= since)):
                return SendResult(msg["id"], STATUS.get(msg.get("status") or "pending", "queued"))
        return None


def _send_error(exc: CrmError, *, maybe_sent: bool) -> SendError:
    if exc.token_expired:
        return TokenExpired(str(exc))
    if exc.retryable:
        # A 5xx after the request was sent may hide an accepted text: look before resending.
        # Held back by our own limiter, or a 429: GoHighLevel certainly did not take it.
        landed = maybe_sent and not exc.throttled and exc.status != 429
        err = SendError(str(exc), code=exc.status, retryable=True, maybe_sent=landed)
        err.retry_after = exc.retry_after
        return err
    return SendError(str(exc), code=exc.status)


class TokenExpired(SendError, CrmError):
    """GoHighLevel refused the location's token. Both a failed send and a CRM's token refusal,
    so integration.sync.with_fresh_token refreshes it and sends again, as for any CRM call."""

    def __init__(self, message: str):
        SendError.__init__(self, message)
        self.status, self.token_expired = 401, True
