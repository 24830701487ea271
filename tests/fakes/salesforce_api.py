"""A fake Salesforce org's REST API on loopback HTTPS (simple-salesforce only speaks https).

Salesforce publishes no static spec: this fake holds the contract for the calls Ringback makes
(sObject GET by id) with Salesforce's own error shapes (INVALID_SESSION_ID, NOT_FOUND), checks
the session id, can be told to fail, and records anything it does not serve.
"""
from __future__ import annotations

import json
import threading

from flask import Flask, Response, request

API = "/services/data/v59.0"


class FakeSalesforce:
    def __init__(self):
        self.session_id = "00D5e000000Ab1c!AQ4AQFake.Session.Id"
        self.records: dict[tuple[str, str], dict] = {}
        self.requests: list[str] = []
        self.unexpected: list[str] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self.url = ""
        self.app = self._make_app()

    def put(self, sobject: str, record_id: str, fields: dict) -> None:
        self.records[(sobject, record_id)] = {"attributes": {"type": sobject, "url": f"{API}/sobjects/{sobject}/{record_id}"},
                                              "Id": record_id} | fields

    def fail_next(self, status: int) -> None:
        self._failures.append(status)

    def _make_app(self) -> Flask:
        app = Flask("fake-salesforce")

        @app.before_request
        def _gate():
            if request.url_rule is None:
                return None
            with self._lock:
                self.requests.append(f"{request.method} {request.path}")
                failure = self._failures.pop(0) if self._failures else None
            if request.headers.get("Authorization") != f"Bearer {self.session_id}":
                return _json([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
            if failure:
                return _json([{"message": "Server Error", "errorCode": "UNKNOWN_EXCEPTION"}], failure)
            return None

        @app.get(f"{API}/sobjects/<sobject>/<record_id>")
        def get_record(sobject, record_id):
            record = self.records.get((sobject, record_id))
            if record is None:
                return _json([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
            return _json(record)

        @app.errorhandler(404)
        @app.errorhandler(405)
        def _unexpected(_exc):
            with self._lock:
                self.unexpected.append(f"{request.method} {request.full_path}")
            return _json([{"errorCode": "NOT_FOUND", "message": "Not found"}], 404)

        return app


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")
