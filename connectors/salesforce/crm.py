"""The CRM port for Salesforce, through simple-salesforce.

A new caller becomes a Lead and the Lead's Status is the pipeline (Lead Status values are the
org's own: read from LeadStatus and matched by name); a caller who is already a Contact gets an
Opportunity whose StageName follows the org's OpportunityStage values. Notes are completed
Tasks on the person (TaskSubtype Task, so the call-Task Flow never fires for them).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (SalesforceError, SalesforceExpiredSession, SalesforceMalformedRequest,
                                          SalesforceResourceNotFound)

from workflows.stages import best_pipeline

from ..base import CrmError, FoundCall, iso_time, timed_session

API_VERSION = "59.0"
TEXT_STATUS_FIELD = "Ringback_Text_Status__c"  # shipped in the package metadata; skipped where absent


def make_client(instance_url: str, token: str, session: requests.Session | None = None) -> Salesforce:
    # simple-salesforce passes no timeout to requests: the session's transport adds one.
    return Salesforce(instance_url=instance_url, session_id=token, version=API_VERSION,
                      session=session or timed_session())


class SalesforceCrm:
    provider = "salesforce"

    def __init__(self, sf: Salesforce, stage_overrides: dict | None = None):
        self.sf = sf
        self.stage_overrides = stage_overrides or {}
        self._stages: dict[str, dict[str, str]] = {}

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SalesforceResourceNotFound:
            raise CrmError(f"Salesforce {what}: not found", status=404) from None
        except SalesforceExpiredSession as exc:
            raise CrmError(f"Salesforce session expired ({what}): {exc}", status=401, token_expired=True) from None
        except SalesforceMalformedRequest as exc:
            raise CrmError(f"Salesforce refused {what}: {exc.content}", status=400) from None
        except SalesforceError as exc:
            status = getattr(exc, "status", 0) or 0
            raise CrmError(f"Salesforce {what}: {status} {exc.content}", status=status,
                           retryable=status >= 500 or status == 429) from None
        except requests.RequestException as exc:
            raise CrmError(f"Salesforce unreachable ({what}): {exc}", retryable=True) from None

    def recent_calls(self, since: datetime, limit: int) -> list[FoundCall]:
        """The org's call Tasks created since ``since``, oldest first (catch-up), as the Outbound
        Message notifications they would have come as."""
        soql = ("SELECT Id, WhoId, CallType, CallDurationInSeconds, CallDisposition, TaskSubtype, CreatedDate "
                f"FROM Task WHERE TaskSubtype = 'Call' AND CreatedDate >= {since.strftime('%Y-%m-%dT%H:%M:%SZ')} "
                f"ORDER BY CreatedDate LIMIT {int(limit)}")
        records = self._call("query call Tasks", self.sf.query_all, soql).get("records") or []
        found = []
        for rec in records:
            fields = {k: str(v) for k, v in rec.items() if k != "attributes" and v is not None}
            found.append(FoundCall(rec["Id"], "call", f"catch-up:task:{rec['Id']}",
                                   {"id": f"catch-up:{rec['Id']}", "type": "Task", "fields": fields},
                                   iso_time(rec.get("CreatedDate"))))
        return found

    def contact_phone(self, who_id: str) -> str | None:
        """The number of the Lead (00Q...) or Contact (003...) a call Task is about."""
        sobject = {"00Q": self.sf.Lead, "003": self.sf.Contact}.get(who_id[:3])
        if sobject is None:
            return None
        try:
            record = self._call(f"GET {who_id}", sobject.get, who_id)
        except CrmError as exc:
            if exc.status == 404:
                return None
            raise
        return record.get("MobilePhone") or record.get("Phone")

    def upsert_contact(self, *, phone: str, first_name: str | None = None) -> str:
        # SOSL's PHONE FIELDS matches whatever format the org stored the number in.
        digits = re.sub(r"\D", "", phone)[-10:]
        found = self._call("search by phone", self.sf.search,
                           f"FIND {{{digits}}} IN PHONE FIELDS RETURNING Contact(Id), Lead(Id WHERE IsConverted = false)")
        records = (found or {}).get("searchRecords") or []
        if records:
            return records[0]["Id"]
        created = self._call("create Lead", self.sf.Lead.create, {
            "LastName": f"Missed caller {phone}" if not first_name else first_name, "Company": "Unknown (missed call)",
            "Phone": phone, "LeadSource": "Phone Inquiry"})
        return created["id"]

    def stages(self, kind: str) -> dict[str, str]:
        """{Ringback stage: the org's picklist API name} for Lead Status or Opportunity StageName."""
        if kind not in self._stages:
            sobject, query = ("LeadStatus", "SELECT ApiName, MasterLabel FROM LeadStatus") if kind == "lead" else \
                ("OpportunityStage", "SELECT ApiName, MasterLabel FROM OpportunityStage WHERE IsActive = true")
            rows = self._call(f"read {sobject}", self.sf.query, query)["records"]
            names = {r["ApiName"]: r["MasterLabel"] for r in rows}
            _, mapping = best_pipeline({sobject: names}, self.stage_overrides.get(kind) or self.stage_overrides.get("stages"))
            self._stages[kind] = mapping
        return self._stages[kind]

    def open_deal(self, *, contact_id: str, name: str, stage: str, value: float | None = None) -> str:
        if contact_id.startswith("00Q"):  # a Lead: its Status is the pipeline
            self._call(f"update Lead {contact_id}", self.sf.Lead.update, contact_id, {"Status": self.stages("lead")[stage]})
            return contact_id
        body = {"Name": name, "StageName": self.stages("opportunity")[stage], "ContactId": contact_id,
                "CloseDate": (date.today() + timedelta(days=30)).isoformat(), "LeadSource": "Phone Inquiry"}
        if value is not None:
            body["Amount"] = value
        return self._call("create Opportunity", self.sf.Opportunity.create, body)["id"]

    def move_deal(self, *, deal_id: str, stage: str, value: float | None = None) -> None:
        if deal_id.startswith("00Q"):
            self._call(f"update Lead {deal_id}", self.sf.Lead.update, deal_id, {"Status": self.stages("lead")[stage]})
            return
        body = {"StageName": self.stages("opportunity")[stage]}
        if value is not None:
            body["Amount"] = value
        self._call(f"update Opportunity {deal_id}", self.sf.Opportunity.update, deal_id, body)

    def add_note(self, *, contact_id: str, body: str) -> str:
        return self._call("create Task", self.sf.Task.create, {
            "WhoId": contact_id, "Subject": "Ringback text", "Description": body, "Status": "Completed",
            "Priority": "Normal", "TaskSubtype": "Task", "ActivityDate": date.today().isoformat()})["id"]

    def create_task(self, *, contact_id: str, title: str, due, body: str | None = None) -> str:
        task = {"WhoId": contact_id, "Subject": title, "Status": "Not Started", "Priority": "High",
                "TaskSubtype": "Call", "ActivityDate": due.date().isoformat()}
        if body:
            task["Description"] = body
        return self._call("create Task", self.sf.Task.create, task)["id"]

    def set_text_status(self, *, deal_id: str, status: str) -> None:
        sobject = self.sf.Lead if deal_id.startswith("00Q") else self.sf.Opportunity
        fields = {f["name"] for f in self._call("describe", sobject.describe)["fields"]}
        if TEXT_STATUS_FIELD in fields:  # absent until the package metadata is deployed: then skipped
            self._call(f"update {deal_id}", sobject.update, deal_id, {TEXT_STATUS_FIELD: status})
