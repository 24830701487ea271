"""A fake GoHighLevel API v2 on loopback: contacts, opportunities, pipelines, notes, tasks.

Requests are validated against GoHighLevel's own OpenAPI files in
../shared/contracts/ghl/apps (read in place). Their security schemes do not pass OpenAPI's own
schema (an `http` scheme with `name`/`in`), so the spec document itself is not validated;
every request and every answer still is. The fake keeps state, checks the Bearer token per
location, enforces the published 100 requests per 10 s per location (429 with GoHighLevel's
X-RateLimit-* headers), can be told to fail, and records anything it does not serve.
"""
from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import datetime, timezone

from flask import Flask, Response, request
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

from tests.fakes.server import strict
from tests import contracts

APPS = "ghl/apps"
# Where GoHighLevel's spec contradicts what its API answers, the fake answers like the API.
# Pipelines: the spec types `stages` as an array of arrays; the API (and every client of it)
# gives stage objects {id, name, position}.
SPEC_ANSWER_ERRATA = {"GET /opportunities/pipelines"}


def _request_errata(name: str, spec: dict) -> None:
    """Where GoHighLevel's spec asks more of a request than its API does, relax just that.

    conversations.json: SendMessageBodyDto requires ``subType`` (typed object, example "Email")
    and ``status``; every client of the live API sends {type, contactId, message} and GoHighLevel
    accepts it. ProcessMessageBodyDto types ``direction`` as an object whose default and
    examples are the strings "outbound"/"inbound"."""
    if name != "conversations.json":
        return
    schemas = spec["components"]["schemas"]
    schemas["SendMessageBodyDto"]["required"] = ["type", "contactId"]
    schemas["ProcessMessageBodyDto"]["properties"]["direction"] = {"type": "string", "enum": ["outbound", "inbound"]}
SPEC_FOR_PREFIX = {"/phone-system": "phone-system.json", "/contacts": "contacts.json", "/opportunities": "opportunities.json",
                   "/locations": "locations.json", "/conversations": "conversations.json", "/oauth": "oauth.json"}
CLIENT_ID, CLIENT_SECRET = "66a0419a0dffa47fb5f8b22f-m1abcde2", "5b1e7c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b"


def _id() -> str:
    return secrets.token_urlsafe(15)[:20]


class FakeGhl:
    def __init__(self, *, limit: int = 100, window: float = 10.0):
        self.limit, self.window = limit, window
        self.tokens: dict[str, str] = {}  # locationId -> token
        self.pipelines: dict[str, list[dict]] = {}
        self.contacts: dict[str, dict] = {}
        self.opportunities: dict[str, dict] = {}
        self.notes: list[dict] = []
        self.tasks: list[dict] = []
        self.fields: dict[str, list[dict]] = {}
        self.conversations: dict[str, dict] = {}  # id -> conversation
        self.messages: list[dict] = []  # every message, in GoHighLevel's GetMessageResponseDto shape
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> location (or "company:<id>")
        self.company_tokens: dict[str, str] = {}  # companyId -> agency token
        self.company_locations: dict[str, list[str]] = {}  # companyId -> locations with the app installed
        self.locations: dict[str, dict] = {}  # locationId -> GET /locations/{id}'s location
        self.phone_numbers: dict[str, list[dict]] = {}  # locationId -> its active numbers
        self.numbers_scope_granted = True  # phonenumbers.read: False answers as GoHighLevel does without it
        self.codes: dict[str, dict] = {}  # authorization code -> what it grants
        self.location_token_exchanges = 0
        self.fired: list[dict] = []  # workflow trigger executions
        self.recently_used: dict[str, tuple[float, dict]] = {}
        self.refreshes = self.refused_refreshes = 0
        self.unexpected: list[str] = []
        self.invalid: list[str] = []
        self.requests: list[tuple[float, str, str]] = []  # (time, location, "METHOD path")
        self.throttled = 0
        self._failures: list[tuple[int, dict]] = []
        self._flaky: tuple | None = None  # (share, statuses, until (monotonic), random.Random)
        self.flaky_failed = 0
        self._fail_after_send: int | None = None
        self._hits: dict[str, deque] = defaultdict(deque)
        self._lock = threading.RLock()
        self._specs: dict[str, OpenAPI] = {}
        self.url = ""
        self.app = self._make_app()

    # ------------------------------------------------------------- test controls

    def install(self, location_id: str, token: str, stages=("Missed call", "Texted back", "Replied", "Booked", "Lost"),
                pipeline_name: str = "Missed Call Recovery") -> dict:
        """A location with a token and one pipeline whose stages have these names."""
        with self._lock:
            self.tokens[location_id] = token
            pipeline = {"id": _id(), "name": pipeline_name, "locationId": location_id,
                        "stages": [{"id": _id(), "name": n, "position": i} for i, n in enumerate(stages)]}
            self.pipelines.setdefault(location_id, []).append(pipeline)
            return pipeline

    def install_oauth(self, location_id: str) -> tuple[str, str]:
        """An OAuth install: (access token, refresh token) as the token endpoint would issue them."""
        access, refresh = f"at-{_id()}", f"rt-{_id()}"
        with self._lock:
            self.tokens[location_id] = access
            self.refresh_tokens[refresh] = location_id
        return access, refresh

    def add_location(self, location_id: str, company_id: str, name: str, timezone: str = "America/Chicago") -> None:
        """A sub-account of ``company_id`` (with a pipeline named like Ringback's stages)."""
        with self._lock:
            self.locations[location_id] = {"id": location_id, "companyId": company_id, "name": name,
                                           "timezone": timezone, "phone": "+15125550100", "country": "US"}
            self.install(location_id, f"unissued-{_id()}")

    def add_number(self, location_id: str, phone: str, *, default: bool = False, sms: bool = True) -> None:
        """An active number of the location (GoHighLevel's DetailedPhoneNumberDto)."""
        with self._lock:
            self.phone_numbers.setdefault(location_id, []).append({
                "phoneNumber": phone, "friendlyName": None, "sid": "PN" + secrets.token_hex(16), "countryCode": "US",
                "capabilities": {"voice": True, "sms": sms, "mms": sms, "fax": False}, "type": "local",
                "isDefaultNumber": default, "linkedUser": None, "linkedRingAllUsers": [],
                "inboundCallService": None, "forwardingNumber": None, "isGroupConversationEnabled": sms})

    def authorize(self, redirect_uri: str, *, location_id: str | None = None, company_id: str | None = None,
                  locations: list[str] | None = None) -> str:
        """The code GoHighLevel's chooselocation page would redirect back with: a Location install
        (``location_id``), or an agency install of ``company_id`` approved for ``locations``."""
        code = _id() + _id()
        with self._lock:
            self.codes[code] = {"redirect_uri": redirect_uri, "location_id": location_id, "company_id": company_id}
            if company_id and locations is not None:
                self.company_locations[company_id] = list(locations)
        return code

    def expire(self, location_id: str) -> None:
        """The location's access token stops working (it is 24 hours old)."""
        with self._lock:
            self.tokens[location_id] = f"expired-{_id()}-never-sent"

    def stage_name(self, opportunity: dict) -> str:
        for p in self.pipelines[opportunity["locationId"]]:
            for st in p["stages"]:
                if st["id"] == opportunity["pipelineStageId"]:
                    return st["name"]
        raise KeyError(opportunity["pipelineStageId"])

    def fail_next(self, status: int, times: int = 1, headers: dict | None = None) -> None:
        with self._lock:
            self._failures.extend([(status, headers or {})] * times)

    def flaky(self, share: float, seconds: float, statuses=(429, 500, 502, 503), seed: int = 0) -> None:
        """For the next ``seconds``, answer a ``share`` of requests with one of ``statuses`` (a bad few
        minutes at GoHighLevel); a 429 names a 1 s interval, as GoHighLevel's own headers do."""
        with self._lock:
            self._flaky = (share, tuple(statuses), time.monotonic() + seconds, random.Random(seed))

    def fail_after_sending(self, status: int = 502) -> None:
        """The next text sent is kept (and listed) but answered with ``status``: a gateway timing out."""
        with self._lock:
            self._fail_after_send = status

    def load_specs(self, base_url: str) -> None:
        for name in set(SPEC_FOR_PREFIX.values()):
            path = contracts.find(f"{APPS}/{name}")
            if path is None:  # no contracts beside the repository: answered unvalidated
                continue
            spec = json.loads(path.read_text())
            spec["servers"] = [{"url": base_url}]
            _request_errata(name, spec)
            self._specs[name] = OpenAPI.from_dict(spec, base_uri=path.as_uri(), config=Config(spec_validator_cls=None))

    # ------------------------------------------------------------- the API

    def _spec(self):
        for prefix, name in SPEC_FOR_PREFIX.items():
            if request.path.startswith(prefix):
                return self._specs.get(name)
        return None

    def _make_app(self) -> Flask:
        app = Flask("fake-ghl")

        @app.before_request
        def _gate():
            if request.url_rule is None:
                return None
            spec = self._spec()
            if spec is not None:
                try:
                    spec.validate_request(WerkzeugOpenAPIRequest(request))
                except Exception as exc:
                    with self._lock:
                        self.invalid.append(f"{request.method} {request.full_path}: {exc} {exc.__cause__ or ''}")
                    return _json({"statusCode": 422, "message": [str(exc)]}, 422)
            if request.path == "/oauth/token":
                return None  # client credentials, checked by the endpoint
            token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            if request.path.startswith("/oauth/"):  # agency endpoints: the Company token
                company = request.args.get("companyId") or request.form.get("companyId")
                if not company or self.company_tokens.get(company) != token:
                    return _json({"statusCode": 401, "message": "Invalid JWT"}, 401)
                return None
            if request.path.startswith("/workflows-marketplace/"):
                # A trigger's target URL: the location is the one whose token is presented.
                if token not in self.tokens.values():
                    return _json({"statusCode": 401, "message": "Invalid JWT"}, 401)
                return None
            # Location tokens are scoped to their location: a request naming nothing the fake
            # knows (an unknown contact, say) is the token's own location's, and answered as such.
            location = self._location_of_request() or next(
                (loc for loc, t in self.tokens.items() if t == token), None)
            if location is None or self.tokens.get(location) != token:
                return _json({"statusCode": 401, "message": "Invalid JWT"}, 401)
            with self._lock:
                self.requests.append((time.monotonic(), location, f"{request.method} {request.path}"))
                hits = self._hits[location]
                now = time.monotonic()
                while hits and hits[0] <= now - self.window:
                    hits.popleft()
                headers = {"X-RateLimit-Max": str(self.limit), "X-RateLimit-Interval-Milliseconds": str(int(self.window * 1000)),
                           "X-RateLimit-Limit-Daily": "200000", "X-RateLimit-Daily-Remaining": "199000"}
                if len(hits) >= self.limit:
                    self.throttled += 1
                    wait_ms = int((hits[0] + self.window - now) * 1000) + 1
                    return _json({"statusCode": 429, "message": "Too Many Requests"}, 429,
                                 headers | {"X-RateLimit-Remaining": "0", "X-RateLimit-Interval-Milliseconds": str(wait_ms)})
                hits.append(now)
                if self._failures:
                    status, extra = self._failures.pop(0)
                    return _json({"statusCode": status, "message": "Injected failure"}, status, headers | extra)
                if self._flaky is not None:
                    share, statuses, until, rng = self._flaky
                    if now < until and rng.random() < share:
                        self.flaky_failed += 1
                        status = rng.choice(statuses)
                        extra = {"X-RateLimit-Remaining": "0", "X-RateLimit-Interval-Milliseconds": "1000"} \
                            if status == 429 else {}
                        return _json({"statusCode": status, "message": "Injected failure"}, status, headers | extra)
            return None

        @app.after_request
        def _check(response):
            spec = self._spec() if request.url_rule is not None else None
            if f"{request.method} {request.path}" in SPEC_ANSWER_ERRATA:
                spec = None
            if spec is not None and response.status_code < 300:
                try:
                    spec.validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
                except Exception as exc:
                    with self._lock:
                        self.invalid.append(f"fake answered off-spec {request.path}: {exc}")
            return response

        @app.post("/oauth/token")
        def token():
            form = request.form
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return _json({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
            if form.get("grant_type") == "authorization_code":
                with self._lock:
                    grant = self.codes.pop(form.get("code"), None)
                    if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                        return _json({"error": "invalid_grant", "error_description": "Invalid authorization code"}, 400)
                    access, refresh = f"at-{_id()}", f"rt-{_id()}"
                    body = {"access_token": access, "token_type": "Bearer", "expires_in": 86399,
                            "refresh_token": refresh, "scope": "contacts.write opportunities.write oauth.write",
                            "userId": "YlWd2wuCAZQzh2cH1fVZ", "isBulkInstallation": False}
                    if grant["location_id"]:
                        loc = grant["location_id"]
                        self.tokens[loc] = access
                        self.refresh_tokens[refresh] = loc
                        body |= {"userType": "Location", "locationId": loc,
                                 "companyId": self.locations.get(loc, {}).get("companyId", "otg8dTQqGLh3Q6iQI55w")}
                    else:
                        company = grant["company_id"]
                        self.company_tokens[company] = access
                        self.refresh_tokens[refresh] = f"company:{company}"
                        body |= {"userType": "Company", "companyId": company,
                                 "approvedLocations": self.company_locations.get(company, []),
                                 "isBulkInstallation": True}
                return _json(body)
            if form.get("grant_type") != "refresh_token":
                return _json({"error": "unsupported_grant_type"}, 400)
            with self._lock:
                old = form.get("refresh_token")
                now = time.monotonic()
                # Single-use: a repeat within 30 s gets the same new pair; later, or unknown, is refused.
                if old in self.recently_used and now - self.recently_used[old][0] < 30:
                    return _json(self.recently_used[old][1])
                location = self.refresh_tokens.pop(old, None)
                if location is None:
                    self.refused_refreshes += 1
                    return _json({"error": "invalid_grant", "error_description": "Invalid refresh token"}, 401)
                self.refreshes += 1
                access, refresh = f"at-{_id()}", f"rt-{_id()}"
                self.refresh_tokens[refresh] = location
                body = {"access_token": access, "token_type": "Bearer", "expires_in": 86399, "refresh_token": refresh,
                        "scope": "contacts.write opportunities.write", "userId": "YlWd2wuCAZQzh2cH1fVZ"}
                if location.startswith("company:"):
                    self.company_tokens[location[8:]] = access
                    body |= {"userType": "Company", "companyId": location[8:]}
                else:
                    self.tokens[location] = access
                    body |= {"userType": "Location", "locationId": location, "companyId": "otg8dTQqGLh3Q6iQI55w"}
                self.recently_used[old] = (now, body)
            return _json(body)

        @app.get("/oauth/installedLocations")
        def installed_locations():
            company = request.args["companyId"]
            ids = self.company_locations.get(company, [])
            skip, limit = int(request.args.get("skip") or 0), int(request.args.get("limit") or 20)
            page = [{"_id": i, "name": self.locations.get(i, {}).get("name", i), "address": "", "isInstalled": True}
                    for i in ids][skip:skip + limit]
            return _json({"locations": page, "count": len(ids), "installToFutureLocations": True})

        @app.post("/oauth/locationToken")
        def location_token():
            company, loc = request.form["companyId"], request.form["locationId"]
            with self._lock:
                if loc not in self.company_locations.get(company, []):
                    return _json({"statusCode": 400, "message": "Location not found or app not installed"}, 400)
                access = f"lt-{_id()}"
                self.tokens[loc] = access
                self.location_token_exchanges += 1
            return _json({"access_token": access, "token_type": "Bearer", "expires_in": 86399,
                          "scope": "contacts.write opportunities.write", "locationId": loc, "userId": "YlWd2wuCAZQzh2cH1fVZ"})

        @app.get("/phone-system/numbers/location/<location_id>")
        def location_numbers(location_id):
            if not self.numbers_scope_granted:
                return _json({"statusCode": 401, "message": "The token is not authorized for this scope."}, 401)
            with self._lock:
                found = list(self.phone_numbers.get(location_id, []))
            return _json({"numbers": found, "isUnderGhl": True, "pageSize": 1000, "page": 0,
                          "accountStatus": "active"})

        @app.get("/locations/<location_id>")
        def get_location(location_id):
            loc = self.locations.get(location_id)
            if loc is None:
                return _json({"statusCode": 400, "message": "Location not found"}, 400)
            return _json({"location": loc})

        @app.get("/contacts/search/duplicate")
        def duplicate():
            loc, number = request.args["locationId"], request.args.get("number")
            with self._lock:
                found = next((c for c in self.contacts.values() if c["locationId"] == loc and number
                              and c.get("phone") == number), None)
            return _json({"contact": found} if found else {"contact": None})

        @app.get("/contacts/<contact_id>")
        def get_contact(contact_id):
            if contact_id == "search":  # /contacts/search is another endpoint
                return _json({"statusCode": 404, "message": "Not found"}, 404)
            contact = self.contacts.get(contact_id)
            if contact is None:
                return _json({"statusCode": 400, "message": "Contact not found"}, 400)
            return _json({"contact": contact})

        @app.post("/contacts/upsert")
        def upsert():
            body = request.get_json()
            with self._lock:
                found = next((c for c in self.contacts.values()
                              if c["locationId"] == body["locationId"] and c.get("phone") == body.get("phone")), None)
                new = found is None
                contact = found or {"id": _id(), "locationId": body["locationId"], "dateAdded": _now()}
                contact.update({k: v for k, v in body.items() if k in ("phone", "firstName", "lastName", "email",
                                                                      "source", "tags", "customFields")})
                self.contacts[contact["id"]] = contact
            return _json({"new": new, "contact": contact, "traceId": _id()})

        @app.post("/contacts/<contact_id>/notes")
        def add_note(contact_id):
            if contact_id not in self.contacts:
                return _json({"statusCode": 400, "message": "Contact not found"}, 400)
            note = {"id": _id(), "body": request.get_json()["body"], "contactId": contact_id, "dateAdded": _now()}
            with self._lock:
                self.notes.append(note)
            return _json({"note": note}, 201)

        @app.post("/contacts/<contact_id>/tasks")
        def add_task(contact_id):
            if contact_id not in self.contacts:
                return _json({"statusCode": 400, "message": "Contact not found"}, 400)
            body = request.get_json()
            task = {"id": _id(), "title": body["title"], "dueDate": body["dueDate"], "completed": body["completed"],
                    "contactId": contact_id, "body": body.get("body", "")}
            with self._lock:
                self.tasks.append(task)
            return _json({"task": task}, 201)

        @app.get("/locations/<location_id>/customFields")
        def list_fields(location_id):
            model = request.args.get("model")
            return _json({"customFields": [f for f in self.fields.get(location_id, [])
                                           if not model or f["model"] == model]})

        @app.post("/locations/<location_id>/customFields")
        def create_field(location_id):
            body = request.get_json()
            field = {"id": _id(), "name": body["name"], "dataType": body["dataType"], "position": 0,
                     "model": body.get("model", "contact"), "locationId": location_id,
                     "fieldKey": f"{body.get('model', 'contact')}.{body['name'].lower().replace(' ', '_')}"}
            with self._lock:
                self.fields.setdefault(location_id, []).append(field)
            return _json({"customField": field}, 201)

        @app.get("/opportunities/pipelines")
        def pipelines():
            return _json({"pipelines": self.pipelines.get(request.args["locationId"], [])})

        @app.post("/opportunities/")
        def create_opportunity():
            body = request.get_json()
            if body["contactId"] not in self.contacts:
                return _json({"statusCode": 400, "message": "Contact not found"}, 400)
            if not self._stage_exists(body["locationId"], body["pipelineId"], body.get("pipelineStageId")):
                return _json({"statusCode": 422, "message": ["pipelineStageId must belong to the pipeline"]}, 422)
            opp = {"id": _id(), "name": body["name"], "monetaryValue": body.get("monetaryValue", 0),
                   "pipelineId": body["pipelineId"], "pipelineStageId": body.get("pipelineStageId"),
                   "status": body["status"], "contactId": body["contactId"], "locationId": body["locationId"],
                   "createdAt": _now(), "updatedAt": _now()}
            with self._lock:
                self.opportunities[opp["id"]] = opp
            return _json({"opportunity": opp}, 201)

        @app.put("/opportunities/<opp_id>")
        def update_opportunity(opp_id):
            with self._lock:
                opp = self.opportunities.get(opp_id)
                if opp is None:
                    return _json({"statusCode": 400, "message": "Opportunity not found"}, 400)
                stage = request.get_json().get("pipelineStageId")
                if stage and not self._stage_exists(opp["locationId"], opp["pipelineId"], stage):
                    return _json({"statusCode": 422, "message": ["pipelineStageId must belong to the pipeline"]}, 422)
                body = request.get_json()
                known = {f["id"] for f in self.fields.get(opp["locationId"], [])}
                for cf in body.get("customFields") or []:
                    if cf.get("id") not in known:
                        self.invalid.append(f"opportunity custom field {cf.get('id')} does not exist")
                        return _json({"statusCode": 422, "message": ["custom field not found"]}, 422)
                    fields = [f for f in opp.setdefault("customFields", []) if f["id"] != cf["id"]]
                    opp["customFields"] = fields + [{"id": cf["id"], "fieldValue": cf["field_value"]}]
                opp.update({k: v for k, v in body.items()
                            if k in ("pipelineStageId", "monetaryValue", "status", "name")}, updatedAt=_now())
            return _json({"opportunity": opp})

        @app.get("/conversations/search")
        def search_conversations():
            loc, contact = request.args["locationId"], request.args.get("contactId")
            with self._lock:
                found = [c for c in self.conversations.values()
                         if c["locationId"] == loc and (not contact or c["contactId"] == contact)]
            return _json({"conversations": found[:int(request.args.get("limit") or 20)], "total": len(found)})

        @app.post("/conversations/")
        def create_conversation():
            body = request.get_json()
            with self._lock:
                if body["contactId"] not in self.contacts:
                    return _json({"statusCode": 400, "message": "Contact not found"}, 400)
                if any(c["contactId"] == body["contactId"] for c in self.conversations.values()):
                    return _json({"statusCode": 400, "message": "Conversation already exists"}, 400)
                conv = self._conversation(body["locationId"], body["contactId"])
            return _json({"success": True, "conversation": {
                "id": conv["id"], "dateUpdated": _now(), "dateAdded": _now(), "deleted": False,
                "contactId": conv["contactId"], "locationId": conv["locationId"], "lastMessageDate": _now()}}, 201)

        @app.post("/conversations/messages")
        def send_message():
            body = request.get_json()
            with self._lock:
                contact = self.contacts.get(body["contactId"])
                if contact is None:
                    return _json({"statusCode": 400, "message": "Contact not found"}, 400)
                if body["type"] != "SMS":
                    return _json({"statusCode": 422, "message": ["only SMS in this fake"]}, 422)
                if not (body.get("toNumber") or contact.get("phone")):
                    return _json({"statusCode": 400, "message": "Contact has no phone number"}, 400)
                conv = self._conversation(contact["locationId"], contact["id"])
                msg = self._message(conv, "outbound", body.get("message", ""), "pending", source="api",
                                    to=body.get("toNumber") or contact.get("phone"), sender=body.get("fromNumber"))
                failure, self._fail_after_send = self._fail_after_send, None
            if failure:
                return _json({"statusCode": failure, "message": "Bad Gateway"}, failure)
            return _json({"conversationId": conv["id"], "messageId": msg["id"], "status": "pending"})

        @app.post("/conversations/messages/inbound")
        def add_message():
            body = request.get_json()
            with self._lock:
                conv = self.conversations.get(body["conversationId"])
                if conv is None or conv["contactId"] != body["contactId"]:
                    return _json({"statusCode": 400, "message": "Conversation not found"}, 400)
                msg = self._message(conv, body.get("direction", "outbound"), body.get("message", ""),
                                    "delivered", source="api", provider=body["conversationProviderId"])
            return _json({"success": True, "conversationId": conv["id"], "messageId": msg["id"],
                          "message": "Message added", "contactId": conv["contactId"], "dateAdded": msg["dateAdded"]})

        @app.get("/conversations/messages/export")
        def export_messages():
            # Cursor pagination over the location's messages (channel=Call: calls and voicemails).
            args = request.args
            limit = int(args.get("limit") or 100)
            if not 10 <= limit <= 500:
                return _json({"statusCode": 422, "message": ["limit must not be less than 10"]}, 422)
            start = args.get("startDate")
            types = {"Call": ("TYPE_CALL", "TYPE_VOICEMAIL"), "SMS": ("TYPE_SMS",)}.get(args.get("channel") or "")
            with self._lock:
                found = [m for m in self.messages if m["locationId"] == args["locationId"]
                         and (types is None or m["messageType"] in types)
                         and (not start or _when(m["dateAdded"]) >= _when(start))]
            found.sort(key=lambda m: m["dateAdded"], reverse=args.get("sortOrder", "desc") == "desc")
            offset = int(base64.b64decode(args["cursor"]).decode()) if args.get("cursor") else 0
            page = found[offset:offset + limit]
            more = offset + limit < len(found)
            body = {"messages": [{k: v for k, v in m.items() if not k.startswith("_")} for m in page],
                    "total": len(found)}
            if more:
                body["nextCursor"] = base64.b64encode(str(offset + limit).encode()).decode()
            return _json(body)

        @app.get("/conversations/<conversation_id>/messages")
        def list_messages(conversation_id):
            with self._lock:
                found = [m for m in self.messages if m["conversationId"] == conversation_id]
            found.sort(key=lambda m: m["dateAdded"], reverse=True)
            found = found[:int(request.args.get("limit") or 20)]
            return _json({"lastMessageId": found[-1]["id"] if found else "", "nextPage": False,
                          "messages": [{k: v for k, v in m.items() if not k.startswith("_")} for m in found]})

        @app.post("/workflows-marketplace/triggers/execute/<path:trigger>")
        def execute_trigger(trigger):
            # Not in the published specs: GoHighLevel hands this URL out in triggerData.targetUrl.
            with self._lock:
                self.fired.append({"trigger": trigger, "body": request.get_json()})
            return _json({"success": True})

        strict(app, self, lambda: _json({"statusCode": 404, "message": "Not found"}, 404))

        return app

    def _conversation(self, location: str, contact_id: str) -> dict:
        """The contact's conversation (one per contact), made on first use. Call with the lock held."""
        conv = next((c for c in self.conversations.values() if c["contactId"] == contact_id), None)
        if conv is None:
            contact = self.contacts[contact_id]
            conv = {"id": _id(), "contactId": contact_id, "locationId": location, "lastMessageBody": "",
                    "lastMessageType": "TYPE_SMS", "type": "TYPE_PHONE", "unreadCount": 0,
                    "fullName": contact.get("firstName") or "", "contactName": contact.get("firstName") or "",
                    "email": contact.get("email") or "", "phone": contact.get("phone") or ""}
            self.conversations[conv["id"]] = conv
        return conv

    def _message(self, conv: dict, direction: str, body: str, status: str, *, source: str,
                 to: str | None = None, sender: str | None = None, provider: str | None = None) -> dict:
        msg = {"id": _id(), "type": 2, "messageType": "TYPE_SMS", "locationId": conv["locationId"],
               "contactId": conv["contactId"], "conversationId": conv["id"], "dateAdded": _now(), "body": body,
               "direction": direction, "status": status, "contentType": "text/plain", "source": source,
               "_to": to, "_from": sender}
        if provider:
            msg["conversationProviderId"] = provider
        self.messages.append(msg)
        conv["lastMessageBody"] = body
        return msg

    def call(self, location_id: str, contact_id: str, status: str = "voicemail", *, at: datetime | None = None,
             direction: str = "inbound", duration: int | None = None) -> dict:
        """A call on the location's phone system, in its conversation (a TYPE_CALL message; type 10 for
        a voicemail), without any webhook: what catch-up should find."""
        with self._lock:
            conv = self._conversation(location_id, contact_id)
            when = (at or datetime.now(timezone.utc)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            # The export lists calls and voicemails as TYPE_CALL (type 1 and 10); how the call
            # ended is meta.callStatus, the message status only says whether it connected.
            msg = {"id": _id(), "type": 10 if status == "voicemail" else 1, "messageType": "TYPE_CALL",
                   "locationId": location_id, "contactId": contact_id, "conversationId": conv["id"],
                   "dateAdded": when, "direction": direction,
                   "status": "connected" if status in ("completed", "answered") else "failed",
                   "contentType": "text/plain",
                   "attachments": [], "meta": {"callStatus": status}, "source": "app"}
            if duration is not None:
                msg["meta"]["callDuration"] = str(duration)
            self.messages.append(msg)
            return msg

    def set_message_status(self, message_id: str, status: str) -> dict:
        """GoHighLevel's carrier reported on a text: the OutboundMessage webhook it would send."""
        with self._lock:
            msg = next(m for m in self.messages if m["id"] == message_id)
            msg["status"] = status
            return {"type": "OutboundMessage", "locationId": msg["locationId"], "attachments": [], "body": msg["body"],
                    "contactId": msg["contactId"], "contentType": "text/plain", "conversationId": msg["conversationId"],
                    "dateAdded": msg["dateAdded"], "direction": "outbound", "messageType": "SMS",
                    "messageId": msg["id"], "source": "api", "status": status}

    def _stage_exists(self, location: str, pipeline_id: str, stage_id: str | None) -> bool:
        return any(p["id"] == pipeline_id and any(st["id"] == stage_id for st in p["stages"])
                   for p in self.pipelines.get(location, []))

    def _location_of_request(self) -> str | None:
        if "locationId" in request.args:
            return request.args["locationId"]
        parts = request.path.strip("/").split("/")
        if parts[0] == "locations" and len(parts) > 1:
            return parts[1]
        if parts[:3] == ["phone-system", "numbers", "location"] and len(parts) > 3:
            return parts[3]
        body = request.get_json(silent=True) or {}
        if body.get("locationId"):
            return body["locationId"]
        with self._lock:
            if body.get("contactId") in self.contacts:
                return self.contacts[body["contactId"]]["locationId"]
            conv = self.conversations.get(body.get("conversationId") or (parts[1] if len(parts) > 1 else ""))
            if parts[0] == "conversations" and conv is not None:
                return conv["locationId"]
            for kind, store in (("contacts", self.contacts), ("opportunities", self.opportunities)):
                parts = request.path.strip("/").split("/")
                if parts[0] == kind and len(parts) > 1 and parts[1] in store:
                    return store[parts[1]]["locationId"]
        return None


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers or {}, mimetype="application/json")
