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


class FakeHubSpot:
    def __init__(self, *, limit: int = 110, window: float = 10.0):
        self.limit, self.window = limit, window
        self.tokens: dict[str, str] = {}  # token -> portalId
        self.objects: dict[tuple[str, str, str], dict] = {}  # (portal, type, id) -> properties
        self.requests: list[str] = []
        self.unexpected: list[str] = []
        self.invalid: list[str] = []
        self._failures: list[int] = []
        self._hits: dict[str, deque] = defaultdict(deque)
        self._lock = threading.RLock()
        self.url = ""
        self.app = self._make_app()

    def install(self, portal_id: str, token: str) -> None:
        self.tokens[token] = str(portal_id)

    def put(self, portal_id: str, object_type: str, object_id: str, properties: dict) -> None:
        self.objects[(str(portal_id), object_type, str(object_id))] = {k: None if v is None else str(v)
                                                                     for k, v in properties.items()}

    def fail_next(self, status: int, times: int = 1) -> None:
        self._failures.extend([status] * times)

    def _make_app(self) -> Flask:
        app = Flask("fake-hubspot")

        @app.before_request
        def _gate():
            if request.url_rule is None:
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
                failure = self._failures.pop(0) if self._failures else None
                if len(hits) >= self.limit or failure == 429:
                    return _json({"status": "error", "message": "You have reached your secondly limit.",
                                  "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                                  "policyName": "SECONDLY"}, 429, headers)
                hits.append(now)
                if failure:
                    return _json({"status": "error", "message": "internal error", "correlationId": str(uuid.uuid4())},
                                 failure, headers)
            request.environ["hubspot.portal"] = portal
            return None

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
            stamp = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
            return _json({"id": object_id, "properties": shown, "createdAt": stamp, "updatedAt": stamp,
                          "archived": False})

        @app.errorhandler(404)
        @app.errorhandler(405)
        def _unexpected(_exc):
            with self._lock:
                self.unexpected.append(f"{request.method} {request.full_path}")
            return _json({"status": "error", "message": "Not found"}, 404)

        return app


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers or {}, mimetype="application/json")
