"""Catch-up end to end: `ringback serve` on a real port, each vendor's fake on its own, a call whose
webhook never came, and `ringback catch-up` (the pass the worker runs every five minutes) finding
it: the caller is texted once, and the installations list says when calls were last caught up."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import ACCOUNT_SID, BUSINESS_NUMBER, CALLER, HUBSPOT_PORTAL, HUBSPOT_SECRET, HUBSPOT_TOKEN
from tests.servers import RINGBACK, start_server, wait_until
from tests.vendors.ghl import EVENT_CONTACT, LOCATION, known_caller
from tests.vendors.hubspot import MISSED
from tests.vendors.salesforce import LEAD, ORG

pytestmark = pytest.mark.e2e


def _catch_up(server) -> str:
    done = subprocess.run([RINGBACK, "catch-up"], env=server["env"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "caught up 1 of 1 sub-account(s)" in done.stdout
    return done.stdout


def _texted_once(server, fake_twilio) -> None:
    [text] = fake_twilio.wait_for(1)
    assert text["to"] == CALLER
    _catch_up(server)  # another pass: the call is known now
    assert len(fake_twilio.messages) == 1


def test_a_twilio_number(request, db_url, fake_twilio, tmp_path):
    fake_twilio.own_number(ACCOUNT_SID, BUSINESS_NUMBER)
    server = start_server(request, db_url, fake_twilio, tmp_path)
    try:
        fake_twilio.call(BUSINESS_NUMBER, CALLER, "no-answer")  # its status callback never reached Ringback
        _catch_up(server)
        _texted_once(server, fake_twilio)
    finally:
        server["stop"]()


def test_gohighlevel(request, db_url, fake_twilio, fake_ghl, ghl_signing_keys, tmp_path):
    fake_ghl.install(LOCATION, "pit-e2e-0002")
    server = start_server(request, db_url, fake_twilio, tmp_path,
                          env_extra={"GHL_API_URL": fake_ghl.url, "GHL_WEBHOOK_PUBLIC_KEY": ghl_signing_keys[2]},
                          add_args=["--ghl-location", LOCATION, "--crm-token", "pit-e2e-0002"])
    try:
        known_caller(fake_ghl)
        fake_ghl.call(LOCATION, EVENT_CONTACT, "voicemail")
        _catch_up(server)
        _texted_once(server, fake_twilio)
        stage = lambda: [fake_ghl.stage_name(o) for o in fake_ghl.opportunities.values()]  # noqa: E731
        wait_until(lambda: stage() == ["Texted back"], what="the opportunity in Texted back")
        listed = subprocess.run([RINGBACK, "installations", "list", "--format", "json"], env=server["env"],
                                capture_output=True, text=True, timeout=60)
        [row] = json.loads(listed.stdout)
        assert row["caught_up"] == "just now" and row["found_by_catch_up"] == 1
    finally:
        server["stop"]()


def test_hubspot(request, db_url, fake_twilio, fake_hubspot, tmp_path):
    fake_hubspot.install(HUBSPOT_PORTAL, HUBSPOT_TOKEN)
    server = start_server(request, db_url, fake_twilio, tmp_path,
                          env_extra={"HUBSPOT_API_URL": fake_hubspot.url, "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET},
                          add_args=["--hubspot-portal", HUBSPOT_PORTAL, "--crm-token", HUBSPOT_TOKEN])
    try:
        fake_hubspot.put(HUBSPOT_PORTAL, "calls", "52000077", MISSED)  # logged; its webhook lost
        _catch_up(server)
        _texted_once(server, fake_twilio)
    finally:
        server["stop"]()


def test_salesforce(request, db_url, fake_twilio, fake_salesforce, tmp_path):
    fake_salesforce.put("Lead", LEAD, {"Phone": CALLER, "MobilePhone": None, "LastName": "Reyes"})
    server = start_server(request, db_url, fake_twilio, tmp_path,
                          env_extra={"REQUESTS_CA_BUNDLE": fake_salesforce.ca_bundle},
                          add_args=["--salesforce-org", ORG, "--salesforce-instance", fake_salesforce.url,
                                    "--crm-token", fake_salesforce.session_id])
    try:
        fake_salesforce.call_task(LEAD, disposition="No Answer")  # its Outbound Message never came
        _catch_up(server)
        _texted_once(server, fake_twilio)
        wait_until(lambda: fake_salesforce.records[("Lead", LEAD)].get("Status") == "Texted back",
                   what="the Lead in Texted back")
    finally:
        server["stop"]()
