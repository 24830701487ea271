"""GoHighLevel's marketplace webhook: one test per real payload, one per way a request is refused."""
from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from connectors.ghl.webhook import WebhookKeys
from integration.models import Call, InboxEvent, Message, OptOut, Recovery, SubAccount
from tests import webhooks
from tests.conftest import BUSINESS_NUMBER, CALLER
from tests.vendors.ghl import APP_ID, LOCATION, raw, send, signed
from tests.vendors.twilio import fixture as twilio_fixture
from tests.vendors.twilio import post as twilio_post

# What each payload leads to: (inbox status, call outcome or None, texts sent through Twilio).
EXPECTED = {
    "inbound_message__call_voicemail": ("done", "texted", 1),
    "inbound_message__call_no_answer": ("done", "texted", 1),
    "inbound_message__call_answered": ("done", "answered", 0),
    "inbound_message__call_completed_no_duration": ("done", "texted", 1),  # no duration: nobody talked
    "inbound_message__call_voicemail_without_numbers": ("done", "unusable_number", 0),
    "outbound_message__call_no_answer": ("done", "not_missed", 0),
    "outbound_message__call_answered_docs_example": ("done", "answered", 0),
    "inbound_message__sms_reply": ("done", None, 0),
    "inbound_message__sms_stop": ("done", None, 0),
    "inbound_message__email": ("ignored", None, 0),
    # A delivery report for a text Ringback has not recorded (yet): kept pending for a minute.
    "outbound_message__sms_delivered": ("pending", None, 0),
    "outbound_message__sms_from_app": ("done", None, 0),  # a person's own text: looked at, not Ringback's
    "outbound_message__sms_missed_call_text_back": ("done", None, 0),  # GoHighLevel's own: watched for doubles
    "appointment_create__confirmed": ("done", None, 0),
    "install__location": ("done", None, 0),
    "install__company": ("done", None, 0),
    "uninstall__location": ("done", None, 0),
    # Signed by GoHighLevel (one key signs every app's webhooks) but about another app: not ours.
    "uninstall__another_app": ("ignored", None, 0),
    "contact_create__basic": ("ignored", None, 0),
}


@pytest.fixture
def ghl_sub(rt):
    """A GoHighLevel sub-account whose texts go out from BUSINESS_NUMBER (open 24/7)."""
    with rt.sessions.begin() as s:
        row = SubAccount(name="Acme Plumbing", provider="ghl", external_id=LOCATION, phone_number=BUSINESS_NUMBER,
                         timezone="America/Chicago", business_hours="24/7", booking_url="https://acme.example/book")
        s.add(row)
    return row


def _events(rt):
    with rt.sessions() as s:
        return s.scalars(select(InboxEvent).order_by(InboxEvent.id)).all()


def test_every_fixture_has_an_expectation():
    webhooks.assert_every_fixture_expected("ghl", EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_payload(name, client, rt, ghl_sub, fake_twilio, ghl_signing_keys):
    status, outcome, texts = EXPECTED[name]
    rt.config = replace(rt.config, ghl_app_id=APP_ID)
    body = raw(name)
    resp = send(client, body, signed(body, ghl_signing_keys))
    assert resp.status_code == 200, resp.json
    [event] = _events(rt)
    assert event.status == status, event.result
    with rt.sessions() as s:
        call = s.scalar(select(Call))
        assert (call.outcome if call else None) == outcome, call.reason if call else None
    assert len(fake_twilio.messages) == texts
    if texts:
        assert fake_twilio.messages[0]["to"] == CALLER and fake_twilio.messages[0]["from"] == BUSINESS_NUMBER
        assert "Acme Plumbing" in fake_twilio.messages[0]["body"]


def test_call_without_numbers_says_the_contact_must_be_looked_up(client, rt, ghl_sub, ghl_signing_keys):
    body = raw("inbound_message__call_voicemail_without_numbers")
    send(client, body, signed(body, ghl_signing_keys))
    with rt.sessions() as s:
        assert "names only contact gb7laj5aYQC4glDtP1r5" in s.scalar(select(Call.reason))


def test_legacy_rsa_signature_is_accepted(client, rt, ghl_sub, fake_twilio, ghl_signing_keys):
    body = raw("inbound_message__call_no_answer")
    assert send(client, body, signed(body, ghl_signing_keys, "rsa")).status_code == 200
    assert len(fake_twilio.messages) == 1


def test_sms_reply_lands_on_the_open_recovery_and_stop_opts_out(client, rt, ghl_sub, fake_twilio, ghl_signing_keys):
    for name in ("inbound_message__call_no_answer", "inbound_message__sms_reply", "inbound_message__sms_stop"):
        body = raw(name)
        send(client, body, signed(body, ghl_signing_keys))
    with rt.sessions() as s:
        rec = s.scalar(select(Recovery))
        assert rec.state == "replied" and rec.open_key is None  # STOP closed it
        assert s.scalar(select(OptOut.source)) == "keyword"
        replies = s.scalars(select(Message.body).where(Message.direction == "inbound")).all()
        assert replies == ["Hi, yes - the kitchen sink is leaking. Can you come tomorrow morning?", "STOP"]
    assert len(fake_twilio.messages) == 1  # GoHighLevel answers STOP itself; Ringback sends nothing more
    # The caller rings again: no text.
    again = json.loads(raw("inbound_message__call_voicemail"))
    body = json.dumps(again | {"messageId": "Zz9y8x7w6v5u4t3s2r1q", "webhookId": "aaaaaaaa-0000-4000-8000-000000000001"}).encode()
    send(client, body, signed(body, ghl_signing_keys))
    with rt.sessions() as s:
        assert s.scalar(select(Call.outcome).where(Call.call_id == "Zz9y8x7w6v5u4t3s2r1q")) == "suppressed"
    assert len(fake_twilio.messages) == 1


def test_ghl_and_twilio_events_share_the_recovery(client, rt, ghl_sub, fake_twilio, ghl_signing_keys):
    body = raw("inbound_message__call_voicemail")
    send(client, body, signed(body, ghl_signing_keys))
    # The caller replies to the text, which went out from the sub-account's Twilio number.
    twilio_post(client, "/webhooks/twilio/sms", twilio_fixture("inbound_sms__reply"))
    with rt.sessions() as s:
        assert s.scalar(select(Recovery.state)) == "replied"


# ------------------------------------------------------------------ refusals, one per reason

def _nothing_stored(rt):
    return not _events(rt)


def test_unsigned_is_refused(client, rt, ghl_sub, caplog):
    resp = send(client, raw("inbound_message__call_no_answer"), {})
    assert resp.status_code == 401 and "missing" in resp.json["error"]
    assert _nothing_stored(rt) and "key=ghl.signature_missing" in caplog.text


def test_signature_by_another_key_is_refused(client, rt, ghl_sub, caplog):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    body = raw("inbound_message__call_no_answer")
    header = {"X-GHL-Signature": base64.b64encode(Ed25519PrivateKey.generate().sign(body)).decode()}
    assert send(client, body, header).status_code == 401
    assert _nothing_stored(rt) and "key=ghl.signature_invalid" in caplog.text


def test_tampered_body_is_refused(client, rt, ghl_sub, ghl_signing_keys):
    body = raw("inbound_message__call_answered")
    headers = signed(body, ghl_signing_keys)
    assert send(client, body.replace(b'"callDuration":120', b'"callDuration":2'), headers).status_code == 401
    assert _nothing_stored(rt)


def test_garbage_signature_is_refused(client, rt, ghl_sub):
    assert send(client, raw("inbound_message__call_no_answer"), {"X-GHL-Signature": "not base64!"}).status_code == 401


def test_current_signature_wins_over_a_valid_legacy_one(client, rt, ghl_sub, ghl_signing_keys):
    body = raw("inbound_message__call_no_answer")
    headers = signed(body, ghl_signing_keys, "rsa") | {"X-GHL-Signature": base64.b64encode(b"x" * 64).decode()}
    assert send(client, body, headers).status_code == 401


def test_signed_but_not_json_is_400(client, rt, ghl_sub, ghl_signing_keys, caplog):
    body = b"type=InboundMessage"
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 400
    assert "key=ghl.payload_invalid" in caplog.text


@pytest.mark.parametrize("age, status, key", [
    (timedelta(minutes=6), 401, "ghl.timestamp_stale"),
    (timedelta(minutes=-6), 401, "ghl.timestamp_stale"),
])
def test_stale_timestamp_is_refused(client, rt, ghl_sub, ghl_signing_keys, caplog, age, status, key):
    body = raw("inbound_message__call_no_answer", datetime.now(timezone.utc) - age)
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == status
    assert _nothing_stored(rt) and f"key={key}" in caplog.text


def test_missing_timestamp_is_refused(client, rt, ghl_sub, ghl_signing_keys, caplog):
    payload = json.loads(raw("inbound_message__call_no_answer"))
    del payload["timestamp"]
    body = json.dumps(payload).encode()
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 400
    assert "key=ghl.timestamp_missing" in caplog.text


@pytest.mark.parametrize("change, named", [
    ({"messageId": None}, "messageId"),
    ({"locationId": ""}, "locationId"),
    ({"callStatus": "exploded", "status": "exploded"}, "callStatus"),
    ({"direction": "sideways"}, "direction"),
])
def test_malformed_event_is_400_naming_the_field(client, rt, ghl_sub, ghl_signing_keys, change, named):
    payload = json.loads(raw("inbound_message__call_no_answer"))
    for k, v in change.items():
        if v is None:
            payload.pop(k)
        else:
            payload[k] = v
    body = json.dumps(payload).encode()
    resp = send(client, body, signed(body, ghl_signing_keys))
    assert resp.status_code == 400 and named in resp.json["error"]
    assert _nothing_stored(rt)


def test_duplicate_webhook_id_and_repeated_call_status_are_ignored(client, rt, ghl_sub, fake_twilio, ghl_signing_keys):
    body = raw("inbound_message__call_no_answer")
    assert send(client, body, signed(body, ghl_signing_keys)).json["status"] == "accepted"
    assert send(client, body, signed(body, ghl_signing_keys)).json["status"] == "duplicate"
    # The same call status again under another webhookId: still one event, one text.
    payload = json.loads(body) | {"webhookId": "ffffffff-0000-4000-8000-000000000000"}
    again = json.dumps(payload).encode()
    assert send(client, again, signed(again, ghl_signing_keys)).json["status"] == "duplicate"
    assert len(_events(rt)) == 1 and len(fake_twilio.messages) == 1


def test_unknown_location_is_stored_as_unroutable(client, rt, ghl_signing_keys, caplog):
    body = raw("inbound_message__call_no_answer")
    assert send(client, body, signed(body, ghl_signing_keys)).json["status"] == "unroutable"
    [event] = _events(rt)
    assert event.status == "unroutable" and LOCATION in event.result
    assert "key=ghl.unroutable" in caplog.text


def test_install_for_a_location_not_yet_known_is_kept(client, rt, ghl_signing_keys):
    rt.config = replace(rt.config, ghl_app_id=APP_ID)
    body = raw("install__company")
    assert send(client, body, signed(body, ghl_signing_keys)).json["status"] == "accepted"
    [event] = _events(rt)
    assert event.kind == "install" and event.payload["companyId"] == "otg8dTQqGLh3Q6iQI55w"


def test_published_keys_are_the_default():
    keys = WebhookKeys.from_pem(None)
    assert len(keys.ed25519) == 1 and len(keys.rsa) == 1
    assert keys.rsa[0].key_size == 4096


def test_configured_key_of_another_type_is_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValueError, match="expected Ed25519 or RSA"):
        WebhookKeys.from_pem(pem)


def test_no_sender_number_is_recorded_not_crashed(client, rt, ghl_signing_keys, fake_twilio):
    with rt.sessions.begin() as s:
        s.add(SubAccount(name="No Number Co", provider="ghl", external_id=LOCATION, phone_number=None,
                         timezone="America/Chicago", business_hours="24/7"))
    body = raw("inbound_message__call_no_answer")
    send(client, body, signed(body, ghl_signing_keys))
    with rt.sessions() as s:
        assert s.scalar(select(Call.outcome)) == "no_sender"
        assert s.scalar(select(func.count()).select_from(Message)) == 0
    assert fake_twilio.messages == []


def test_without_ghl_app_id_no_install_or_uninstall_is_acted_on(client, rt, ghl_sub, ghl_signing_keys):
    body = raw("uninstall__location")  # would switch the text back off and delete the tokens
    resp = send(client, body, signed(body, ghl_signing_keys))
    assert resp.json == {"status": "ignored", "type": "UNINSTALL:GHL_APP_ID-unset"}
    [event] = _events(rt)
    assert event.status == "ignored"
