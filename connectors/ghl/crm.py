"""The CRM port for GoHighLevel: contacts, opportunities in a mapped pipeline, notes, tasks.

GoHighLevel pipelines cannot be created through the API, so each sub-account's pipeline and
stages are found by name (workflows.stages) or mapped explicitly.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime

from workflows.stages import best_pipeline

from ..base import CrmError
from . import conversations, webhook
from .client import VERSION_CONVERSATIONS, GhlClient

PIPELINE_TTL = 300.0  # seconds a location's pipeline mapping is reused before asking again
_pipelines: dict[tuple[str, str], tuple[float, tuple[str, dict[str, str]]]] = {}
_pipelines_lock = threading.Lock()
TEXT_STATUS_FIELD = "Ringback text status"  # an opportunity custom field, made if missing
_fields: dict[str, str] = {}  # locationId -> that field's id
_conversations: dict[tuple[str, str], str] = {}  # (locationId, contactId) -> conversationId


def forget_pipelines() -> None:
    """Drop every cached pipeline mapping and field id (the next write asks GoHighLevel again)."""
    with _pipelines_lock:
        _pipelines.clear()
        _fields.clear()
        _conversations.clear()


class GhlCrm:
    provider = "ghl"

    def __init__(self, client: GhlClient, stage_overrides: dict | None = None, *,
                 conversation_provider_id: str | None = None):
        self.client = client
        self.conversation_provider_id = conversation_provider_id
        self.location_id = client.location_id
        self.stage_overrides = stage_overrides or {}
        key = (self.location_id, repr(sorted(self.stage_overrides.items())))
        with _pipelines_lock:
            cached = _pipelines.get(key)
        self._cache_key = key
        self._pipeline = cached[1] if cached and time.monotonic() - cached[0] < PIPELINE_TTL else None

    def recent_calls(self, since: datetime, limit: int) -> list:
        """The location's calls since ``since``, oldest first, from the message export (catch-up)."""
        found, cursor = [], None
        while len(found) < limit:
            params = {"locationId": self.location_id, "channel": "Call", "sortBy": "createdAt", "sortOrder": "asc",
                      "startDate": since.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self.client.request("GET", "/conversations/messages/export", version=VERSION_CONVERSATIONS,
                                       params=params)
            messages = page.get("messages") or []
            found += [f for f in map(webhook.found_call, messages) if f is not None]
            cursor = page.get("nextCursor")
            if not cursor or not messages:
                break
        return found[:limit]

    def pipeline(self) -> tuple[str, dict[str, str]]:
        """(pipeline id, {Ringback stage: GoHighLevel stage id}); raises UnmappedStages.

        Every write of every recovery needs it, and each request counts against the location's
        limit: the mapping is kept for PIPELINE_TTL seconds per location."""
        if self._pipeline is None:
            data = self.client.request("GET", "/opportunities/pipelines", params={"locationId": self.location_id})
            pipelines = {p["id"]: {st["id"]: st["name"] for st in p.get("stages", [])}
                         for p in data.get("pipelines", [])}
            wanted = self.stage_overrides.get("pipeline")
            if wanted:
                pipelines = {pid: st for pid, st in pipelines.items()
                             if pid == wanted or any(p.get("name") == wanted for p in data.get("pipelines", [])
                                                     if p["id"] == pid)}
            self._pipeline = best_pipeline(pipelines, self.stage_overrides.get("stages"))
            with _pipelines_lock:
                _pipelines[self._cache_key] = (time.monotonic(), self._pipeline)
        return self._pipeline

    def contact_phone(self, contact_id: str) -> str | None:
        return (self.client.request("GET", f"/contacts/{contact_id}").get("contact") or {}).get("phone")

    def upsert_contact(self, *, phone: str, first_name: str | None = None) -> str:
        found = self.client.request("GET", "/contacts/search/duplicate",
                                    params={"locationId": self.location_id, "number": phone})
        if found.get("contact"):
            return found["contact"]["id"]
        body = {"locationId": self.location_id, "phone": phone, "source": "Ringback missed call"}
        if first_name:
            body["firstName"] = first_name
        # Upsert (not create): GoHighLevel matches on the phone, so a race cannot make two.
        return self.client.request("POST", "/contacts/upsert", json=body)["contact"]["id"]

    def _with_pipeline(self, write):
        """Run ``write(pipeline_id, stages)``; if GoHighLevel refuses it, the pipeline may have
        been edited since it was cached: look again once."""
        try:
            return write(*self.pipeline())
        except CrmError as exc:
            if exc.status not in (400, 404, 422):
                raise
            self._pipeline = None
            with _pipelines_lock:
                _pipelines.pop(self._cache_key, None)
            return write(*self.pipeline())

    def open_deal(self, *, contact_id: str, name: str, stage: str, value: float | None = None) -> str:
        def write(pipeline_id, stages):
            body = {"pipelineId": pipeline_id, "locationId": self.location_id, "name": name, "status": "open",
                    "contactId": contact_id, "pipelineStageId": stages[stage]}
            if value is not None:
                body["monetaryValue"] = value
            return self.client.request("POST", "/opportunities/", json=body)["opportunity"]["id"]
        return self._with_pipeline(write)

    def move_deal(self, *, deal_id: str, stage: str, value: float | None = None) -> None:
        def write(_pipeline_id, stages):
            body = {"pipelineStageId": stages[stage]}
            if value is not None:
                body["monetaryValue"] = value
            if stage in ("booked", "lost"):
                body["status"] = "won" if stage == "booked" else "lost"
            self.client.request("PUT", f"/opportunities/{deal_id}", json=body)
        self._with_pipeline(write)

    def set_text_status(self, *, deal_id: str, status: str) -> None:
        """Write the text-back's delivery status to the opportunity's "Ringback text status" field."""
        field_id = self._text_status_field()
        self.client.request("PUT", f"/opportunities/{deal_id}",
                            json={"customFields": [{"id": field_id, "field_value": status}]})

    def _text_status_field(self) -> str:
        with _pipelines_lock:
            known = _fields.get(self.location_id)
        if known:
            return known
        fields = self.client.request("GET", f"/locations/{self.location_id}/customFields",
                                     params={"model": "opportunity"}).get("customFields", [])
        found = next((f["id"] for f in fields if f.get("name") == TEXT_STATUS_FIELD), None)
        if found is None:
            found = self.client.request("POST", f"/locations/{self.location_id}/customFields",
                                        json={"name": TEXT_STATUS_FIELD, "dataType": "TEXT",
                                              "model": "opportunity"})["customField"]["id"]
        with _pipelines_lock:
            _fields[self.location_id] = found
        return found

    def add_note(self, *, contact_id: str, body: str) -> str:
        return self.client.request("POST", f"/contacts/{contact_id}/notes", json={"body": body})["note"]["id"]

    def log_sms(self, *, contact_id: str, direction: str, body: str) -> str:
        """A text Ringback sent or received through Twilio, in the contact's GoHighLevel conversation."""
        if not self.conversation_provider_id:
            raise CrmError("logging texts in GoHighLevel's conversations needs GHL_CONVERSATION_PROVIDER_ID")
        key = (self.location_id, contact_id)
        with _pipelines_lock:
            known = _conversations.get(key)
        conversation_id, message_id = conversations.log_message(
            self.client, provider_id=self.conversation_provider_id, contact_id=contact_id, direction=direction,
            body=body, conversation_id=known)
        with _pipelines_lock:
            _conversations[key] = conversation_id
        return message_id

    def fire_trigger(self, *, url: str, data: dict) -> None:
        """Fire a workflow trigger: POST the event to the targetUrl GoHighLevel gave when the
        workflow subscribed, with the location's token (../shared/PROVIDERS.md)."""
        self.client.request("POST", url, json=data)

    def create_task(self, *, contact_id: str, title: str, due: datetime, body: str | None = None) -> str:
        task = {"title": title, "dueDate": due.isoformat(), "completed": False}
        if body:
            task["body"] = body
        data = self.client.request("POST", f"/contacts/{contact_id}/tasks", json=task)
        return data["task"]["id"]
