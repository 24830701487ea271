"""The CRM port for HubSpot, through hubspot-api-client.

Unlike GoHighLevel, HubSpot lets an app create deal pipelines: a "Missed Call Recovery"
pipeline with Ringback's stages is made when no pipeline has them. Associations use HubSpot's
defined types (deal->contact 3, note->contact 202, task->contact 204).
https://developers.hubspot.com/docs/api/crm/associations
"""
from __future__ import annotations

from datetime import datetime, timezone

import urllib3
from hubspot import Client
from hubspot.crm import contacts as hs_contacts
from hubspot.crm import deals as hs_deals
from hubspot.crm import pipelines as hs_pipelines
from hubspot.crm import properties as hs_properties
from hubspot.crm.objects import calls as hs_calls
from hubspot.crm.objects import communications as hs_communications
from hubspot.crm.objects import notes as hs_notes
from hubspot.crm.objects import tasks as hs_tasks

from workflows.events import BookingEvent, CallEvent
from workflows.stages import LABELS, STAGES, UnmappedStages, best_pipeline

from ..base import CrmError, FoundCall, iso_time
from . import calls, sdk
from .sdk import HUBSPOT_API

PIPELINE_LABEL = "Missed Call Recovery"
PROBABILITY = {"missed_call": "0.1", "texted_back": "0.2", "replied": "0.5", "booked": "1.0", "lost": "0.0"}
DEAL_TO_CONTACT, NOTE_TO_CONTACT, TASK_TO_CONTACT, COMMUNICATION_TO_CONTACT = 3, 202, 204, 81
TEXT_STATUS_PROPERTY = "ringback_text_status"  # a deal property, made if missing
_properties_made: set[str] = set()  # portals known to have it


def forget_properties() -> None:
    _properties_made.clear()


def make_client(token: str, api_url: str = HUBSPOT_API) -> Client:
    return sdk.client(token, api_url)


class HubSpotCrm:
    provider = "hubspot"

    def __init__(self, client: Client, stage_overrides: dict | None = None, *, limiter=None, portal_id: str = ""):
        self.client = client
        self.stage_overrides = stage_overrides or {}
        self.limiter, self.portal_id = limiter, portal_id
        self._pipeline: tuple[str, dict[str, str]] | None = None

    def _call(self, what: str, fn, *args, **kwargs):
        # A public app may make 110 requests per 10 s per installed account.
        wait = self.limiter.try_acquire(f"hubspot:{self.portal_id}", 110, 10) if self.limiter else 0.0
        if wait:
            raise CrmError(f"HubSpot's limit for portal {self.portal_id} is reached; next slot in {wait:.1f}s",
                           throttled=True, retry_after=wait)
        try:
            return fn(*args, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise CrmError(f"HubSpot unreachable ({what}): {exc}", retryable=True) from None
        except Exception as exc:  # every SDK module has its own ApiException; all carry .status
            if getattr(exc, "status", None) is None:
                raise
            raise _error(exc, what) from None

    def get_call(self, call_id: str) -> CallEvent:
        call = self._call(f"GET call {call_id}", self.client.crm.objects.calls.basic_api.get_by_id, call_id,
                          properties=calls.PROPERTIES)
        return calls.to_call_event(call.id, call.properties or {})

    def recent_calls(self, since: datetime, limit: int) -> list[FoundCall]:
        """The portal's calls created since ``since``, oldest first (catch-up): CRM search on
        hs_createdate, 100 a page. Stored with their properties, so the worker asks nothing more."""
        found, after = [], None
        while len(found) < limit:
            request = hs_calls.PublicObjectSearchRequest(
                filter_groups=[{"filters": [{"propertyName": "hs_createdate", "operator": "GTE",
                                             "value": str(int(since.timestamp() * 1000))}]}],
                sorts=[{"propertyName": "hs_createdate", "direction": "ASCENDING"}], properties=calls.PROPERTIES + ["hs_createdate"], limit=100, after=after)
            page = self._call("search calls", self.client.crm.objects.calls.search_api.do_search,
                              public_object_search_request=request)
            for call in page.results or []:
                props = {k: v for k, v in (call.properties or {}).items() if v is not None}
                found.append(FoundCall(str(call.id), "found_call", f"catch-up:call:{call.id}",
                                       {"id": str(call.id), "properties": props}, iso_time(props.get("hs_createdate"))))
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after or not page.results:
                break
        return found[:limit]

    def get_meeting(self, meeting_id: str) -> BookingEvent:
        """A logged meeting as a booking: its contact (association) and start time."""
        meeting = self._call(f"GET meeting {meeting_id}", self.client.crm.objects.meetings.basic_api.get_by_id,
                             meeting_id, properties=["hs_meeting_start_time", "hs_meeting_outcome"],
                             associations=["contacts"])
        props = meeting.properties or {}
        contacts = ((meeting.associations or {}).get("contacts") or None)
        contact = contacts.results[0].id if contacts and contacts.results else None
        outcome = (props.get("hs_meeting_outcome") or "SCHEDULED").upper()
        return BookingEvent(provider="hubspot", booking_id=f"meeting:{meeting_id}", phone=None, contact_ref=contact,
                            starts_at=iso_time(props.get("hs_meeting_start_time")), status=outcome,
                            is_booking=outcome not in ("CANCELED", "NO_SHOW"))

    def stage_outcome(self, stage_id: str) -> str | None:
        """"booked" or "lost" when a deal stage id is the one Ringback's Booked or Lost maps to,
        else None (never creates a pipeline)."""
        existing = self._call("list deal pipelines", self.client.crm.pipelines.pipelines_api.get_all, "deals")
        pipelines = {p.id: {st.id: st.label for st in (p.stages or [])} for p in existing.results or []}
        try:
            mapped = best_pipeline(pipelines, self.stage_overrides.get("stages"))[1]
        except UnmappedStages:
            return None
        return next((outcome for outcome in ("booked", "lost") if mapped.get(outcome) == stage_id), None)

    def contact_phone(self, contact_id: str) -> str | None:
        contact = self._call(f"GET contact {contact_id}", self.client.crm.contacts.basic_api.get_by_id, contact_id,
                             properties=["phone", "mobilephone"])
        props = contact.properties or {}
        return props.get("mobilephone") or props.get("phone")

    def upsert_contact(self, *, phone: str, first_name: str | None = None) -> str:
        # HubSpot's search matches a phone on area code and local number, whatever its format.
        search = hs_contacts.PublicObjectSearchRequest(
            filter_groups=[hs_contacts.FilterGroup(filters=[hs_contacts.Filter(property_name="phone", operator="EQ",
                                                                               value=phone)])],
            properties=["phone"], limit=1)
        found = self._call("search contacts", self.client.crm.contacts.search_api.do_search,
                           public_object_search_request=search)
        if found.results:
            return found.results[0].id
        props = {"phone": phone, "lifecyclestage": "lead"}
        if first_name:
            props["firstname"] = first_name
        created = self._call("create contact", self.client.crm.contacts.basic_api.create,
                             simple_public_object_input_for_create=hs_contacts.SimplePublicObjectInputForCreate(
                                 properties=props))
        return created.id

    def pipeline(self) -> tuple[str, dict[str, str]]:
        """(pipeline id, {Ringback stage: HubSpot stage id}), creating the pipeline when none has the stages."""
        if self._pipeline is None:
            existing = self._call("list deal pipelines", self.client.crm.pipelines.pipelines_api.get_all, "deals")
            pipelines = {p.id: {st.id: st.label for st in (p.stages or [])} for p in existing.results or []}
            try:
                self._pipeline = best_pipeline(pipelines, self.stage_overrides.get("stages"))
            except UnmappedStages:
                made = self._call("create the Missed Call Recovery pipeline",
                                  self.client.crm.pipelines.pipelines_api.create, "deals",
                                  pipeline_input=hs_pipelines.PipelineInput(
                                      label=PIPELINE_LABEL, display_order=99,
                                      stages=[hs_pipelines.PipelineStageInput(
                                          label=LABELS[key], display_order=i, metadata={"probability": PROBABILITY[key]})
                                          for i, key in enumerate(STAGES)]))
                self._pipeline = best_pipeline({made.id: {st.id: st.label for st in made.stages}})
        return self._pipeline

    def open_deal(self, *, contact_id: str, name: str, stage: str, value: float | None = None) -> str:
        pipeline_id, stages = self.pipeline()
        props = {"dealname": name, "pipeline": pipeline_id, "dealstage": stages[stage]}
        if value is not None:
            props["amount"] = str(value)
        deal = self._call("create deal", self.client.crm.deals.basic_api.create,
                          simple_public_object_input_for_create=hs_deals.SimplePublicObjectInputForCreate(
                              properties=props, associations=[_association(hs_deals, contact_id, DEAL_TO_CONTACT)]))
        return deal.id

    def move_deal(self, *, deal_id: str, stage: str, value: float | None = None) -> None:
        _, stages = self.pipeline()
        props = {"dealstage": stages[stage]}
        if value is not None:
            props["amount"] = str(value)
        self._call(f"update deal {deal_id}", self.client.crm.deals.basic_api.update, deal_id,
                   simple_public_object_input=hs_deals.SimplePublicObjectInput(properties=props))

    def set_text_status(self, *, deal_id: str, status: str) -> None:
        """Write the text-back's delivery status to the deal's ringback_text_status property."""
        self._ensure_text_status_property()
        self._call(f"update deal {deal_id}", self.client.crm.deals.basic_api.update, deal_id,
                   simple_public_object_input=hs_deals.SimplePublicObjectInput(
                       properties={TEXT_STATUS_PROPERTY: status}))

    def _ensure_text_status_property(self) -> None:
        if self.portal_id in _properties_made:
            return
        try:
            self._call("read deal property", self.client.crm.properties.core_api.get_by_name, "deals",
                       TEXT_STATUS_PROPERTY)
        except CrmError as exc:
            if exc.status != 404:
                raise
            self._call("create deal property", self.client.crm.properties.core_api.create, "deals",
                       property_create=hs_properties.PropertyCreate(
                           name=TEXT_STATUS_PROPERTY, label="Ringback text status", type="string", field_type="text",
                           group_name="dealinformation", description="Delivery status of Ringback's missed-call text"))
        _properties_made.add(self.portal_id)

    def add_note(self, *, contact_id: str, body: str) -> str:
        note = self._call("create note", self.client.crm.objects.notes.basic_api.create,
                          simple_public_object_input_for_create=hs_notes.SimplePublicObjectInputForCreate(
                              properties={"hs_note_body": body, "hs_timestamp": _now()},
                              associations=[_association(hs_notes, contact_id, NOTE_TO_CONTACT)]))
        return note.id

    def log_sms(self, *, contact_id: str, direction: str, body: str) -> str:
        """The text as an SMS communication on the contact's timeline (HubSpot's conversation record)."""
        prefix = "Ringback to caller" if direction == "outbound" else "Caller to Ringback"
        made = self._call("log SMS", self.client.crm.objects.communications.basic_api.create,
                          simple_public_object_input_for_create=hs_communications.SimplePublicObjectInputForCreate(
                              properties={"hs_communication_channel_type": "SMS", "hs_communication_logged_from": "CRM",
                                          "hs_communication_body": f"{prefix}: {body}", "hs_timestamp": _now()},
                              associations=[_association(hs_communications, contact_id, COMMUNICATION_TO_CONTACT)]))
        return made.id

    def create_task(self, *, contact_id: str, title: str, due: datetime, body: str | None = None) -> str:
        props = {"hs_task_subject": title, "hs_task_status": "NOT_STARTED", "hs_task_type": "CALL",
                 "hs_timestamp": due.isoformat()}
        if body:
            props["hs_task_body"] = body
        task = self._call("create task", self.client.crm.objects.tasks.basic_api.create,
                          simple_public_object_input_for_create=hs_tasks.SimplePublicObjectInputForCreate(
                              properties=props,
                              associations=[_association(hs_tasks, contact_id, TASK_TO_CONTACT)]))
        return task.id


def _association(module, contact_id: str, type_id: int):
    return module.PublicAssociationsForObject(
        to=module.PublicObjectId(id=contact_id),
        types=[module.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _error(exc, what: str) -> CrmError:
    status = getattr(exc, "status", None) or 0
    headers = getattr(exc, "headers", None) or {}
    message = f"HubSpot {what}: {status} {getattr(exc, 'reason', '')}".strip()
    if status == 429 or status >= 500:
        retry_after = headers.get("Retry-After")
        return CrmError(message, status=status, retryable=True,
                        retry_after=float(retry_after) if retry_after else (10.0 if status == 429 else None))
    return CrmError(message, status=status, token_expired=status == 401)
