"""The HTTP sessions Ringback calls vendors with honour the deployment's proxy settings exactly as
requests does, although they read them once per vendor host instead of on every request."""
from __future__ import annotations

import pytest
import requests
from flask import Flask, request

from connectors.base import VendorSession, environment_for
from connectors.twilio.client import Credentials, TwilioSender
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, CALLER
from tests.fakes.server import LoopbackServer

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture
def environment(monkeypatch):
    """A clean proxy environment; set(**variables) changes it as a restarted process would see it."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)

    def set_(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        environment_for.cache_clear()  # a new process would start with nothing remembered

    environment_for.cache_clear()
    yield set_
    environment_for.cache_clear()


@pytest.fixture(scope="module")
def proxy():
    """A loopback HTTP proxy that records what it was asked to forward and refuses it (502)."""
    app = Flask("proxy")
    app.asked = []

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def forward(path):
        app.asked.append(request.environ.get("REQUEST_URI") or request.full_path)
        return "proxy refuses", 502

    with LoopbackServer(app) as server:
        server.asked = app.asked
        yield server


ENVIRONMENTS = [
    {},
    {"HTTPS_PROXY": "http://proxy.internal:3128"},
    {"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": "api.twilio.com"},
    {"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": ".twilio.com,localhost"},
    {"HTTP_PROXY": "http://proxy.internal:3128", "NO_PROXY": "127.0.0.1:8080"},
    {"ALL_PROXY": "socks5://proxy.internal:1080", "no_proxy": "*"},
    {"REQUESTS_CA_BUNDLE": "/etc/ssl/corporate.pem"},
    {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem", "https_proxy": "http://p:1"},
]
URLS = ["https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json", "http://127.0.0.1:8080/x",
        "http://127.0.0.1:9090/x", "https://services.leadconnectorhq.com/contacts/"]


@pytest.mark.parametrize("variables", ENVIRONMENTS, ids=lambda v: ",".join(v) or "none")
def test_proxy_and_ca_choices_are_the_ones_requests_makes(variables, environment):
    environment(**variables)
    ours, theirs = VendorSession(), requests.Session()
    for url in URLS:
        for verify in (None, True, False, "/mine.pem"):
            # Twice for ours: the second answer comes from what was remembered.
            for _ in range(2):
                assert (ours.merge_environment_settings(url, {}, None, verify, None)
                        == theirs.merge_environment_settings(url, {}, None, verify, None)), (url, verify)
        mine = {"https": "http://mine:1", "no_proxy": "example.com"}
        assert (ours.merge_environment_settings(url, dict(mine), None, None, None)
                == theirs.merge_environment_settings(url, dict(mine), None, None, None))


def _sender(fake_twilio) -> TwilioSender:
    return TwilioSender(Credentials(ACCOUNT_SID, AUTH_TOKEN).client(fake_twilio.url))


def test_a_text_goes_through_the_deployments_proxy(environment, proxy, fake_twilio):
    environment(HTTP_PROXY=proxy.url)
    proxy.asked.clear()
    with pytest.raises(Exception, match="502"):
        _sender(fake_twilio).send(to=CALLER, from_=BUSINESS_NUMBER, body="Sorry we missed your call")
    assert any(f"/Accounts/{ACCOUNT_SID}/Messages.json" in asked for asked in proxy.asked), proxy.asked
    assert fake_twilio.messages == []


def test_no_proxy_sends_the_text_directly(environment, proxy, fake_twilio):
    environment(HTTP_PROXY=proxy.url, NO_PROXY="localhost,127.0.0.1")  # requests matches an IP without its port
    proxy.asked.clear()
    sent = _sender(fake_twilio).send(to=CALLER, from_=BUSINESS_NUMBER, body="Sorry we missed your call")
    assert sent.sid.startswith("SM") and proxy.asked == []
    assert [m["body"] for m in fake_twilio.messages] == ["Sorry we missed your call"]
