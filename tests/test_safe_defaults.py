"""Safe by default: no published secret, private files, closed metrics in production, loud warnings,
and error pages that give nothing away."""
from __future__ import annotations

import stat
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from integration.app import create_app
from integration.config import DEV_SECRET_KEY, Config, ConfigError
from integration.models import SubAccount
from integration.runtime import Runtime
from integration.viewer import KEY, TTL_SECONDS


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_development_makes_its_own_secrets_and_keeps_them_private(tmp_path):
    first = Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path / "a")})
    again = Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path / "a")})
    other = Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path / "b")})
    assert first.secret_key == again.secret_key != other.secret_key
    assert first.secret_key != DEV_SECRET_KEY and len(first.secret_key) >= 48
    Fernet(first.encryption_key.encode())  # a real key, made for this data directory
    assert first.encryption_key == again.encryption_key != other.encryption_key
    for name in ("secret_key", "encryption_key"):
        assert _mode(tmp_path / "a" / name) == 0o600
    assert _mode(tmp_path / "a") == 0o700


def test_the_old_published_constant_is_refused_wherever_it_is_given():
    with pytest.raises(ConfigError, match="old published development default"):
        Config.from_env({"RINGBACK_SECRET_KEY": DEV_SECRET_KEY})


def test_a_session_forged_with_the_old_constant_opens_nothing(tmp_path):
    config = Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path)})
    app = create_app(config, rt=Runtime(config))
    with app.extensions["ringback"].sessions.begin() as s:
        s.add(SubAccount(name="Acme Plumbing", provider="twilio", external_id="+15125550100",
                         phone_number="+15125550100", timezone="America/Chicago", business_hours="24/7"))
    forger = Flask("forger")
    forger.secret_key = DEV_SECRET_KEY
    import time
    cookie = SecureCookieSessionInterface().get_signing_serializer(forger).dumps(
        {KEY: {"provider": "ghl", "user": "attacker", "agency_id": None, "sub_ids": [1],
               "expires": time.time() + TTL_SECONDS}})
    client = app.test_client()
    client.set_cookie("session", cookie)
    page = client.get("/settings/1")
    assert page.status_code == 401 and b"Acme Plumbing" not in page.data
    app.extensions["ringback"].close()


def test_a_webhook_neither_reads_nor_sets_a_session_cookie(client, sub, fake_twilio):
    """A vendor's request is never a signed-in person's, whatever cookie it carries."""
    from tests.vendors.twilio import fixture, post
    client.set_cookie("session", "not-a-signed-session")
    answer = post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    page = client.get("/settings/1")  # a person's page still reads (and refuses) the cookie
    assert page.status_code == 401


def test_database_and_queue_files_are_readable_by_their_owner_only(tmp_path):
    config = Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path / "var")})
    rt = Runtime(config)
    rt.huey.enqueue  # noqa: B018 (the queue file is made with the storage)
    with rt.sessions.begin() as s:
        s.add(SubAccount(name="Acme", provider="twilio", external_id="+15125550100", phone_number="+15125550100",
                         timezone="America/Chicago", business_hours="24/7"))
    created = sorted(p.name for p in (tmp_path / "var").iterdir())
    assert "ringback.db" in created and "ringback-queue.db" in created
    for path in (tmp_path / "var").iterdir():
        assert _mode(path) == 0o600, (path.name, oct(_mode(path)))
    rt.close()


def test_metrics_are_closed_in_production_unless_switched_on(db_url, tmp_path):
    env = {"RINGBACK_ENV": "production", "DATABASE_URL": db_url, "RINGBACK_PUBLIC_URL": "https://rb.example.com",
           "RINGBACK_SECRET_KEY": "a-secret-of-our-own", "RINGBACK_ENCRYPTION_KEY": Fernet.generate_key().decode(),
           "RINGBACK_DATA_DIR": str(tmp_path)}
    closed = Config.from_env(env)
    assert not closed.metrics_enabled
    app = create_app(closed, rt=Runtime(closed))
    assert app.test_client().get("/metrics").status_code == 404
    app.extensions["ringback"].close()
    opened = Config.from_env(env | {"RINGBACK_METRICS": "on"})
    app = create_app(opened, rt=Runtime(opened))
    resp = app.test_client().get("/metrics")
    assert resp.status_code == 200 and b"ringback_calls" in resp.data
    app.extensions["ringback"].close()
    with pytest.raises(ConfigError, match="RINGBACK_METRICS must be on or off"):
        Config.from_env(env | {"RINGBACK_METRICS": "sometimes"})
    assert Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path)}).metrics_enabled  # development: open


def test_start_up_warnings_name_what_is_unsafe(tmp_path):
    dev = Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path), "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
                           "TWILIO_AUTH_TOKEN": "t" * 32, "GHL_CLIENT_SECRET": "s"})
    [warning] = dev.warnings()
    assert "DEVELOPMENT MODE WITH REAL CREDENTIALS (TWILIO_AUTH_TOKEN, GHL_CLIENT_SECRET)" in warning
    assert "RINGBACK_ENV=production" in warning
    prod = Config.from_env({"RINGBACK_ENV": "production", "DATABASE_URL": "postgresql://db/rb",
                            "RINGBACK_PUBLIC_URL": "http://rb.example.com", "RINGBACK_SECRET_KEY": "x",
                            "RINGBACK_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    warnings = prod.warnings()
    assert any("SANDBOX sender" in w for w in warnings) and any("is not https" in w for w in warnings)
    assert Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path)}).warnings() == []


def test_keys_new_prints_a_key_that_works(cli):
    result = cli("keys", "new")
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())


def test_a_bad_encryption_key_is_one_line_naming_the_command(cli, monkeypatch):
    monkeypatch.setenv("RINGBACK_ENCRYPTION_KEY", "not-a-key")
    result = cli("subaccount", "list")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: RINGBACK_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated, first one "
        "encrypting: make one with `ringback keys new`"]


def test_production_on_an_unmigrated_database_refuses_in_one_line(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("RINGBACK_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("RINGBACK_PUBLIC_URL", "https://rb.example.com")
    monkeypatch.setenv("RINGBACK_SECRET_KEY", "a-secret-of-our-own")
    monkeypatch.setenv("RINGBACK_ENCRYPTION_KEY", Fernet.generate_key().decode())
    for command in (["serve", "--port", "1"], ["worker"]):
        result = cli(*command)
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines()[-1] == (
            "Error: the database schema is not current: run `ringback db upgrade` (the release step)")
        assert "Traceback" not in result.output


def test_an_unreachable_vendor_during_install_shows_no_internal_address(client, rt):
    rt.config = replace(rt.config, ghl_api_url="http://127.0.0.1:9")  # nothing listens there
    from urllib.parse import parse_qs, urlparse
    start = client.get("/oauth/ghl/install")
    state = parse_qs(urlparse(start.headers["Location"]).query)["state"][0]
    page = client.get(f"/oauth/ghl/callback?code=abc&state={state}")
    assert page.status_code == 503 and b"could not be reached" in page.data
    assert b"127.0.0.1" not in page.data and b"HTTPConnection" not in page.data and b"Errno" not in page.data


def test_while_the_database_is_away_vendors_are_asked_to_send_again(config, ghl_signing_keys):
    """Nothing can be stored, so nothing is acknowledged: each vendor gets the answer it retries on
    (GoHighLevel only retries a 429), with Retry-After; a person gets a page, never a 500."""
    from dataclasses import replace

    from integration.app import create_app
    from integration.runtime import Runtime
    from tests.vendors.ghl import raw, send, signed
    from tests.vendors.twilio import fixture, post
    away = replace(config, database_url="postgresql+psycopg://ringback@127.0.0.1:1/ringback")  # nothing listens
    rt = Runtime(away, migrate_db=False)
    try:
        client = create_app(away, rt=rt).test_client()
        body = raw("inbound_message__call_voicemail")
        answer = send(client, body, signed(body, ghl_signing_keys))
        assert (answer.status_code, answer.headers.get("Retry-After")) == (429, "10")
        assert "nothing was stored" in answer.json["error"]
        answer = post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
        assert (answer.status_code, answer.headers.get("Retry-After")) == (503, "10")
        page = client.get("/settings/1", headers={"Accept": "text/html"})
        assert page.status_code == 503 and b"Try again in a moment" in page.data
    finally:
        rt.close()
