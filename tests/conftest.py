"""Fixtures shared by the whole suite."""
from __future__ import annotations

import os
import secrets
import shutil
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import redis as redis_lib
import trustme
from sqlalchemy import select, text
from twilio.request_validator import RequestValidator

from integration import migrate
from integration.app import create_app
from integration.config import Config
from integration.db import make_engine
from integration.models import Base, Installation, SubAccount
from integration.runtime import Runtime
from integration.routes.salesforce import secret_hash
from tests.fakes.server import LoopbackServer
from connectors.ghl.crm import forget_pipelines
from connectors.hubspot.crm import forget_properties
from tests.fakes.ghl_api import CLIENT_ID as GHL_CLIENT_ID
from tests.fakes.ghl_api import CLIENT_SECRET as GHL_CLIENT_SECRET
from tests.fakes.ghl_api import FakeGhl
from tests.fakes.hubspot_api import CLIENT_ID as HUBSPOT_CLIENT_ID
from tests.fakes.hubspot_api import FakeHubSpot
from tests.fakes.salesforce_api import CLIENT_ID as SF_CLIENT_ID
from tests.fakes.salesforce_api import CLIENT_SECRET as SF_CLIENT_SECRET
from tests.fakes.salesforce_api import FakeSalesforce
from tests.fakes.twilio_api import FakeTwilio, openapi_for
from tests.marketplace import APP_ID, COMPANY, LOC_A, LOC_B, PORTAL, start_install

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dfeedc0ffee1234567890abcdef12"
PUBLIC_URL = "https://ringback.example.com"
BUSINESS_NUMBER = "+15125550100"
CALLER = "+15125550123"

PG_URL = os.environ.get("RINGBACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("RINGBACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Under .ci/run the real servers are part of the test environment: their absence fails the run.
REQUIRE_SERVICES = os.environ.get("RINGBACK_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"


def _service_missing(what: str, exc: Exception):
    message = f"{what} is not reachable ({exc.__class__.__name__}: {exc})"
    if REQUIRE_SERVICES:
        pytest.fail(message + "; RINGBACK_REQUIRE_SERVICES is set, so this is an error", pytrace=False)
    pytest.skip(message + ": tests that need it are skipped (run ./scripts/test to start it)")


# ------------------------------------------------------------------ databases

@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(f"sqlite:///{path}", engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_database():
    """A fresh PostgreSQL database for this run, migrated with Alembic, dropped at the end."""
    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        yield exc
        return
    name = f"ringback_test_{secrets.token_hex(4)}"
    conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    yield url
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path, _sqlite_template):
    """A migrated, empty database: SQLite (the embedded default) and the real PostgreSQL server."""
    if request.param == "sqlite":
        path = tmp_path / "ringback.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    pg = request.getfixturevalue("_postgres_database")
    if isinstance(pg, Exception):
        _service_missing(f"PostgreSQL at {PG_URL}", pg)
    yield pg
    engine = make_engine(pg)
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def redis_url():
    """The real Redis server (database 15, flushed before the test)."""
    client = redis_lib.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis_lib.RedisError as exc:
        _service_missing(f"Redis at {REDIS_URL}", exc)
    yield REDIS_URL
    client.flushdb()
    client.close()


# ------------------------------------------------------------------ vendors

@pytest.fixture(scope="session")
def _fake_twilio_server():
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    with LoopbackServer(fake.app) as server:
        fake.url = server.url
        fake.openapi = openapi_for(server.url)
        fake.openapi_messaging = openapi_for(server.url, "twilio/twilio_messaging_v1.json")
        yield fake


@pytest.fixture
def fake_twilio(_fake_twilio_server):
    """A loopback Twilio API that fails the test on any request Twilio would refuse."""
    fake = _fake_twilio_server
    fake.reset()
    yield fake
    assert not fake.unexpected, f"unexpected requests to Twilio: {fake.unexpected}"
    assert not fake.invalid, f"requests Twilio would refuse: {fake.invalid}"


@pytest.fixture(scope="session")
def ghl_signing_keys():
    """Test key pairs standing in for GoHighLevel's: (Ed25519 private, RSA private, public PEMs)."""
    ed = Ed25519PrivateKey.generate()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = b"".join(k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                   for k in (ed, rsa_key)).decode()
    return ed, rsa_key, pem


@pytest.fixture(scope="session")
def _fake_ghl_server():
    fake = FakeGhl()
    with LoopbackServer(fake.app) as server:
        fake.url = server.url
        fake.load_specs(server.url)
        yield fake


@pytest.fixture
def fake_ghl(_fake_ghl_server):
    """A loopback GoHighLevel API (fresh state per test) that fails the test on any request GoHighLevel would refuse."""
    fake = _fake_ghl_server
    forget_pipelines()  # a new fake GoHighLevel: what Ringback cached about the last one is stale
    fresh = FakeGhl()
    fake.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in ("app", "url", "_specs")})
    yield fake
    assert not fake.unexpected, f"unexpected requests to GoHighLevel: {fake.unexpected}"
    assert not fake.invalid, f"requests GoHighLevel would refuse: {fake.invalid}"


@pytest.fixture(scope="session")
def _fake_hubspot_server():
    fake = FakeHubSpot()
    with LoopbackServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def fake_hubspot(_fake_hubspot_server):
    """A loopback HubSpot CRM API (fresh state per test), strict about what it serves."""
    fake = _fake_hubspot_server
    forget_properties()  # a new fake HubSpot: what Ringback knew of the last one is stale
    fake.__dict__.update({k: v for k, v in FakeHubSpot().__dict__.items() if k not in ("app", "url")})
    yield fake
    assert not fake.unexpected, f"unexpected requests to HubSpot: {fake.unexpected}"
    assert not fake.invalid, f"requests HubSpot would refuse: {fake.invalid}"


GHL_LOCATION, GHL_TOKEN = "ve9EPM428h8vShlRW1KT", "pit-8f2b6c1e-4d3a-4b5c-9e7f-0a1b2c3d4e5f"


@pytest.fixture
def ghl_crm_sub(rt, fake_ghl):
    """A GoHighLevel sub-account with a Private Integration Token, and its location at the fake."""
    fake_ghl.install(GHL_LOCATION, GHL_TOKEN)
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="ghl", external_id=GHL_LOCATION, phone_number=BUSINESS_NUMBER,
                         timezone="America/Chicago", business_hours="24/7", booking_url="https://acme.example/book")
        s.add(sub)
        s.flush()
        s.add(Installation(sub_account_id=sub.id, provider="ghl", kind="private_token",
                           access_token=rt.vault.seal(GHL_TOKEN)))
    return sub


HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
HUBSPOT_PORTAL, HUBSPOT_TOKEN = "62515", "pat-na1-7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.fixture(scope="session")
def _fake_salesforce_server(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    bundle = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    fake = FakeSalesforce()
    with LoopbackServer(fake.app, ssl_context=context) as server:
        fake.url, fake.ca_bundle = server.url, str(bundle)
        yield fake


@pytest.fixture
def fake_salesforce(_fake_salesforce_server, monkeypatch):
    """A loopback Salesforce org over HTTPS (a test CA that requests is told to trust), fresh per test."""
    fake = _fake_salesforce_server
    fake.__dict__.update({k: v for k, v in FakeSalesforce().__dict__.items() if k not in ("app", "url")})
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
    yield fake
    assert not fake.unexpected, f"unexpected requests to Salesforce: {fake.unexpected}"
    assert not fake.invalid, f"requests Salesforce would refuse: {fake.invalid}"


# ------------------------------------------------------------------ Ringback

@pytest.fixture
def config(db_url, fake_twilio, tmp_path, ghl_signing_keys, _fake_ghl_server, _fake_hubspot_server,
           _fake_salesforce_server) -> Config:
    """Ringback's configuration for a test: real Twilio SDK against the fake, jobs run inline."""
    return Config.from_env({}, database_url=db_url, data_dir=tmp_path, public_url=PUBLIC_URL,
                           twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                           twilio_api_url=fake_twilio.url, queue_immediate=True, env="test",
                           ghl_webhook_public_key=ghl_signing_keys[2], ghl_api_url=_fake_ghl_server.url,
                           hubspot_client_secret=HUBSPOT_SECRET, hubspot_api_url=_fake_hubspot_server.url,
                           ghl_client_id=GHL_CLIENT_ID, ghl_client_secret=GHL_CLIENT_SECRET,
                           hubspot_client_id=HUBSPOT_CLIENT_ID, salesforce_client_id=SF_CLIENT_ID,
                           salesforce_client_secret=SF_CLIENT_SECRET, salesforce_login_url=_fake_salesforce_server.url)


@pytest.fixture
def rt(config):
    """The runtime (database, sender, queue) the app and jobs share."""
    runtime = Runtime(config)
    yield runtime
    runtime.close()


@pytest.fixture
def app(config, rt):
    """The Flask app."""
    return create_app(config, rt=rt)


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def sub(rt) -> SubAccount:
    """A sub-account on BUSINESS_NUMBER, open 24/7 unless a test changes it."""
    with rt.sessions.begin() as s:
        row = SubAccount(name="Acme Plumbing", provider="twilio", external_id=BUSINESS_NUMBER,
                         phone_number=BUSINESS_NUMBER, timezone="America/Chicago", business_hours="24/7",
                         booking_url="https://acme.example/book")
        s.add(row)
    return row


@pytest.fixture
def hubspot_sub(rt, fake_hubspot):
    """A HubSpot portal's sub-account with a private-app token; its texts go from BUSINESS_NUMBER."""
    fake_hubspot.install(HUBSPOT_PORTAL, HUBSPOT_TOKEN)
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="hubspot", external_id=HUBSPOT_PORTAL, phone_number=BUSINESS_NUMBER,
                         timezone="America/Chicago", business_hours="24/7")
        s.add(sub)
        s.flush()
        s.add(Installation(sub_account_id=sub.id, provider="hubspot", kind="private_token",
                           access_token=rt.vault.seal(HUBSPOT_TOKEN)))
    return sub


SF_ORG, SF_SECRET = "00D5e000000Ab1cEAC", "kq3Vb8f2Lw9Xc4Tz7Nd1Rh6Ym0Pe5Ga2"
SF_LEAD, SF_CONTACT, SF_OTHER_CALLER = "00Q5e00000AbCdEEAR", "0035e00000XyZ12AAB", "+15125550177"


@pytest.fixture
def salesforce_sub(rt, fake_salesforce):
    """An org's sub-account: its Outbound Message URL secret, session, and instance URL at the fake."""
    fake_salesforce.put("Lead", SF_LEAD, {"Phone": "(512) 555-0123", "MobilePhone": None, "LastName": "Reyes"})
    fake_salesforce.put("Contact", SF_CONTACT, {"Phone": SF_OTHER_CALLER, "MobilePhone": None, "LastName": "Okafor"})
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="salesforce", external_id=SF_ORG, phone_number=BUSINESS_NUMBER,
                         timezone="America/Chicago", business_hours="24/7")
        s.add(sub)
        s.flush()
        s.add(Installation(sub_account_id=sub.id, provider="salesforce", instance_url=fake_salesforce.url,
                           access_token=rt.vault.seal(fake_salesforce.session_id),
                           webhook_secret=rt.vault.seal(SF_SECRET), webhook_secret_hash=secret_hash(SF_SECRET)))
    return sub


@pytest.fixture
def agencies(client, rt, config, fake_ghl, fake_hubspot, ghl_signing_keys, fake_twilio, monkeypatch):
    """A GoHighLevel agency (two locations, one missed caller texted back) and a HubSpot portal's
    agency, both installed from their marketplaces; {"ghl": (agency id, [sub ids]), "hubspot": ...}."""
    from dataclasses import replace

    from tests.vendors.ghl import known_caller, outbound, raw, send, signed  # (they import this module)
    rt.config = replace(rt.config, ghl_app_id=APP_ID)
    for loc, name in ((LOC_A, "Acme Plumbing"), (LOC_B, "Bright Dental")):
        fake_ghl.add_location(loc, COMPANY, name)
    fake_ghl.add_number(LOC_A, "+15125550100", default=True, sms=True)
    query = start_install(client, "ghl")
    code = fake_ghl.authorize(query["redirect_uri"], company_id=COMPANY, locations=[LOC_A, LOC_B])
    assert client.get(f"/oauth/ghl/callback?code={code}&state={query['state']}").status_code == 302
    known_caller(fake_ghl)
    body = raw("inbound_message__call_no_answer")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    assert len(outbound(fake_ghl)) == 1  # the caller was texted back
    query = start_install(client, "hubspot")
    code = fake_hubspot.authorize(PORTAL, query["redirect_uri"])
    assert client.get(f"/oauth/hubspot/callback?code={code}&state={query['state']}").status_code == 302
    with rt.sessions() as s:
        subs = s.scalars(select(SubAccount).order_by(SubAccount.id)).all()
        by_crm = {}
        for sub in subs:
            by_crm.setdefault(sub.provider, (sub.agency_id, []))[1].append(sub.id)
    assert set(by_crm) == {"ghl", "hubspot"} and by_crm["ghl"][0] != by_crm["hubspot"][0]
    return by_crm


@pytest.fixture
def tokens(agencies, config, monkeypatch):
    """A token per agency, made as an agency admin makes one: `ringback agency token create`."""
    from tests.commands import run_cli
    made = {}
    for crm, (agency_id, _) in agencies.items():
        result = run_cli(config, monkeypatch, "agency", "token", "create", "--agency", str(agency_id),
                         "--name", f"{crm} reporting")
        made[crm] = result.stdout.strip().splitlines()[0]
    return made


def sign(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    """Twilio's X-Twilio-Signature for ``params`` posted to ``url``."""
    return RequestValidator(token).compute_signature(url, params)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Runs `ringback ...` in a brand-new data directory (no database yet), with no Ringback setting."""
    import os as _os

    from click.testing import CliRunner

    from integration.cli import main
    for name in list(_os.environ):
        if name.startswith(("RINGBACK_", "TWILIO_", "GHL_", "HUBSPOT_", "SALESFORCE_", "DATABASE_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    return lambda *args, input=None: runner.invoke(main, list(args), catch_exceptions=False, input=input)


# ------------------------------------------------------------------ vendor contracts

@pytest.fixture
def ringback(cli, rt, fake_twilio, monkeypatch):
    """`ringback ...` against this test's database, Twilio fake and public URL."""
    for name, value in (("DATABASE_URL", rt.config.database_url), ("RINGBACK_DATA_DIR", str(rt.config.data_dir)),
                        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID), ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
                        ("TWILIO_API_URL", fake_twilio.url), ("RINGBACK_PUBLIC_URL", PUBLIC_URL)):
        monkeypatch.setenv(name, value)

    def run(*args, **kwargs):
        try:
            return cli(*args, **kwargs)
        finally:
            rt.huey.configure(rt.config)  # the command configured this process's queue for itself

    return run


@pytest.fixture
def installed(rt):
    """A HubSpot portal's sub-account as an install leaves it: no number to text from."""
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="hubspot", external_id=HUBSPOT_PORTAL, timezone="America/Chicago",
                         business_hours="24/7")
        s.add(sub)
        s.flush()
        s.add(Installation(sub_account_id=sub.id, provider="hubspot", kind="oauth", access_token=rt.vault.seal("t")))
    return sub


def run_scheduled(rt) -> None:
    """Run the retries the worker scheduled, as the consumer would as time passes (jobs run inline here)."""
    later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=1)
    for _ in range(100):
        due = rt.huey.read_schedule(later)
        if not due:
            return
        for task in due:
            rt.huey.execute(task, timestamp=later)
    raise AssertionError("retries kept scheduling retries")


def pytest_configure(config):
    from tests import contracts
    if not contracts.available() and contracts.REQUIRED:
        raise pytest.UsageError(f"vendor contracts are required under CI and {contracts.CONTRACTS} does not exist")


def pytest_report_header(config):
    from tests import contracts
    return contracts.missing_message()
