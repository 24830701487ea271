"""A fake HubSpot CRM API on loopback, spoken to through hubspot-api-client (host=).

HubSpot publishes no redistributable spec, so this fake holds the contract for the endpoints
Ringback calls (shapes from developers.hubspot.com/docs/api/crm): the object's id, its
properties as strings, createdAt/updatedAt/archived. It checks the Bearer token per portal,
enforces a public app's 110 requests per 10 s per portal (429 with errorType RATE_LIMIT and
X-HubSpot-RateLimit-* headers), can be told to fail, and records anything it does not serve.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict, deque
from datetime import datetime, timezone

from flask import Flask, Response, request

from tests.fakes.server import QuietSpells, strict

CLIENT_ID, CLIENT_SECRET = "5f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
APP_ID = 4123456
SCOPES = ["crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.deals.read",
          "crm.objects.deals.write", "crm.schemas.deals.write", "oauth"]
STANDARD_DEAL_PROPERTIES = {"dealname", "pipeline", "dealstage", "amount", "closedate", "hubspot_owner_id"}


class FakeHubSpot(QuietSpells):
    def __init__(self, *, limit: int = 110, window: float = 10.0):
        self.limit, self.window = limit, window
        self.tokens: dict[str, str] = {}  # token -> portalId
        self.objects: dict[tuple[str, str, str], dict] = {}  # (portal, type, id) -> properties
        self.requests: list[str] = []
        self.unexpected: list[str] = []
        self.invalid: list[str] = []
        self._failures: list[int] = []
        self.pipelines: dict[str, list[dict]] = {}
        self.properties: dict[tuple[str, str], dict] = {}
        self.associations: list[tuple] = []
        self._seq = 100000
        self._hits: dict[str, deque] = defaultdict(deque)
        self._lock = threading.RLock()
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> portal
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (portal, redirect_uri)
        self.refreshes = 0
        self.tokens_inactive = False  # True: introspection calls every token inactive (revoked)
        self.url = ""
        self.app = self._make_app()

    def install(self, portal_id: str, token: str) -> None:
        self.tokens[token] = str(portal_id)

    def install_oauth(self, portal_id: str) -> tuple[str, str]:
        """(access token, refresh token) as HubSpot's token endpoint would issue them."""
        access, refresh = f"CJT{uuid.uuid4().hex}", f"na1-{uuid.uuid4()}"
        with self._lock:
            self.tokens[access] = str(portal_id)
            self.refresh_tokens[refresh] = str(portal_id)
        return access, refresh

    def authorize(self, portal_id: str, redirect_uri: str) -> str:
        """The code HubSpot's consent page would redirect back with."""
        code = f"code-{uuid.uuid4()}"
        self.codes[code] = (str(portal_id), redirect_uri)
        return code

    def expire(self, portal_id: str) -> None:
        """Every access token of the portal is over 30 minutes old."""
        with self._lock:
            for token in [t for t, p in self.tokens.items() if p == str(portal_id)]:
                del self.tokens[token]

    def put(self, portal_id: str, object_type: str, object_id: str, properties: dict) -> None:
        # HubSpot stamps every object with its creation time.
        properties = {"hs_createdate": datetime.now(timezone.utc).isoformat(timespec="milliseconds")
                      .replace("+00:00", "Z")} | dict(properties)
        self.objects[(str(portal_id), object_type, str(object_id))] = {k: None if v is None else str(v)
                                                                     for k, v in properties.items()}

    def deals(self, portal_id: str) -> list[dict]:
        return [p | {"id": oid} for (pid, typ, oid), p in self.objects.items() if pid == str(portal_id) and typ == "deals"]

    def stage_label(self, portal_id: str, stage_id: str) -> str:
        return next(st["label"] for p in self.pipelines.get(str(portal_id), []) for st in p["stages"] if st["id"] == stage_id)

    def _next_id(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _stage_ids(self, portal: str, pipeline_id: str | None) -> set[str]:
        return {st["id"] for p in self.pipelines.get(portal, []) if p["id"] == pipeline_id for st in p["stages"]}

    def _check_create(self, portal: str, object_type: str, props: dict, associations: list) -> str | None:
        """HubSpot's rules for what Ringback creates (its docs; no published spec to validate against)."""
        required = {"deals": ["dealname", "pipeline", "dealstage"], "notes": ["hs_timestamp", "hs_note_body"],
                    "tasks": ["hs_timestamp", "hs_task_subject"], "contacts": [],
                    "communications": ["hs_timestamp", "hs_communication_channel_type", "hs_communication_body"],
                    }.get(object_type)
        if required is None:
            return f"the fake does not create {object_type}"
        missing = [k for k in required if not props.get(k)]
        if missing:
            return f"missing properties {missing}"
        if object_type == "deals" and props["dealstage"] not in self._stage_ids(portal, props["pipeline"]):
            return f"dealstage {props['dealstage']} is not in pipeline {props['pipeline']}"
        if object_type == "communications" and props["hs_communication_channel_type"] not in ("SMS", "WHATS_APP",
                                                                                             "LINKEDIN_MESSAGE"):
            return f"hs_communication_channel_type {props['hs_communication_channel_type']} is not a channel"
        wanted = {"deals": 3, "notes": 202, "tasks": 204, "communications": 81}.get(object_type)
        for assoc in associations:
            spec = assoc["types"][0]
            if spec["associationCategory"] != "HUBSPOT_DEFINED" or spec["associationTypeId"] != wanted:
                return f"association {spec} is not {object_type}->contact ({wanted})"
            if (portal, "contacts", str(assoc["to"]["id"])) not in self.objects:
                return f"no contact {assoc['to']['id']} to associate"
        return None

    def fail_next(self, status: int, times: int = 1, path: str | None = None) -> None:
        """Answer the next ``times`` requests (to paths starting with ``path``, if given) with ``status``."""
        self._failures.extend([(status, path)] * times)

    def _make_app(self) -> Flask:
        app = Flask("fake-hubspot")

        @app.before_request
        def _gate():
            if request.url_rule is None or request.path.startswith("/oauth/"):
                return None
            token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            portal = self.tokens.get(token)
            if portal is None:
                return _json({"status": "error", "message": "Authentication credentials not found.",
                              "category": "INVALID_AUTHENTICATION", "correlationId": str(uuid.uuid4())}, 401)
            with self._lock:
                self.requests.append(f"{request.method} {request.path}")
                now, hits = time.monotonic(), self._hits[portal]
                while hits and hits[0] <= now - self.window:
                    hits.popleft()
                headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window * 1000)),
                           "X-HubSpot-RateLimit-Max": str(self.limit),
                           "X-HubSpot-RateLimit-Remaining": str(max(self.limit - len(hits) - 1, 0))}
                failure = None
                for i, (status, prefix) in enumerate(self._failures):
                    if prefix is None or request.path.startswith(prefix):
                        failure = self._failures.pop(i)[0]
                        break
                if len(hits) >= self.limit or failure == 429:
                    return _json({"status": "error", "message": "You have reached your secondly limit.",
                                  "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                                  "policyName": "SECONDLY"}, 429, headers)
                hits.append(now)
                if failure:
                    return _json({"status": "error", "message": "internal error", "correlationId": str(uuid.uuid4())},
                                 failure, headers)
            request.environ["hubspot.portal"] = portal
            self._hang()
            return None

        @app.post("/oauth/v1/token")
        def token():
            form = request.form
            with self._lock:
                self.requests.append("POST /oauth/v1/token")
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return _json({"status": "BAD_CLIENT_ID", "message": "missing or invalid client_id / client_secret",
                              "correlationId": str(uuid.uuid4())}, 400)
            grant = form.get("grant_type")
            with self._lock:
                if grant == "refresh_token":
                    portal = self.refresh_tokens.get(form.get("refresh_token"))
                    if portal is None:
                        return _json({"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token",
                                      "correlationId": str(uuid.uuid4())}, 400)
                    self.refreshes += 1
                    refresh = form["refresh_token"]  # HubSpot's refresh tokens stay valid
                elif grant == "authorization_code":
                    portal, redirect = self.codes.pop(form.get("code"), (None, None))
                    if portal is None or redirect != form.get("redirect_uri"):
                        return _json({"status": "BAD_AUTH_CODE", "message": "missing or unknown auth code",
                                      "correlationId": str(uuid.uuid4())}, 400)
                    refresh = f"na1-{uuid.uuid4()}"
                    self.refresh_tokens[refresh] = portal
                else:
                    return _json({"status": "BAD_GRANT_TYPE", "message": "unsupported grant_type",
                                  "correlationId": str(uuid.uuid4())}, 400)
                access = f"CJT{uuid.uuid4().hex}"
                self.tokens[access] = portal
            return _json({"token_type": "bearer", "refresh_token": refresh, "access_token": access, "expires_in": 1800})

        # The deprecated GET /oauth/v1/access-tokens/{token} is not served: a call to it fails the test.
        @app.post("/oauth/2026-03/token/introspect")
        def token_introspect():
            """PublicAccessTokenInfoResponse (HubSpot's spec, Auth/Oauth/Rollouts/279897/2026-03/oauth.json)."""
            form = request.form
            with self._lock:
                self.requests.append("POST /oauth/2026-03/token/introspect")
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return _json({"status": "error", "message": "missing or invalid client_id / client_secret",
                              "category": "VALIDATION_ERROR", "correlationId": str(uuid.uuid4())}, 400)
            token = form.get("token", "")
            portal = self.tokens.get(token)
            if portal is None or self.tokens_inactive:
                return _json({"active": False})
            return _json({"active": True, "token": token, "token_type": "bearer", "token_use": "access_token",
                          "user": "owner@acme.example", "hub_domain": f"acme-{portal}.com", "scopes": SCOPES,
                          "hub_id": int(portal), "app_id": APP_ID, "client_id": CLIENT_ID, "expires_in": 1700,
                          "user_id": 8675309, "is_private_distribution": False,
                          "signed_access_token": {"appId": APP_ID, "hubId": int(portal), "userId": 8675309,
                                                  "expiresAt": int(time.time() * 1000) + 1_700_000,
                                                  "scopes": " ".join(SCOPES)}})

        @app.get("/crm/v3/objects/<object_type>/<object_id>")
        def get_object(object_type, object_id):
            portal = request.environ["hubspot.portal"]
            props = self.objects.get((portal, object_type, object_id))
            if props is None:
                return _json({"status": "error", "message": "resource not found", "category": "OBJECT_NOT_FOUND",
                              "correlationId": str(uuid.uuid4())}, 404)
            # ?properties=a,b and ?properties=a&properties=b (the SDK's form) are both accepted.
            wanted = {name for value in request.args.getlist("properties") for name in value.split(",")}
            shown = {k: v for k, v in props.items() if not wanted or k in wanted}
            body = _object(object_id, shown)
            for kind in {name for value in request.args.getlist("associations") for name in value.split(",")}:
                found = [{"id": str(to), "type": f"{object_type[:-1]}_to_{kind[:-1]}"}
                         for (typ, oid, to, _t) in self.associations if typ == object_type and str(oid) == object_id]
                if kind == "contacts" and found:
                    body.setdefault("associations", {})[kind] = {"results": found}
            return _json(body)

        @app.post("/crm/v3/objects/calls/search")
        def search_calls():
            # Only what catch-up asks: calls created since a time, oldest first, a page at a time.
            portal, body = request.environ["hubspot.portal"], request.get_json()
            [group] = body["filterGroups"]
            [flt] = group["filters"]
            if (flt["propertyName"], flt["operator"]) != ("hs_createdate", "GTE") or body.get("sorts") != [
                    {"propertyName": "hs_createdate", "direction": "ASCENDING"}]:
                self.invalid.append(f"call search not served by the fake: {body}")
                return _json({"status": "error", "message": "unsupported search", "category": "VALIDATION_ERROR"}, 400)
            since = int(flt["value"])
            found = sorted(((oid, p) for (pid, typ, oid), p in self.objects.items()
                            if pid == portal and typ == "calls" and _millis(p.get("hs_createdate")) >= since),
                           key=lambda item: _millis(item[1].get("hs_createdate")))
            offset, limit = int(body.get("after") or 0), min(int(body.get("limit") or 10), 200)
            wanted = body.get("properties") or []
            page = [_object(oid, {k: v for k, v in p.items() if k in wanted}) for oid, p in found[offset:offset + limit]]
            answer = {"total": len(found), "results": page}
            if offset + limit < len(found):
                answer["paging"] = {"next": {"after": str(offset + limit)}}
            return _json(answer)

        @app.post("/crm/v3/objects/contacts/search")
        def search_contacts():
            portal, body = request.environ["hubspot.portal"], request.get_json()
            [group] = body["filterGroups"]
            [flt] = group["filters"]
            if (flt["propertyName"], flt["operator"]) != ("phone", "EQ"):
                self.invalid.append(f"search filter not served by the fake: {flt}")
            digits = _national(flt["value"])
            found = [(oid, p) for (pid, typ, oid), p in self.objects.items()
                     if pid == portal and typ == "contacts" and _national(p.get("phone") or "") == digits]
            return _json({"total": len(found), "results": [_object(oid, p) for oid, p in found[: body.get("limit", 10)]]})

        @app.post("/crm/v3/objects/<object_type>")
        def create_object(object_type):
            portal, body = request.environ["hubspot.portal"], request.get_json()
            props = body.get("properties") or {}
            problem = self._check_create(portal, object_type, props, body.get("associations") or [])
            if problem:
                self.invalid.append(f"POST {object_type}: {problem}")
                return _json({"status": "error", "message": problem, "category": "VALIDATION_ERROR"}, 400)
            oid = str(self._next_id())
            self.put(portal, object_type, oid, props)
            for assoc in body.get("associations") or []:
                self.associations.append((object_type, oid, assoc["to"]["id"], assoc["types"][0]["associationTypeId"]))
            return _json(_object(oid, self.objects[(portal, object_type, oid)]), 201)

        @app.patch("/crm/v3/objects/<object_type>/<object_id>")
        def update_object(object_type, object_id):
            portal = request.environ["hubspot.portal"]
            current = self.objects.get((portal, object_type, object_id))
            if current is None:
                return _json({"status": "error", "message": "resource not found", "category": "OBJECT_NOT_FOUND"}, 404)
            props = request.get_json().get("properties") or {}
            unknown = [k for k in props if object_type == "deals" and k not in STANDARD_DEAL_PROPERTIES
                       and (portal, k) not in self.properties]
            if unknown:
                self.invalid.append(f"deal property {unknown} does not exist")
                return _json({"status": "error", "message": f"Property values were not valid: {unknown}",
                              "category": "VALIDATION_ERROR", "errors": [{"code": "PROPERTY_DOESNT_EXIST"}]}, 400)
            if object_type == "deals" and "dealstage" in props and \
                    props["dealstage"] not in self._stage_ids(portal, current.get("pipeline")):
                self.invalid.append(f"deal {object_id}: stage {props['dealstage']} is not in its pipeline")
                return _json({"status": "error", "message": "invalid dealstage", "category": "VALIDATION_ERROR"}, 400)
            current.update({k: str(v) for k, v in props.items()})
            return _json(_object(object_id, current))

        @app.get("/crm/v3/properties/deals/<name>")
        def get_property(name):
            prop = self.properties.get((request.environ["hubspot.portal"], name))
            if prop is None:
                return _json({"status": "error", "message": f"Unable to find property {name}",
                              "category": "OBJECT_NOT_FOUND"}, 404)
            return _json(prop)

        @app.post("/crm/v3/properties/deals")
        def create_property():
            body, stamp = request.get_json(), _stamp()
            prop = {"name": body["name"], "label": body["label"], "type": body["type"], "fieldType": body["fieldType"],
                    "description": body.get("description", ""), "groupName": body["groupName"], "options": [],
                    "displayOrder": -1, "calculated": False, "externalOptions": False, "hasUniqueValue": False,
                    "hidden": False, "hubspotDefined": False, "formField": False, "createdAt": stamp,
                    "updatedAt": stamp, "archived": False,
                    "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False}}
            self.properties[(request.environ["hubspot.portal"], body["name"])] = prop
            return _json(prop, 201)

        @app.get("/crm/v3/pipelines/deals")
        def list_pipelines():
            return _json({"results": self.pipelines.get(request.environ["hubspot.portal"], [])})

        @app.post("/crm/v3/pipelines/deals")
        def create_pipeline():
            portal, body = request.environ["hubspot.portal"], request.get_json()
            stamp = _stamp()
            if any(st.get("metadata", {}).get("probability") is None for st in body["stages"]):
                self.invalid.append("deal stages need metadata.probability")
                return _json({"status": "error", "message": "probability is required", "category": "VALIDATION_ERROR"},
                             400)
            pipeline = {"id": str(self._next_id()), "label": body["label"], "displayOrder": body["displayOrder"],
                        "createdAt": stamp, "updatedAt": stamp, "archived": False,
                        "stages": [{"id": str(self._next_id()), "label": st["label"], "displayOrder": st["displayOrder"],
                                    "metadata": st["metadata"], "createdAt": stamp, "updatedAt": stamp,
                                    "archived": False, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
                                   for st in body["stages"]]}
            self.pipelines.setdefault(portal, []).append(pipeline)
            return _json(pipeline, 201)

        strict(app, self, lambda: _json({"status": "error", "message": "Not found"}, 404))

        return app


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _millis(value) -> int:
    """A HubSpot datetime property (ISO 8601, or milliseconds since the epoch) in milliseconds."""
    if value in (None, ""):
        return 0
    if str(value).isdigit():
        return int(value)
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)


def _object(object_id: str, props: dict) -> dict:
    return {"id": str(object_id), "properties": props, "createdAt": _stamp(), "updatedAt": _stamp(), "archived": False}


def _national(phone: str) -> str:
    """HubSpot matches phones on area code and local number: the last ten digits."""
    return "".join(ch for ch in phone if ch.isdigit())[-10:]


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers or {}, mimetype="application/json")
