"""A fake Salesforce org's REST API on loopback HTTPS (simple-salesforce only speaks https).

Salesforce publishes no static spec: this fake holds the contract for the calls Ringback makes
(sObject GET by id) with Salesforce's own error shapes (INVALID_SESSION_ID, NOT_FOUND), checks
the session id, can be told to fail, and records anything it does not serve.
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
from datetime import datetime, timezone

from flask import Flask, Response, request

from tests.fakes.server import QuietSpells, strict

API = "/services/data/v59.0"
ORG_ID, USER_ID = "00D5e000000Ab1cEAC", "0055e000003XyZaAAC"
CLIENT_ID = "3MVG9fake.consumer.key.for.ringback.tests"
CLIENT_SECRET = "7C1F4A2B9D8E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1"


class FakeSalesforce(QuietSpells):
    def __init__(self):
        self.session_id = "00D5e000000Ab1c!AQ4AQFake.Session.Id"
        self.records: dict[tuple[str, str], dict] = {}
        self.requests: list[str] = []
        self.unexpected: list[str] = []
        self._failures: list[int] = []
        self.invalid: list[str] = []
        self.custom_fields: dict[str, list[str]] = {}
        # An org that added Ringback's values to its picklists (Setup, Lead Status / Stage).
        self.lead_statuses = ["Open - Not Contacted", "Missed call", "Texted back", "Replied", "Booked",
                              "Closed - Not Converted"]
        self.opportunity_stages = ["Prospecting", "Missed Call", "Texted Back", "Replied", "Closed Won", "Closed Lost"]
        self._lock = threading.Lock()
        self.refresh_tokens: set[str] = set()
        self.codes: dict[str, str] = {}  # authorization code -> redirect_uri it was issued for
        self.refreshes = 0
        self.org_name = "Acme Plumbing & Heating"
        self.url = ""
        self.app = self._make_app()

    def put(self, sobject: str, record_id: str, fields: dict) -> None:
        self.records[(sobject, record_id)] = {"attributes": {"type": sobject, "url": f"{API}/sobjects/{sobject}/{record_id}"},
                                              "Id": record_id} | fields

    def fields_of(self, sobject: str) -> list[str]:
        base = {"Lead": ["Id", "LastName", "Company", "Phone", "MobilePhone", "Status", "LeadSource", "IsConverted"],
                "Opportunity": ["Id", "Name", "StageName", "CloseDate", "Amount", "ContactId", "LeadSource"],
                "Contact": ["Id", "LastName", "Phone", "MobilePhone"],
                "Task": ["Id", "WhoId", "Subject", "Description", "Status", "Priority", "TaskSubtype", "ActivityDate"]}
        return base.get(sobject, []) + self.custom_fields.get(sobject, [])

    def _check(self, sobject: str, body: dict, creating: bool):
        """Salesforce's answers to what Ringback writes: required fields, restricted picklists, unknown fields."""
        unknown = [k for k in body if k not in self.fields_of(sobject)]
        if unknown:
            return "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {sobject}"
        required = {"Lead": ["LastName", "Company"], "Opportunity": ["Name", "StageName", "CloseDate"]}.get(sobject, [])
        missing = [k for k in required if creating and not body.get(k)]
        if missing:
            return "REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}"
        if "Status" in body and sobject == "Lead" and body["Status"] not in self.lead_statuses:
            return "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"Status: bad value for restricted picklist field: {body['Status']}"
        if "StageName" in body and body["StageName"] not in self.opportunity_stages:
            return "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"Stage: bad value for restricted picklist field: {body['StageName']}"
        return None

    def call_task(self, who_id: str, *, call_type: str = "Inbound", seconds: int = 0,
                  disposition: str | None = None, at: datetime | None = None) -> str:
        """A call Task logged in the org (as a calling app logs it), with no Outbound Message sent."""
        task_id = "00T" + secrets.token_hex(6).upper()[:12] + "AAA"
        when = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        with self._lock:
            self.put("Task", task_id, {"WhoId": who_id, "Subject": "Call", "TaskSubtype": "Call", "CallType": call_type,
                                       "CallDurationInSeconds": seconds, "CallDisposition": disposition,
                                       "Status": "Completed", "CreatedDate": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")})
        return task_id

    def tasks(self) -> list[dict]:
        return [r for (t, _), r in self.records.items() if t == "Task"]

    def fail_next(self, status: int) -> None:
        self._failures.append(status)

    def expire(self) -> None:
        """The session ends (the org's timeout): the API answers INVALID_SESSION_ID."""
        self.session_id = f"00D5e000000Ab1c!expired.{secrets.token_hex(4)}"

    def issue_refresh_token(self) -> str:
        token = f"5Aep861fake{secrets.token_hex(12)}"
        self.refresh_tokens.add(token)
        return token

    def authorize(self, redirect_uri: str) -> str:
        """The code Salesforce's consent page would redirect back with."""
        code = f"aPrx{secrets.token_hex(16)}"
        self.codes[code] = redirect_uri
        return code

    def _make_app(self) -> Flask:
        app = Flask("fake-salesforce")

        @app.before_request
        def _gate():
            if request.url_rule is None or request.path == "/services/oauth2/token":
                return None
            with self._lock:
                self.requests.append(f"{request.method} {request.path}")
                failure = self._failures.pop(0) if self._failures else None
            if request.headers.get("Authorization") != f"Bearer {self.session_id}":
                return _json([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
            if failure:
                return _json([{"message": "Server Error", "errorCode": "UNKNOWN_EXCEPTION"}], failure)
            self._hang()
            return None

        @app.post("/services/oauth2/token")
        def token():
            form = request.form
            with self._lock:
                self.requests.append("POST /services/oauth2/token")
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return _json({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
            body = {"instance_url": self.url, "id": f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}",
                    "token_type": "Bearer", "issued_at": str(int(time.time() * 1000)), "scope": "api refresh_token",
                    "signature": secrets.token_urlsafe(32)}
            if form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") not in self.refresh_tokens:
                    return _json({"error": "invalid_grant", "error_description": "expired access/refresh token"}, 400)
                with self._lock:
                    self.refreshes += 1
                    self.session_id = f"00D5e000000Ab1c!AQ4AQ.{secrets.token_hex(16)}"
                return _json(body | {"access_token": self.session_id})
            if form.get("grant_type") == "authorization_code":
                if self.codes.pop(form.get("code"), None) != form.get("redirect_uri"):
                    return _json({"error": "invalid_grant", "error_description": "invalid authorization code"}, 400)
                with self._lock:
                    self.session_id = f"00D5e000000Ab1c!AQ4AQ.{secrets.token_hex(16)}"
                return _json(body | {"access_token": self.session_id, "refresh_token": self.issue_refresh_token()})
            return _json({"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400)

        @app.get(f"{API}/sobjects/<sobject>/<record_id>")
        def get_record(sobject, record_id):
            record = self.records.get((sobject, record_id))
            if record is None:
                return _json([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
            return _json(record)

        @app.get(f"{API}/search/")
        def search():
            q = request.args["q"]
            m = re.match(r"FIND \{(\d+)\} IN PHONE FIELDS RETURNING Contact\(Id\), Lead\(Id WHERE IsConverted = false\)$", q)
            if not m:
                self.invalid.append(f"SOSL the fake does not serve: {q}")
                return _json([{"errorCode": "MALFORMED_SEARCH", "message": q}], 400)
            found = [{"attributes": {"type": t, "url": f"{API}/sobjects/{t}/{rid}"}, "Id": rid}
                     for (t, rid), rec in self.records.items()
                     if t in ("Contact", "Lead") and not rec.get("IsConverted")
                     and m.group(1) in {_digits(rec.get("Phone")), _digits(rec.get("MobilePhone"))}]
            found.sort(key=lambda r: r["attributes"]["type"] != "Contact")  # RETURNING order: Contacts first
            return _json({"searchRecords": found})

        @app.get(f"{API}/query/")
        def query():
            q = request.args["q"]
            if q == "SELECT Id, Name, TimeZoneSidKey FROM Organization":
                return _json({"totalSize": 1, "done": True, "records": [{
                    "attributes": {"type": "Organization", "url": f"{API}/sobjects/Organization/{ORG_ID}"},
                    "Id": ORG_ID, "Name": self.org_name, "TimeZoneSidKey": "America/Chicago"}]})
            calls = re.match(r"SELECT Id, WhoId, CallType, CallDurationInSeconds, CallDisposition, TaskSubtype, "
                             r"CreatedDate FROM Task WHERE TaskSubtype = 'Call' AND CreatedDate >= "
                             r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) ORDER BY CreatedDate LIMIT (\d+)$", q)
            if calls:
                since = datetime.fromisoformat(calls.group(1).replace("Z", "+00:00"))
                rows = sorted((dict(rec, Id=rid) for (t, rid), rec in self.records.items()
                               if t == "Task" and rec.get("TaskSubtype") == "Call"
                               and _sf_time(rec["CreatedDate"]) >= since), key=lambda r: _sf_time(r["CreatedDate"]))
                fields = ("Id", "WhoId", "CallType", "CallDurationInSeconds", "CallDisposition", "TaskSubtype",
                          "CreatedDate")
                rows = [{"attributes": {"type": "Task", "url": f"{API}/sobjects/Task/{r['Id']}"}}
                        | {f: r.get(f) for f in fields} for r in rows[:int(calls.group(2))]]
                return _json({"totalSize": len(rows), "done": True, "records": rows})
            source = {"SELECT ApiName, MasterLabel FROM LeadStatus": self.lead_statuses,
                      "SELECT ApiName, MasterLabel FROM OpportunityStage WHERE IsActive = true": self.opportunity_stages}
            if q not in source:
                self.invalid.append(f"SOQL the fake does not serve: {q}")
                return _json([{"errorCode": "MALFORMED_QUERY", "message": q}], 400)
            rows = [{"attributes": {"type": q.split("FROM ")[1].split()[0]}, "ApiName": v, "MasterLabel": v}
                    for v in source[q]]
            return _json({"totalSize": len(rows), "done": True, "records": rows})

        @app.get(f"{API}/sobjects/<sobject>/describe")
        def describe(sobject):
            return _json({"name": sobject, "fields": [{"name": f} for f in self.fields_of(sobject)]})

        @app.post(f"{API}/sobjects/<sobject>/")
        def create(sobject):
            body = request.get_json()
            problem = self._check(sobject, body, creating=True)
            if problem:
                self.invalid.append(f"create {sobject}: {problem[1]}")
                return _json([{"message": problem[1], "errorCode": problem[0], "fields": []}], 400)
            prefix = {"Lead": "00Q", "Contact": "003", "Opportunity": "006", "Task": "00T"}[sobject]
            rid = f"{prefix}5e00000{len(self.records):08d}AAA"[:18]
            self.put(sobject, rid, body)
            return _json({"id": rid, "success": True, "errors": []}, 201)

        @app.patch(f"{API}/sobjects/<sobject>/<record_id>")
        def update(sobject, record_id):
            record = self.records.get((sobject, record_id))
            if record is None:
                return _json([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
            body = request.get_json()
            problem = self._check(sobject, body, creating=False)
            if problem:
                self.invalid.append(f"update {sobject}: {problem[1]}")
                return _json([{"message": problem[1], "errorCode": problem[0], "fields": []}], 400)
            record.update(body)
            return Response(status=204)

        strict(app, self, lambda: _json([{"errorCode": "NOT_FOUND", "message": "Not found"}], 404))

        return app


def _sf_time(value: str) -> datetime:
    """Salesforce's datetime format (2026-12-01T10:00:00.000+0000)."""
    return datetime.fromisoformat(value)


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")[-10:]


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")
