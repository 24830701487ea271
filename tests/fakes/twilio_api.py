"""A fake Twilio REST API (Messages) on loopback, strict like the real one.

Every request is validated against Twilio's own OpenAPI spec
(../shared/contracts/twilio/twilio_api_v2010.json, read in place), plus the rules the spec
only states in prose (To plus From or MessagingServiceSid; HTTP Basic with the account's
SID and auth token). Anything the fake does not implement is recorded as unexpected and
answered 404, and the test fixture fails on it (Airbyte-style strict fakes).
"""
from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import time
from datetime import datetime, timezone
from email.utils import format_datetime
from functools import lru_cache

import requests
from flask import Flask, Response, g, request
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from twilio.request_validator import RequestValidator

from tests import contracts
from tests.fakes.server import strict
from workflows.templates import segments

SPEC = "twilio/twilio_api_v2010.json"
MESSAGING_SPEC = "twilio/twilio_messaging_v1.json"  # messaging.twilio.com: /v1/Services...
MESSAGES = "/2010-04-01/Accounts/<account_sid>/Messages.json"
CALLS = "/2010-04-01/Accounts/<account_sid>/Calls.json"
ACCOUNT = "/2010-04-01/Accounts/<account_sid>.json"
NUMBERS = "/2010-04-01/Accounts/<account_sid>/IncomingPhoneNumbers.json"
NUMBER = "/2010-04-01/Accounts/<account_sid>/IncomingPhoneNumbers/<sid>.json"
AVAILABLE = "/2010-04-01/Accounts/<account_sid>/AvailablePhoneNumbers/<country>/Local.json"

ERRORS = {
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21211: (400, "Invalid 'To' Phone Number"),
    21604: (400, "A 'To' phone number is required."),
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    21422: (400, "PhoneNumber is not available"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
}


@lru_cache(maxsize=None)
def _spec_dict(name: str = SPEC) -> str | None:
    path = contracts.find(name)
    return path.read_text() if path else None


def openapi_for(base_url: str, name: str = SPEC) -> OpenAPI | None:
    """Twilio's spec served at ``base_url``; None where the contracts are not beside the repository."""
    text = _spec_dict(name)
    if text is None:
        return None
    spec = json.loads(text)
    servers = [{"url": base_url}]
    spec["servers"] = servers
    for item in spec["paths"].values():
        if "servers" in item:
            item["servers"] = servers
    return OpenAPI.from_dict(spec)


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str, *, validate: bool = True, answer_delay: float = 0.0):
        self.account_sid = account_sid
        # Every account this Twilio knows (an agency may connect its own): SID -> auth token.
        self.accounts: dict[str, str] = {account_sid: auth_token}
        self.api_keys: dict[str, tuple[str, str]] = {}  # SK sid -> (account SID, secret)
        self.validate = validate
        self.answer_delay = answer_delay  # seconds, after the message is stored (like Twilio's own latency)
        self.auth_token = auth_token
        self.messages: list[dict] = []
        self.calls: dict[str, dict] = {}  # CA sid -> the Call resource
        self.call_lists: list[dict] = []  # the query of each Calls.json read
        self.numbers: dict[str, dict] = {}  # PN sid -> the account's incoming number
        self.available: list[str] = []  # numbers anyone may buy (E.164)
        self.local_price: str | None = "1.15"  # a local US number's monthly price (Pricing API); None: none listed
        self.unexpected: list[str] = []
        self.invalid: list[str] = []
        self._failures: list[int] = []
        self._flaky: tuple | None = None  # (share, kinds, until (monotonic), random.Random)
        self.hang_seconds = 12.0  # a "hang": longer than Ringback's 10 s read timeout
        self._lock = threading.Lock()
        self.openapi: OpenAPI | None = None
        self.openapi_messaging: OpenAPI | None = None
        # Messaging Services: MG sid -> {"account_sid", "numbers": [E.164], "campaigns": [Usa2p]}
        self.services: dict[str, dict] = {}
        self.received = threading.Condition(self._lock)
        self.app = self._make_app()

    # ------------------------------------------------------------- test controls

    def reset(self) -> None:
        """Forget every message, failure and complaint (between tests)."""
        with self._lock:
            self.messages.clear()
            self.calls.clear()
            self.numbers.clear()
            self.available.clear()
            self.local_price = "1.15"
            self.services.clear()
            self.accounts = {self.account_sid: self.auth_token}
            self.api_keys.clear()
            self.answer_delay = 0.0
            self.unexpected.clear()
            self.invalid.clear()
            self._failures.clear()

    def add_account(self, account_sid: str, auth_token: str) -> None:
        """Another Twilio account (an agency's own), with its own auth token."""
        with self._lock:
            self.accounts[account_sid] = auth_token

    def add_api_key(self, account_sid: str) -> tuple[str, str]:
        """An API key of ``account_sid`` (https://www.twilio.com/docs/iam/api-keys): (SK sid, secret)."""
        sid, secret = "SK" + secrets.token_hex(16), secrets.token_urlsafe(24)
        with self._lock:
            self.api_keys[sid] = (account_sid, secret)
        return sid, secret

    def post_webhook(self, url: str, params: dict, post=None) -> int:
        """Call a webhook URL as Twilio does: signed (X-Twilio-Signature, HMAC-SHA1 with the auth token
        of the account in ``params``), and for a URL with credentials in it, first without them;
        only after a 401 with a WWW-Authenticate realm again with HTTP Basic.
        https://www.twilio.com/docs/usage/security#http-authentication
        ``post(url, data, headers) -> (status, headers)`` (default: a real HTTP request)."""
        post = post or (lambda u, data, headers: (lambda r: (r.status_code, r.headers))(
            requests.post(u, data=data, headers=headers, timeout=10)))
        scheme, rest = url.split("://", 1)
        host, _, path = rest.partition("/")
        login, _, host = host.rpartition("@")
        bare = f"{scheme}://{host}/{path}"
        # Twilio signs the URL as configured, credentials and all (Ringback cannot check this
        # signature for an API-key account anyway: it has no auth token).
        headers = {"X-Twilio-Signature": RequestValidator(self.accounts[params["AccountSid"]]).compute_signature(
            url, params)}
        status, answered = post(bare, params, headers)
        if status == 401 and login and "realm=" in (answered.get("WWW-Authenticate") or ""):
            user, _, password = login.partition(":")
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            status, _ = post(bare, params, headers)
        return status

    def call(self, phone_number: str, caller: str, status: str = "no-answer", *, at: datetime | None = None,
             duration: int = 0, leg_status: str | None = None) -> str:
        """A finished inbound call to one of the accounts' numbers, kept as Twilio keeps it (listed by
        GET .../Calls.json), without any webhook; ``leg_status``: the number's TwiML forwarded it with
        <Dial> and that leg ended so (the parent is then "completed")."""
        number = next(n for n in self.numbers.values() if n["phone_number"] == phone_number)
        start = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        sid = "CA" + secrets.token_hex(16)
        with self._lock:
            self.calls[sid] = _call(sid, number, caller, phone_number, status, start, duration, None)
            if leg_status is not None:
                leg = "CA" + secrets.token_hex(16)
                self.calls[leg] = _call(leg, number, phone_number, "+15125550999", leg_status, start,
                                        duration if leg_status == "completed" else 0, sid)
        return sid

    def ring(self, phone_number: str, caller: str, status: str = "no-answer", post=None) -> int:
        """A caller's call to one of the accounts' numbers ends unanswered: Twilio posts the call's
        status to the number's StatusCallback."""
        number = next(n for n in self.numbers.values() if n["phone_number"] == phone_number)
        sid = self.call(phone_number, caller, status)
        params = {"CallSid": sid, "AccountSid": number["account_sid"], "From": caller,
                  "Caller": caller, "To": phone_number, "Called": phone_number, "CallStatus": status,
                  "Direction": "inbound", "ApiVersion": "2010-04-01", "CallDuration": "0", "SequenceNumber": "0",
                  "Timestamp": format_datetime(datetime.now(timezone.utc))}
        return self.post_webhook(number["status_callback"], params, post)

    def own_number(self, account_sid: str, phone_number: str, **webhooks) -> dict:
        """An incoming number of ``account_sid``, with the webhook URLs it already has (sms_url=...)."""
        sid = "PN" + secrets.token_hex(16)
        now = format_datetime(datetime.now(timezone.utc))
        number = {"sid": sid, "account_sid": account_sid, "phone_number": phone_number, "friendly_name": phone_number,
                  "api_version": "2010-04-01", "date_created": now, "date_updated": now, "status": "in-use",
                  "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False}, "origin": "twilio",
                  "sms_url": "", "sms_method": "POST", "status_callback": "", "status_callback_method": "POST",
                  "voice_url": "https://example.com/the-business-ivr", "voice_method": "POST", "beta": False,
                  "uri": f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json"} | webhooks
        with self._lock:
            self.numbers[sid] = number
        return number

    def add_service(self, account_sid: str, numbers: list[str], campaign_status: str | None = None) -> str:
        """A Messaging Service with these numbers and, with ``campaign_status``, one A2P campaign."""
        sid = "MG" + secrets.token_hex(16)
        campaigns = [] if campaign_status is None else [{
            "sid": "QE" + secrets.token_hex(16), "account_sid": account_sid, "messaging_service_sid": sid,
            "brand_registration_sid": "BN" + secrets.token_hex(16), "description": "Missed-call text back",
            "us_app_to_person_usecase": "CUSTOMER_CARE", "campaign_status": campaign_status,
            "campaign_id": "CX" + secrets.token_hex(3).upper(), "is_externally_registered": False,
            "has_embedded_links": True, "has_embedded_phone": False, "mock": False}]
        with self._lock:
            self.services[sid] = {"account_sid": account_sid, "numbers": list(numbers), "campaigns": campaigns}
        return sid

    def fail_next(self, code: int, times: int = 1, *, after_accepting: bool = False) -> None:
        """Answer the next ``times`` message creations with Twilio error ``code`` (21610, 20429, 20500...).

        ``after_accepting``: keep (and later list) the message although the answer is an error,
        as when Twilio's edge fails after the message was queued.
        """
        with self._lock:
            self._failures.extend([(code, after_accepting)] * times)

    def flaky(self, share: float, seconds: float, kinds=("refused", "lost_answer", "hang"), seed: int = 0) -> None:
        """For the next ``seconds``, fail a ``share`` of message creations, each one of ``kinds``:
        "refused" (a 500 and no text), "lost_answer" (the text is queued, the answer a 500),
        "hang" (the text is queued, the answer comes after ``hang_seconds``: the client times out)."""
        with self._lock:
            self._flaky = (share, tuple(kinds), time.monotonic() + seconds, random.Random(seed))

    def _flaky_failure(self) -> tuple:
        if self._flaky is None:
            return None, False
        share, kinds, until, rng = self._flaky
        if time.monotonic() >= until or rng.random() >= share:
            return None, False
        kind = rng.choice(kinds)
        return {"refused": (20500, False), "lost_answer": (20500, True), "hang": ("hang", True)}[kind]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)

    def deliver(self, sid: str, statuses=("sent", "delivered"), error_code: int | None = None, post=None) -> list[int]:
        """Post signed status callbacks for a message to its StatusCallback, like Twilio does."""
        msg = next(m for m in self.messages if m["sid"] == sid)
        codes = []
        for status in statuses:
            params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": msg["account_sid"], "From": msg["from"],
                      "To": msg["to"], "MessageStatus": status, "SmsStatus": status, "ApiVersion": "2010-04-01"}
            if error_code is not None and status in ("undelivered", "failed"):
                params["ErrorCode"] = str(error_code)
            codes.append(self.post_webhook(msg["status_callback"], params, post))
        return codes

    # ------------------------------------------------------------- the API

    def _spec(self) -> OpenAPI | None:
        if request.path.startswith("/v1/PhoneNumbers/"):
            return None  # pricing.twilio.com: no contract of Twilio's Pricing API in ../shared; answered as documented
        return self.openapi_messaging if request.path.startswith("/v1/") else self.openapi

    def _make_app(self) -> Flask:
        app = Flask("fake-twilio")

        def _json(body, status=200):
            return Response(json.dumps(body), status, mimetype="application/json")

        @app.before_request
        def _validate():
            if request.url_rule is None:
                return None
            auth = request.authorization
            if auth is not None and auth.username in self.api_keys:
                account, secret = self.api_keys[auth.username]
                if secret != auth.password:
                    return _error(20003)
                g.account = account
            elif auth is None or self.accounts.get(auth.username) != auth.password:
                return _error(20003)
            else:
                g.account = auth.username
            if not self.validate:
                return None
            if self.openapi is None:
                self.openapi = openapi_for(request.host_url.rstrip("/"))
                self.openapi_messaging = openapi_for(request.host_url.rstrip("/"), MESSAGING_SPEC)
            spec = self._spec()
            if spec is None:  # no contracts beside the repository: unvalidated
                return None
            try:
                spec.validate_request(WerkzeugOpenAPIRequest(request))
            except Exception as exc:  # the spec says no: so would Twilio (400)
                detail = f"{request.method} {request.full_path}: {exc}; {getattr(exc, '__cause__', '')}"
                with self._lock:
                    self.invalid.append(detail)
                return Response(json.dumps({"code": 20001, "message": str(exc), "status": 400}), 400,
                                mimetype="application/json")
            return None

        @app.after_request
        def _check_response(response):
            if self.validate and request.url_rule is not None and response.status_code in (200, 201) \
                    and self._spec() is not None:
                try:
                    self._spec().validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
                except Exception as exc:
                    with self._lock:
                        self.invalid.append(f"fake answered off-spec: {exc}")
            return response

        def _service(sid):
            found = self.services.get(sid)
            if found is None or found["account_sid"] != g.account:
                return None
            return found

        def _v1_page(key, items):
            return {key: items, "meta": {"page": 0, "page_size": 50, "first_page_url": request.url,
                                         "previous_page_url": None, "url": request.url, "next_page_url": None,
                                         "key": key}}

        def _service_body(sid, service):
            now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
            return {"sid": sid, "account_sid": service["account_sid"], "friendly_name": "Ringback texts",
                    "date_created": now, "date_updated": now, "sticky_sender": True, "usecase": "notifications",
                    "us_app_to_person_registered": any(c["campaign_status"] == "VERIFIED"
                                                       for c in service["campaigns"]),
                    "url": f"{request.host_url}v1/Services/{sid}", "links": {}}

        @app.get("/v1/PhoneNumbers/Countries/<iso>")
        def phone_number_prices(iso):
            """https://www.twilio.com/docs/phone-numbers/pricing#fetch-a-country-resource"""
            prices = [] if self.local_price is None or iso != "US" else [
                {"number_type": "local", "base_price": self.local_price, "current_price": self.local_price},
                {"number_type": "toll free", "base_price": "2.15", "current_price": "2.15"}]
            return _json({"country": "United States", "iso_country": iso, "phone_number_prices": prices,
                          "price_unit": "USD", "url": request.url})

        @app.get("/v1/Services")
        def list_services():
            with self._lock:
                mine = [_service_body(sid, s) for sid, s in self.services.items() if s["account_sid"] == g.account]
            return _json(_v1_page("services", mine))

        @app.get("/v1/Services/<sid>")
        def fetch_service(sid):
            service = _service(sid)
            if service is None:
                return _error(20404)
            return _json(_service_body(sid, service))

        @app.get("/v1/Services/<sid>/PhoneNumbers")
        def service_numbers(sid):
            service = _service(sid)
            if service is None:
                return _error(20404)
            return _json(_v1_page("phone_numbers", [
                {"sid": "PN" + secrets.token_hex(16), "account_sid": service["account_sid"], "service_sid": sid,
                 "phone_number": n, "country_code": "US", "capabilities": ["SMS", "Voice"], "url": request.url}
                for n in service["numbers"]]))

        @app.get("/v1/Services/<sid>/Compliance/Usa2p")
        def service_campaigns(sid):
            service = _service(sid)
            if service is None:
                return _error(20404)
            return _json(_v1_page("compliance", service["campaigns"]))

        @app.get(ACCOUNT)
        def fetch_account(account_sid):
            if account_sid != g.account:
                return _error(20404)
            now = format_datetime(datetime.now(timezone.utc))
            uri = f"/2010-04-01/Accounts/{account_sid}.json"
            body = {"sid": account_sid, "owner_account_sid": account_sid, "friendly_name": f"Account {account_sid[-4:]}",
                    "status": "active", "type": "Full", "auth_token": self.accounts[account_sid],
                    "date_created": now, "date_updated": now, "uri": uri,
                    "subresource_uris": {"messages": uri.replace(".json", "/Messages.json")}}
            return Response(json.dumps(body), 200, mimetype="application/json")

        def _page(key, items):
            return {key: items, "page": 0, "page_size": 50, "start": 0, "end": max(0, len(items) - 1),
                    "first_page_uri": request.full_path, "next_page_uri": None, "previous_page_uri": None,
                    "uri": request.full_path}

        def _settable(number: dict, form) -> dict:
            fields = {"SmsUrl": "sms_url", "SmsMethod": "sms_method", "StatusCallback": "status_callback",
                      "StatusCallbackMethod": "status_callback_method", "VoiceUrl": "voice_url",
                      "FriendlyName": "friendly_name"}
            return number | {attr: form[name] for name, attr in fields.items() if name in form}

        @app.get(NUMBERS)
        def list_numbers(account_sid):
            if account_sid != g.account:
                return _error(20404)
            wanted = request.args.get("PhoneNumber")
            with self._lock:
                found = [n for n in self.numbers.values() if n["account_sid"] == account_sid
                         and (not wanted or n["phone_number"] == wanted)]
            return _json(_page("incoming_phone_numbers", found))

        @app.post(NUMBERS)
        def buy_number(account_sid):
            if account_sid != g.account:
                return _error(20404)
            wanted = request.form.get("PhoneNumber")
            with self._lock:
                if wanted not in self.available:
                    return _json({"code": 21422, "message": f"PhoneNumber {wanted} is not available.",
                                  "status": 400}, 400)
                self.available.remove(wanted)
            number = self.own_number(account_sid, wanted, voice_url="")
            with self._lock:
                number = self.numbers[number["sid"]] = _settable(number, request.form)
            return _json(number, 201)

        @app.route(NUMBER, methods=["GET", "POST", "DELETE"])
        def one_number(account_sid, sid):
            with self._lock:
                number = self.numbers.get(sid)
                if account_sid != g.account or number is None or number["account_sid"] != account_sid:
                    return _error(20404)
                if request.method == "DELETE":
                    del self.numbers[sid]
                    return Response("", 204)
                if request.method == "POST":
                    number = self.numbers[sid] = _settable(number, request.form)
            return _json(number)

        @app.get(AVAILABLE)
        def available_numbers(account_sid, country):
            if account_sid != g.account:
                return _error(20404)
            area = request.args.get("AreaCode")
            with self._lock:
                found = [n for n in self.available if not area or n.startswith(f"+1{area}")]
            items = [{"friendly_name": n, "phone_number": n, "lata": "566", "locality": "Austin", "rate_center": "AUSTIN",
                      "latitude": 30.27, "longitude": -97.74, "region": "TX", "postal_code": "78701",
                      "iso_country": country, "address_requirements": "none", "beta": False,
                      "capabilities": {"voice": True, "SMS": True, "MMS": True}} for n in found]
            return _json(_page("available_phone_numbers", items))

        @app.post(MESSAGES)
        def create_message(account_sid):
            form = request.form
            if account_sid != g.account:
                return _error(20404)
            if not form.get("To"):
                return _error(21604)
            if not (form.get("From") or form.get("MessagingServiceSid")):
                return Response(json.dumps({"code": 21603, "message": "A 'From' phone number is required.",
                                            "status": 400}), 400, mimetype="application/json")
            with self._lock:
                failure, accepted = self._failures.pop(0) if self._failures else self._flaky_failure()
            if failure is not None and not accepted:
                return _error(failure)
            now = datetime.now(timezone.utc)
            seg = segments(form["Body"])
            msg = {
                "sid": "SM" + secrets.token_hex(16), "account_sid": account_sid, "api_version": "2010-04-01",
                "body": form["Body"], "to": form["To"], "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"), "status": "queued",
                "direction": "outbound-api", "num_segments": str(seg.count), "num_media": "0",
                "date_created": format_datetime(now), "date_updated": format_datetime(now), "date_sent": None,
                "error_code": None, "error_message": None, "price": None, "price_unit": "USD",
                "status_callback": form.get("StatusCallback"), "validity_period": form.get("ValidityPeriod"),
                "_created": now, "_received_monotonic": time.monotonic(),
            }
            msg["uri"] = f"/2010-04-01/Accounts/{account_sid}/Messages/{msg['sid']}.json"
            msg["subresource_uris"] = {"media": msg["uri"].replace(".json", "/Media.json")}
            with self.received:
                self.messages.append(msg)
                self.received.notify_all()
            if self.answer_delay:
                time.sleep(self.answer_delay)
            if failure == "hang":
                time.sleep(self.hang_seconds)
                failure = None
            if failure is not None:
                return _error(failure)
            return Response(json.dumps(_public(msg)), 201, mimetype="application/json")

        @app.get(CALLS)
        def list_calls(account_sid):
            args = request.args
            with self._lock:
                self.call_lists.append(dict(args))
            after = args.get("StartTime>")
            since = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
            with self._lock:
                found = [c for c in self.calls.values() if c["account_sid"] == account_sid
                         and (not args.get("To") or c["to"] == args["To"])
                         and (not args.get("ParentCallSid") or c["parent_call_sid"] == args["ParentCallSid"])
                         and (since is None or c["_start"] >= since)]
            found.sort(key=lambda c: c["_start"], reverse=True)  # Twilio lists the newest first
            page_size = int(args.get("PageSize", 50))
            body = {"calls": [_public(c) for c in found[:page_size]], "page": 0, "page_size": page_size,
                    "first_page_uri": request.full_path, "next_page_uri": None, "previous_page_uri": None,
                    "uri": request.full_path, "start": 0, "end": max(0, len(found[:page_size]) - 1)}
            return Response(json.dumps(body), 200, mimetype="application/json")

        @app.get(MESSAGES)
        def list_messages(account_sid):
            after = request.args.get("DateSent>")
            with self._lock:
                found = [m for m in self.messages if m["account_sid"] == account_sid
                         and (not request.args.get("To") or m["to"] == request.args["To"])
                         and (not request.args.get("From") or m["from"] == request.args["From"])
                         and (not after or m["_created"].strftime("%Y-%m-%d") >= after[:10])]
            page_size = int(request.args.get("PageSize", 50))
            body = {"messages": [_public(m) for m in found[:page_size]], "page": 0, "page_size": page_size,
                    "first_page_uri": request.full_path, "next_page_uri": None, "previous_page_uri": None,
                    "uri": request.full_path, "start": 0, "end": max(0, len(found[:page_size]) - 1)}
            return Response(json.dumps(body), 200, mimetype="application/json")

        strict(app, self, lambda: _error(20404))

        return app


def _call(sid: str, number: dict, caller: str, called: str, status: str, start: datetime, duration: int,
          parent: str | None) -> dict:
    """A Call resource as GET .../Calls.json lists it (with ``_start`` kept for filtering)."""
    stamp = format_datetime(start)
    return {"sid": sid, "date_created": stamp, "date_updated": stamp, "parent_call_sid": parent,
            "account_sid": number["account_sid"], "to": called, "to_formatted": called, "from": caller,
            "from_formatted": caller, "phone_number_sid": number["sid"], "status": status, "start_time": stamp,
            "end_time": stamp, "duration": str(duration), "price": None, "price_unit": "USD",
            "direction": "outbound-dial" if parent else "inbound", "answered_by": None, "api_version": "2010-04-01",
            "forwarded_from": None, "group_sid": None, "caller_name": None, "queue_time": "0", "trunk_sid": None,
            "uri": f"/2010-04-01/Accounts/{number['account_sid']}/Calls/{sid}.json",
            "subresource_uris": {}, "_start": start}


def _public(msg: dict) -> dict:
    return {k: v for k, v in msg.items() if not k.startswith("_") and k not in ("status_callback", "validity_period")}


def _error(code: int) -> Response:
    status, message = ERRORS[code]
    return Response(json.dumps({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                                "status": status}), status, mimetype="application/json")
