"""Clients' own CRM workflows calling Ringback (actions) and being called by it (triggers)."""
from __future__ import annotations

import hashlib
import json
import time

import pytest
from hubspot.utils.signature import Signature
from sqlalchemy import select

from integration.models import Recovery, Step, TriggerSubscription
from tests.conftest import BUSINESS_NUMBER, CALLER, HUBSPOT_PORTAL, HUBSPOT_SECRET, PUBLIC_URL
from tests.vendors.ghl import LOCATION, ghl_call, missed_call, subscribe
from tests.vendors.twilio import fixture as twilio_fixture
from tests.vendors.twilio import post as twilio_post

CONTACT = "cI08i1Bls3iTB9bKgFJh"


def action_body(contact=CONTACT, location=LOCATION, key="send_text_back") -> dict:
    # GoHighLevel's custom action call (../shared/PROVIDERS.md): data, extras, meta.
    return {"data": {}, "extras": {"locationId": location, "contactId": contact, "workflowId": "wf-8d2f"},
            "meta": {"key": key, "version": "1.0"}}


@pytest.fixture
def known_contact(fake_ghl):
    """The contact the workflow runs on, at the fake GoHighLevel, with the caller's number."""
    fake_ghl.contacts[CONTACT] = {"id": CONTACT, "locationId": LOCATION, "phone": CALLER, "firstName": "Dana"}


def test_send_text_back_action_texts_the_contact_once(client, config, rt, ghl_crm_sub, known_contact, fake_ghl,
                                                     fake_twilio):
    resp = ghl_call(client, config, "/ghl/actions/send_text_back", action_body())
    assert resp.status_code == 200 and resp.json == {"ringback_status": "queued"}
    [text] = fake_twilio.messages
    assert text["to"] == CALLER and text["from"] == BUSINESS_NUMBER and "Acme Plumbing" in text["body"]
    again = ghl_call(client, config, "/ghl/actions/send_text_back", action_body())  # GoHighLevel retries
    assert again.json == {"ringback_status": "duplicate"} and len(fake_twilio.messages) == 1


@pytest.mark.parametrize("path, body, secret, status, why", [
    ("/ghl/actions/send_text_back", action_body(), None, 401, "X-Ringback-Secret"),
    ("/ghl/actions/send_text_back", action_body(), "guessed", 401, "X-Ringback-Secret"),
    ("/ghl/actions/send_text_back", {"data": {}}, "auto", 400, "extras.locationId"),
    ("/ghl/actions/send_text_back", action_body(location="NotInstalledLocation"), "auto", 404, "not installed"),
    ("/ghl/actions/make_coffee", action_body(), "auto", 404, "no action 'make_coffee'"),
    ("/ghl/actions/send_text_back", action_body(contact=None), "auto", 400, "contactId"),
])
def test_ghl_action_refusals(client, config, rt, ghl_crm_sub, fake_twilio, path, body, secret, status, why):
    resp = ghl_call(client, config, path, body, secret)
    assert resp.status_code == status and why in resp.json["error"]
    assert fake_twilio.messages == []


def test_stop_action_closes_the_recovery_and_cancels_what_was_scheduled(client, config, rt, ghl_crm_sub, fake_ghl,
                                                                       fake_twilio, ghl_signing_keys):
    missed_call(client, ghl_signing_keys)
    [contact_id] = fake_ghl.contacts
    with rt.sessions() as s:  # the follow-up is scheduled
        assert s.scalar(select(Step.status).where(Step.kind == "follow_up")) == "pending"
    resp = ghl_call(client, config, "/ghl/actions/stop_followups", action_body(contact=contact_id,
                                                                                key="stop_followups"))
    assert resp.json == {"ringback_status": "stopped", "ringback_stopped": 1}
    with rt.sessions() as s:
        assert s.scalar(select(Recovery.open_key)) is None
        assert s.scalar(select(Step.status).where(Step.kind == "follow_up")) == "cancelled"
    # The next call from the same caller starts a new recovery (the old one is closed).
    again = ghl_call(client, config, "/ghl/actions/stop_followups", action_body(contact=contact_id,
                                                                                 key="stop_followups"))
    assert again.json["ringback_status"] == "nothing to stop"


def test_subscribed_triggers_fire_into_the_clients_workflows(client, config, rt, ghl_crm_sub, fake_ghl, fake_twilio,
                                                             ghl_signing_keys):
    assert subscribe(client, config, fake_ghl, "missed_call_texted_back").json == {"status": "stored"}
    assert subscribe(client, config, fake_ghl, "caller_replied", sub_id="trg-2").json == {"status": "stored"}
    missed_call(client, ghl_signing_keys)
    [contact_id] = fake_ghl.contacts
    [fired] = fake_ghl.fired
    assert fired["trigger"] == "trg-1"
    assert fired["body"]["phone"] == CALLER and fired["body"]["contactId"] == contact_id
    assert fired["body"]["message"] == fake_twilio.messages[0]["body"]
    twilio_post(client, "/webhooks/twilio/sms", twilio_fixture("inbound_sms__reply"))
    assert [f["trigger"] for f in fake_ghl.fired] == ["trg-1", "trg-2"]
    assert fake_ghl.fired[1]["body"]["message"] == twilio_fixture("inbound_sms__reply")["Body"]


def test_a_deleted_subscription_no_longer_fires(client, config, rt, ghl_crm_sub, fake_ghl, fake_twilio,
                                               ghl_signing_keys):
    subscribe(client, config, fake_ghl, "missed_call_texted_back")
    assert subscribe(client, config, fake_ghl, "missed_call_texted_back", event="DELETED").json == {"status": "deleted"}
    missed_call(client, ghl_signing_keys)
    assert fake_ghl.fired == [] and len(fake_twilio.messages) == 1


@pytest.mark.parametrize("key, target, why", [
    ("no_such_trigger", None, "unknown trigger"),
    ("caller_replied", "https://attacker.example/steal", "targetUrl must be on"),
])
def test_bad_subscriptions_are_refused(client, config, rt, ghl_crm_sub, fake_ghl, key, target, why):
    resp = subscribe(client, config, fake_ghl, key, target=target)
    assert resp.status_code == 400 and why in resp.json["error"]
    with rt.sessions() as s:
        assert s.scalar(select(TriggerSubscription)) is None


# ------------------------------------------------------------------ HubSpot

def hubspot_action(client, body: dict, *, version="v3", secret=HUBSPOT_SECRET, path="/hubspot/actions/send_text_back"):
    raw = json.dumps(body)
    if version == "v3":
        ts = str(int(time.time() * 1000))
        headers = {"X-HubSpot-Signature-v3": Signature.get_signature(secret, raw, "v3", http_uri=PUBLIC_URL + path,
                                                                     http_method="POST", timestamp=ts),
                   "X-HubSpot-Request-Timestamp": ts}
    else:
        headers = {"X-HubSpot-Signature": hashlib.sha256((secret + "POST" + PUBLIC_URL + path + raw).encode()).hexdigest(),
                   "X-HubSpot-Signature-Version": "v2"}
    return client.post(path, data=raw, headers=headers | {"Content-Type": "application/json"})


def _hubspot_body(object_id="901", object_type="CONTACT") -> dict:
    # HubSpot's custom workflow action call (../shared/PROVIDERS.md).
    return {"callbackId": "ap-102-34857-1-0", "origin": {"portalId": int(HUBSPOT_PORTAL), "actionDefinitionId": 12345},
            "context": {"source": "WORKFLOWS", "workflowId": 8675309},
            "object": {"objectId": int(object_id), "objectType": object_type, "properties": {}}, "inputFields": {}}


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_hubspot_action_texts_the_enrolled_contact(client, rt, hubspot_sub, fake_hubspot, fake_twilio, version):
    fake_hubspot.put(HUBSPOT_PORTAL, "contacts", "901", {"phone": "(512) 555-0123", "firstname": "Dana"})
    resp = hubspot_action(client, _hubspot_body(), version=version)
    assert resp.status_code == 200
    assert resp.json == {"outputFields": {"hs_execution_state": "SUCCESS", "ringback_status": "queued"}}
    [text] = fake_twilio.messages
    assert text["to"] == CALLER


def test_hubspot_action_refusals(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    assert hubspot_action(client, _hubspot_body(), secret="not-the-secret").status_code == 401
    assert hubspot_action(client, _hubspot_body(), version="v2", secret="not-the-secret").status_code == 401
    deal = hubspot_action(client, _hubspot_body(object_type="DEAL"))
    assert deal.json["outputFields"]["hs_execution_state"] == "FAIL_CONTINUE"
    assert fake_twilio.messages == []
