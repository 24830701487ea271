"""A newcomer's first hour: the commands say what is wrong and change what they say they do."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from integration.config import Config
from tests.conftest import BUSINESS_NUMBER, CALLER
from tests.vendors.twilio import fixture, post

RINGBACK = str(Path(sys.executable).with_name("ringback"))
ADD = ["subaccount", "add", "--name", "Acme Plumbing", "--phone", BUSINESS_NUMBER, "--timezone", "America/Chicago",
       "--hours", "24/7"]


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and re.fullmatch(r"ringback \d+\.\d+\.\d+\n", result.output)


@pytest.mark.parametrize("args, complaint", [
    (["--name", ""], "a business name is needed"),
    (["--name", "   "], "a business name is needed"),
    (["--hours", "mon-fri 25:00-26:00"], "25:00 is not a time of day"),
    (["--booking-url", "https://acme.example/book now"], "is not an http(s) URL"),
])
def test_add_refuses_what_would_make_a_broken_sub_account(cli, args, complaint):
    base = dict(zip(ADD[2::2], ADD[3::2]))
    base.update(dict(zip(args[::2], args[1::2])))
    result = cli("subaccount", "add", *[x for kv in base.items() for x in kv])
    assert result.exit_code == 2 and complaint in result.output
    assert "no sub-accounts yet" in cli("subaccount", "list").output


def test_settings_change_everything_add_takes(cli):
    assert cli(*ADD, "--booking-url", "https://acme.example/book").exit_code == 0
    assert cli("subaccount", "add", "--name", "Bright Dental", "--phone", "+15125550199", "--timezone",
               "America/Chicago").exit_code == 0
    result = cli("subaccount", "settings", "1", "--name", "Acme Plumbing & Heating", "--phone", "+15125550111",
                 "--timezone", "America/Denver", "--hours", "mon-fri 07:00-19:00", "--no-booking-url")
    assert result.exit_code == 0, result.output
    assert "Acme Plumbing & Heating (#1)" in result.output and "number: +15125550111; booking link: none" in result.output
    assert "hours: mon-fri 07:00-19:00 (America/Denver)" in result.output
    listing = cli("subaccount", "list").output
    assert "+15125550111" in listing and BUSINESS_NUMBER not in listing
    taken = cli("subaccount", "settings", "1", "--phone", "+15125550199")
    assert taken.exit_code == 1 and "+15125550199 already belongs to another sub-account" in taken.output
    assert cli("subaccount", "settings", "1", "--booking-url", "https://acme.example/b").output.count(
        "booking link: https://acme.example/b") == 1


def test_a_long_text_is_warned_about_and_an_absurd_one_refused(cli):
    assert cli(*ADD).exit_code == 0
    long = "Sorry we missed you at {business_name}! " * 12
    result = cli("subaccount", "settings", "1", "--business-hours-text", long)
    assert result.exit_code == 0
    assert re.search(r"warning: the business hours this text is \d+ characters, \d+ segments in GSM-7", result.output)
    refused = cli("subaccount", "settings", "1", "--after-hours-text", "x" * 1001)
    assert refused.exit_code == 1 and "template is 1001 characters: at most 1000" in refused.output
    formatted = cli("subaccount", "settings", "1", "--after-hours-text", "{business_name:>99999999}")
    assert formatted.exit_code == 1 and "takes no format" in formatted.output


def test_an_unknown_workflow_setting_is_refused_naming_it(cli):
    assert cli(*ADD).exit_code == 0
    result = cli("subaccount", "workflow", "1", "follow_ups", "--set", "nosuchkey=1")
    assert result.exit_code == 1 and "follow_ups.nosuchkey: no such setting" in result.output
    shown = cli("subaccount", "workflow", "1", "follow_ups")
    assert "nosuchkey" not in shown.output


def test_sync_retry_of_a_write_that_is_not_failed_says_so(cli):
    result = cli("sync", "retry", "999")
    assert result.exit_code == 1 and "not failed CRM writes: 999 (no such write)" in result.output


@pytest.mark.parametrize("url, complaint", [
    ("notaurl", "is not a plain URL"),
    ('https://rb.example.com/"><script>', "is not a plain URL"),
    ("https://rb.example.com/?x=1", "is not a plain URL"),
    ("http://rb.example.com", "must be https"),
])
def test_manifests_refuse_a_bad_base_url_before_writing_anything(cli, tmp_path, url, complaint):
    result = cli("manifests", "--base-url", url, "--out", str(tmp_path / "out"))
    assert result.exit_code == 1 and complaint in result.output
    assert not (tmp_path / "out").exists()


def test_remove_asks_first_frees_the_number_and_keeps_the_reports(cli, client, rt, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", rt.config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(rt.config.data_dir))
    assert cli(*ADD).exit_code == 0
    assert post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer")).status_code == 200
    kept = cli("subaccount", "remove", "1", input="n\n")
    assert kept.exit_code == 1 and "its 1 call(s), 1 recovery(ies) and 0 booking(s) stay" in kept.output
    assert "Acme Plumbing" in cli("subaccount", "list").output
    removed = cli("subaccount", "remove", "1", input="y\n")
    assert removed.exit_code == 0 and "removed Acme Plumbing (#1)" in removed.output
    assert "no sub-accounts yet" in cli("subaccount", "list").output
    assert cli("subaccount", "settings", "1").exit_code == 1
    # Its number calls nobody now, and can be given to a new sub-account.
    assert post(client, "/webhooks/twilio/voice", fixture("call_status__busy")).status_code == 200
    assert cli(*ADD).output.strip() == "2"
    report = json.loads(cli("report", "--format", "json").output)
    assert report["total"]["missed_calls"] == 1  # the call before removal; the later one reached nobody


def test_a_removed_sub_account_has_no_settings_page(cli, client, rt, sub, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", rt.config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(rt.config.data_dir))
    home = client.get("/")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', home.data).group(1).decode()
    client.post("/dev/sign-in", data={"csrf_token": token, "next": "/settings/1"})
    assert client.get("/settings/1").status_code == 200
    assert cli("subaccount", "remove", "1", "--yes").exit_code == 0
    assert client.get("/settings/1").status_code == 403
    assert b"Acme Plumbing" not in client.get("/agency").data


def test_development_home_page_opens_the_settings_and_agency_pages(client, rt, sub):
    home = client.get("/")
    assert b'id="open-settings-1"' in home.data and b'id="open-agency"' in home.data
    token = re.search(rb'name="csrf_token" value="([^"]+)"', home.data).group(1).decode()
    assert client.get("/settings/1").status_code == 401
    resp = client.post("/dev/sign-in", data={"csrf_token": token, "next": "/settings/1"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/settings/1"
    assert b"Ringback for Acme Plumbing" in client.get("/settings/1").data
    assert b"Acme Plumbing" in client.get("/agency").data
    token = re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/").data).group(1).decode()
    elsewhere = client.post("/dev/sign-in", data={"csrf_token": token, "next": "https://evil.example/"})
    assert elsewhere.headers["Location"] == "/agency"


def test_production_has_no_development_sign_in(rt, sub, tmp_path, db_url):
    from cryptography.fernet import Fernet

    from integration.app import create_app
    from integration.runtime import Runtime
    config = Config.from_env({"RINGBACK_ENV": "production", "DATABASE_URL": db_url, "RINGBACK_SECRET_KEY": "x" * 40,
                              "RINGBACK_PUBLIC_URL": "https://rb.example.com",
                              "RINGBACK_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    app = create_app(config, rt=Runtime(config))
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    assert b"open-settings" not in client.get("/").data
    assert client.post("/dev/sign-in", data={"next": "/settings/1"}).status_code == 404
    assert client.get("/settings/1").status_code == 401
    app.extensions["ringback"].close()


@pytest.mark.e2e
def test_simulate_call_signs_for_the_server_it_talks_to(tmp_path):
    """The README's first steps, on a real port other than 5000, with no RINGBACK_PUBLIC_URL exported."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RINGBACK_", "TWILIO_", "REDIS_", "DATABASE_", "GHL_", "HUBSPOT_", "SALESFORCE_"))}
    env["RINGBACK_DATA_DIR"] = str(tmp_path / "var")
    assert subprocess.run([RINGBACK, *ADD], env=env, capture_output=True, timeout=60).returncode == 0
    log = open(tmp_path / "serve.log", "w+")
    server = subprocess.Popen([RINGBACK, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok and (tmp_path / "var" / "server.json").exists():
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        done = subprocess.run([RINGBACK, "simulate-call", "--to", BUSINESS_NUMBER, "--from", CALLER], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "outcome: texted" in done.stdout and "[sandboxed]" in done.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
    log.seek(0)
    output = log.read()
    assert "Traceback" not in output and "ringback simulate-call" in output
    assert not (tmp_path / "var" / "server.json").exists()


def test_settings_replace_a_crm_token(cli, monkeypatch, tmp_path):
    from integration.db import make_engine, make_sessionmaker
    from integration.models import Installation
    from marketplace.vault import Vault
    assert cli("subaccount", "add", "--name", "Acme GHL", "--phone", BUSINESS_NUMBER, "--timezone", "America/Chicago",
               "--ghl-location", "ve9EPM428h8vShlRW1KT", "--crm-token", "pit-old").exit_code == 0
    result = cli("subaccount", "settings", "1", "--crm-token", "pit-new")
    assert result.exit_code == 0 and "ghl token replaced (stored encrypted)" in result.output
    assert "pit-new" not in result.output
    config = Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path / "var")})
    with make_sessionmaker(make_engine(config.database_url))() as s:
        [inst] = s.query(Installation).all()
        assert Vault(config.encryption_key).open(inst.access_token) == "pit-new" and inst.kind == "private_token"
    assert cli(*ADD[:5], "+15125550177", *ADD[6:]).exit_code == 0
    twilio_only = cli("subaccount", "settings", "2", "--crm-token", "x")
    assert twilio_only.exit_code == 1 and "has no CRM to connect" in twilio_only.output
