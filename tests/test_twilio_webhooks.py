"""Twilio's webhooks: one test per real parameter set, one per way a request is refused."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from connectors.base import WebhookRejected
from connectors.twilio import webhook
from integration.models import Call, InboxEvent, Message, OptOut, Recovery
from tests import webhooks
from tests.conftest import ACCOUNT_SID, BUSINESS_NUMBER, CALLER, PUBLIC_URL, sign
from tests.vendors.twilio import fixture, post, route_for

# What each call fixture must lead to: (call outcome, texts sent).
CALLS = {
    "call_status__ringing": (None, 0),
    "call_status__no_answer": ("texted", 1),
    "call_status__busy": ("texted", 1),
    "call_status__canceled": ("texted", 1),
    "call_status__failed": ("texted", 1),
    "call_status__completed_voicemail": ("texted", 1),
    "call_status__completed_answered": ("answered", 0),
    "call_status__outbound_no_answer": ("not_missed", 0),
    "call_status__anonymous_caller": ("unusable_number", 0),
    "dial_action__no_answer": ("texted", 1),
    "dial_action__busy": ("texted", 1),
    "dial_action__completed_answered": ("answered", 0),
}
# Inbound texts: (opted out afterwards, answer texts sent).
SMS = {
    "inbound_sms__reply": (False, 0),
    "inbound_sms__stop": (True, 1),
    "inbound_sms__stop_advanced_opt_out": (True, 0),  # Twilio already answered: no second confirmation
    "inbound_sms__start": (False, 1),
    "inbound_sms__help": (False, 1),
}
# Delivery reports on a text sent as "sent": (status afterwards, error code, opted out).
STATUSES = {
    "message_status__delivered": ("delivered", None, False),
    "message_status__undelivered_30003": ("undelivered", 30003, False),
    "message_status__failed_21610": ("failed", 21610, True),
}


def test_every_fixture_has_an_expectation():
    webhooks.assert_every_fixture_expected("twilio", set(CALLS) | set(SMS) | set(STATUSES))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_call_fixture(name, client, rt, sub, fake_twilio):
    outcome, texts = CALLS[name]
    params = fixture(name)
    resp = post(client, route_for(name), params)
    assert resp.status_code == 200
    assert resp.mimetype == "text/xml" and b"<Response" in resp.data
    with rt.sessions() as s:
        call = s.scalar(select(Call).where(Call.call_id == params["CallSid"]))
        assert (call.outcome if call else None) == outcome, call.reason if call else "no call row"
    assert len(fake_twilio.messages) == texts
    if texts:
        msg = fake_twilio.messages[0]
        assert msg["to"] == CALLER and msg["from"] == BUSINESS_NUMBER
        assert "Acme Plumbing" in msg["body"]
        # The booking link is the recovery's tracked link, forwarding to the booking page.
        link = re.search(re.escape(PUBLIC_URL) + r"(/b/[\w-]+)", msg["body"])
        assert link and client.get(link.group(1)).headers["Location"] == "https://acme.example/book"
        assert "STOP" in msg["body"]
        assert msg["status_callback"] == f"{PUBLIC_URL}/webhooks/twilio/message-status"
        assert msg["validity_period"] == "600"


def test_dial_action_tells_a_missed_caller_a_text_is_coming(client, sub):
    resp = post(client, "/webhooks/twilio/dial", fixture("dial_action__no_answer"))
    assert b"<Say>Sorry we missed your call. We'll text you right away.</Say><Hangup />" in resp.data
    resp = post(client, "/webhooks/twilio/dial", fixture("dial_action__completed_answered"))
    assert b"<Say>" not in resp.data and b"<Hangup />" in resp.data


@pytest.mark.parametrize("name", sorted(SMS))
def test_inbound_sms_fixture(name, client, rt, sub, fake_twilio):
    opted_out, answers = SMS[name]
    params = fixture(name)
    if name == "inbound_sms__start":
        with rt.sessions.begin() as s:
            s.add(OptOut(sub_account_id=sub.id, phone=CALLER, source="keyword"))
    resp = post(client, route_for(name), params)
    assert resp.status_code == 200 and resp.data.endswith(b"<Response />")
    with rt.sessions() as s:
        assert bool(s.scalar(select(func.count()).select_from(OptOut))) == opted_out
        inbound = s.scalar(select(Message).where(Message.provider_sid == params["MessageSid"]))
        assert inbound.direction == "inbound" and inbound.body == params["Body"]
    assert len(fake_twilio.messages) == answers
    if answers:
        assert fake_twilio.messages[0]["to"] == CALLER
        assert "Acme Plumbing" in fake_twilio.messages[0]["body"]


@pytest.mark.parametrize("name", sorted(STATUSES))
def test_message_status_fixture(name, client, rt, sub):
    status, code, opted_out = STATUSES[name]
    params = fixture(name)
    with rt.sessions.begin() as s:
        s.add(Message(sub_account_id=sub.id, direction="outbound", to_number=CALLER, from_number=BUSINESS_NUMBER,
                      body="hi", provider="twilio", provider_sid=params["MessageSid"], status="sent"))
    assert post(client, route_for(name), params).status_code == 200
    with rt.sessions() as s:
        msg = s.scalar(select(Message).where(Message.provider_sid == params["MessageSid"]))
        assert (msg.status, msg.error_code) == (status, code)
        assert bool(s.scalar(select(func.count()).select_from(OptOut))) == opted_out


def test_a_reply_moves_the_recovery_to_replied(client, rt, sub, fake_twilio):
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    post(client, "/webhooks/twilio/sms", fixture("inbound_sms__reply"))
    with rt.sessions() as s:
        rec = s.scalar(select(Recovery))
        assert rec.state == "replied" and rec.replied_at is not None
        reply = s.scalar(select(Message).where(Message.direction == "inbound"))
        assert reply.recovery_id == rec.id


# ------------------------------------------------------------------ refusals, one per reason

def _stored(rt) -> int:
    with rt.sessions() as s:
        return s.scalar(select(func.count()).select_from(InboxEvent))


def test_unsigned_request_is_refused_and_not_stored(client, rt, sub, caplog):
    resp = post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"), signature=None)
    assert resp.status_code == 403 and b"missing" in resp.data
    assert _stored(rt) == 0
    assert "key=twilio.signature_missing" in caplog.text


def test_forged_signature_is_refused(client, rt, sub, caplog):
    params = fixture("call_status__no_answer")
    resp = post(client, "/webhooks/twilio/voice", params, signature=sign(PUBLIC_URL + "/webhooks/twilio/voice", params, "wrong-token"))
    assert resp.status_code == 403
    assert _stored(rt) == 0
    assert "key=twilio.signature_invalid" in caplog.text


def test_tampered_parameter_is_refused(client, rt, sub):
    params = fixture("call_status__completed_answered")
    signature = sign(PUBLIC_URL + "/webhooks/twilio/voice", params)
    params["CallDuration"] = "3"  # turn an answered call into a "voicemail" one
    assert post(client, "/webhooks/twilio/voice", params, signature=signature).status_code == 403
    assert _stored(rt) == 0


def test_signature_for_another_url_is_refused(client, rt, sub):
    # Behind a proxy the app sees http://internal/...: Ringback checks the configured public URL.
    params = fixture("call_status__no_answer")
    signature = sign("http://localhost/webhooks/twilio/voice", params)
    assert post(client, "/webhooks/twilio/voice", params, signature=signature).status_code == 403


def test_query_string_is_part_of_the_signed_url(client, rt, sub, fake_twilio):
    params = fixture("call_status__no_answer")
    path = "/webhooks/twilio/voice?tenant=acme"
    assert post(client, path, params, signature=sign(PUBLIC_URL + path, params)).status_code == 200
    assert post(client, path, params, signature=sign(PUBLIC_URL + "/webhooks/twilio/voice", params)).status_code == 403


def test_other_twilio_account_is_refused(client, rt, sub, caplog):
    params = fixture("call_status__no_answer") | {"AccountSid": "AC" + "9" * 32}
    assert post(client, "/webhooks/twilio/voice", params).status_code == 403
    assert "key=twilio.account_mismatch" in caplog.text


@pytest.mark.parametrize("change, named", [
    ({"CallStatus": None}, b"CallStatus"),
    ({"CallStatus": "exploded"}, b"CallStatus"),
    ({"CallSid": "not-a-sid"}, b"CallSid"),
    ({"CallDuration": "ten"}, b"CallDuration"),
])
def test_malformed_callback_is_400_naming_the_field(client, rt, sub, change, named, caplog):
    params = fixture("call_status__no_answer")
    for key, value in change.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    resp = post(client, "/webhooks/twilio/voice", params)
    assert resp.status_code == 400 and named in resp.data
    assert _stored(rt) == 0
    assert "key=twilio.payload_invalid" in caplog.text


def test_body_over_one_mebibyte_is_413(client, rt, sub):
    params = fixture("inbound_sms__reply") | {"Body": "x" * (1024 * 1024 + 10)}
    assert post(client, "/webhooks/twilio/sms", params).status_code == 413
    assert _stored(rt) == 0


def test_unknown_number_is_stored_as_unroutable(client, rt, sub, fake_twilio, caplog):
    params = fixture("call_status__no_answer") | {"To": "+15125559999", "Called": "+15125559999"}
    assert post(client, "/webhooks/twilio/voice", params).status_code == 200
    with rt.sessions() as s:
        ev = s.scalar(select(InboxEvent))
        assert ev.status == "unroutable" and "+15125559999" in ev.result
    assert fake_twilio.messages == []
    assert "key=twilio.unroutable" in caplog.text


def test_duplicate_delivery_is_acknowledged_and_ignored(client, rt, sub, fake_twilio):
    params = fixture("call_status__no_answer")
    assert post(client, "/webhooks/twilio/voice", params).status_code == 200
    assert post(client, "/webhooks/twilio/voice", params).status_code == 200
    assert _stored(rt) == 1
    assert len(fake_twilio.messages) == 1


def test_retry_with_the_same_idempotency_token_is_ignored(client, rt, sub, fake_twilio):
    token = "b0e1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
    first = fixture("call_status__ringing")
    post(client, "/webhooks/twilio/voice", first, headers={"I-Twilio-Idempotency-Token": token})
    # Same delivery retried (Twilio may re-send with other volatile fields): one inbox row.
    again = first | {"Timestamp": "Tue, 17 Nov 2026 15:04:09 +0000", "SequenceNumber": "1"}
    assert post(client, "/webhooks/twilio/voice", again, headers={"I-Twilio-Idempotency-Token": token}).status_code == 200
    assert _stored(rt) == 1


def test_out_of_order_callbacks_never_move_a_call_backwards(client, rt, sub, fake_twilio):
    answered = fixture("call_status__completed_answered")
    ringing = answered | {"CallStatus": "ringing", "SequenceNumber": "0"}
    ringing.pop("CallDuration"), ringing.pop("Duration"), ringing.pop("SipResponseCode")
    post(client, "/webhooks/twilio/voice", answered)
    post(client, "/webhooks/twilio/voice", ringing)
    with rt.sessions() as s:
        call = s.scalar(select(Call))
        assert (call.status, call.outcome) == ("completed", "answered")
    assert fake_twilio.messages == []


def test_ringing_after_a_missed_call_is_ignored_and_texts_once(client, rt, sub, fake_twilio):
    missed = fixture("call_status__no_answer")
    post(client, "/webhooks/twilio/voice", missed)
    post(client, "/webhooks/twilio/voice", missed | {"CallStatus": "ringing", "SequenceNumber": "0"})
    with rt.sessions() as s:
        assert s.scalar(select(Call)).status == "no-answer"
    assert len(fake_twilio.messages) == 1


# ------------------------------------------------------------------ the SDK's own test vector

def test_twilio_published_signature_vector():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = MultiDict({"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                        "From": "+14158675309", "To": "+18005551212"})
    kwargs = dict(token="12345", url=url, params=params, settings_header=None, account_sid=None)
    webhook.verify(signature="RSOYDt4T1cUTdK1PDd93/VVr8B8=", **kwargs)
    with pytest.raises(WebhookRejected) as err:
        webhook.verify(signature="RSOYDt4T1cUTdK1PDd93/VVr8B8X", **kwargs)
    assert err.value.status == 403


def test_account_sid_fixture_matches_the_configured_account():
    assert fixture("call_status__no_answer")["AccountSid"] == ACCOUNT_SID
