"""HubSpot's webhook batches: signed with the SDK's own v3 signer; calls fetched through the SDK."""
from __future__ import annotations

import json
import time

import pytest
from hubspot.utils.signature import Signature
from sqlalchemy import select

from connectors.hubspot import webhook
from integration.worker import events
from integration.models import Call, InboxEvent
from tests import webhooks
from tests.conftest import BUSINESS_NUMBER, CALLER, PUBLIC_URL
from tests.vendors.hubspot import FIXTURES, MISSED, PATH, PORTAL, headers, post

# fixture -> (answer counts, call outcome when the call object is MISSED)
EXPECTED = {
    "call_creation__logged_by_calling_app": ({"accepted": 1, "duplicate": 0, "ignored": 0, "unroutable": 0}, "texted"),
    "call_property_change__status_missed": ({"accepted": 1, "duplicate": 0, "ignored": 0, "unroutable": 0}, "texted"),
    "call_property_change__disposition": ({"accepted": 1, "duplicate": 0, "ignored": 0, "unroutable": 0}, "texted"),
    "call_property_change__notes_edited": ({"accepted": 0, "duplicate": 0, "ignored": 1, "unroutable": 0}, None),
    "contact_creation__new_contact": ({"accepted": 0, "duplicate": 0, "ignored": 1, "unroutable": 0}, None),
    # A deal moved: checked as a possible booking (this one is not a deal Ringback opened).
    "deal_property_change__dealstage": ({"accepted": 1, "duplicate": 0, "ignored": 0, "unroutable": 0}, None),
    # A meeting logged: fetched, then matched to the caller's recovery as a booking (tests/test_bookings.py).
    "meeting_creation__scheduled": ({"accepted": 1, "duplicate": 0, "ignored": 0, "unroutable": 0}, None),
    "meeting_property_change__outcome_rescheduled": ({"accepted": 1, "duplicate": 0, "ignored": 0, "unroutable": 0},
                                                     None),
    "batch__mixed_with_a_repeat": ({"accepted": 2, "duplicate": 1, "ignored": 1, "unroutable": 0}, "texted"),
}


def test_every_fixture_has_an_expectation():
    webhooks.assert_every_fixture_expected("hubspot", EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_batch(name, client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    counts, outcome = EXPECTED[name]
    for call_id in ("52000001", "52000002"):
        fake_hubspot.put(PORTAL, "calls", call_id, MISSED)
    body = (FIXTURES / f"{name}.json").read_bytes()
    resp = post(client, body, headers(body))
    assert resp.status_code == 200 and resp.json == counts
    with rt.sessions() as s:
        outcomes = s.scalars(select(Call.outcome)).all()
    assert (outcomes[0] if outcomes else None) == outcome
    assert len(fake_twilio.messages) == (1 if outcome == "texted" else 0)
    if outcome:
        assert fake_hubspot.requests[0].startswith("GET /crm/v3/objects/calls/")


@pytest.mark.parametrize("props, outcome", [
    (MISSED, "texted"),
    (MISSED | {"hs_call_status": "NO_ANSWER"}, "texted"),
    (MISSED | {"hs_call_status": "BUSY"}, "texted"),
    (MISSED | {"hs_call_status": "COMPLETED", "hs_call_duration": "95000"}, "answered"),
    (MISSED | {"hs_call_status": "COMPLETED", "hs_call_duration": "8000"}, "texted"),  # 8 s: a voicemail picked up
    (MISSED | {"hs_call_status": "COMPLETED", "hs_call_duration": "95000",
               "hs_call_disposition": "b2cf5968-551e-4856-9783-52b3da59a7d0"}, "texted"),  # left voicemail
    (MISSED | {"hs_call_status": "COMPLETED", "hs_call_disposition": "17b47fee-58de-441e-a44c-c6300d46f273"},
     "answered"),  # wrong number: a person picked up
    (MISSED | {"hs_call_direction": "OUTBOUND", "hs_call_from_number": BUSINESS_NUMBER, "hs_call_to_number": CALLER},
     "not_missed"),
    (MISSED | {"hs_call_status": "RINGING"}, None),  # not over yet: decided by a later change
])
def test_call_objects_are_read_like_a_person_would(props, outcome, client, rt, hubspot_sub, fake_hubspot,
                                                   fake_twilio):
    fake_hubspot.put(PORTAL, "calls", "52000001", props)
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    post(client, body, headers(body))
    with rt.sessions() as s:
        assert s.scalar(select(Call.outcome)) == outcome


def test_rate_limited_fetch_is_retried_not_lost(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    fake_hubspot.put(PORTAL, "calls", "52000001", MISSED)
    fake_hubspot.fail_next(429)
    rt.huey.immediate = False
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    post(client, body, headers(body))
    first = events.process_event(rt, 1)
    assert first.retry_in == 10.0 and "429" in first.summary
    with rt.sessions() as s:
        assert s.scalar(select(InboxEvent.status)) == "pending"
    assert events.process_event(rt, 1).claims  # the second try fetches it and decides
    assert fake_hubspot.requests == ["GET /crm/v3/objects/calls/52000001"] * 2


def test_missing_call_is_recorded_with_the_reason(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    post(client, body, headers(body))
    with rt.sessions() as s:
        ev = s.scalar(select(InboxEvent))
    assert ev.status == "done" and "call 52000001 could not be fetched: HubSpot GET call 52000001: 404" in ev.result


# ------------------------------------------------------------------ refusals, one per reason

def _stored(rt):
    with rt.sessions() as s:
        return s.scalars(select(InboxEvent)).all()


def test_unsigned_batch_is_refused(client, rt, hubspot_sub, caplog):
    assert post(client, b"[]", {"Content-Type": "application/json"}).status_code == 401
    assert "key=hubspot.signature_missing" in caplog.text


@pytest.mark.parametrize("offset_ms", [-(5 * 60 * 1000 + 1000), 5 * 60 * 1000 + 60_000])
def test_stale_or_future_timestamp_is_refused(client, rt, hubspot_sub, caplog, offset_ms):
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    resp = post(client, body, headers(body, ts=int(time.time() * 1000) + offset_ms))
    assert resp.status_code == 401 and not _stored(rt)
    assert "key=hubspot.timestamp_stale" in caplog.text


@pytest.mark.parametrize("how", ["secret", "url", "body"])
def test_wrong_signature_is_refused(client, rt, hubspot_sub, caplog, how):
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    hdrs = headers(body, secret="another-app-secret") if how == "secret" else \
        headers(body, url="http://internal:8000" + PATH) if how == "url" else headers(body)
    sent = body.replace(b"52000001", b"52000009") if how == "body" else body
    assert post(client, sent, hdrs).status_code == 401 and not _stored(rt)
    assert "key=hubspot.signature_invalid" in caplog.text


@pytest.mark.parametrize("body, complaint", [
    (b"{not json", "not JSON"),  # the message names the problem
    (b'{"portalId": 1}', "not a JSON array"),
    (json.dumps([{"portalId": 1}]).encode(), "event 0 lacks subscriptionType, objectId, occurredAt, subscriptionId"),
    (json.dumps([json.loads((FIXTURES / "contact_creation__new_contact.json").read_text())[0]] * 101).encode(),
     "101 events in one batch"),
])
def test_malformed_batch_is_400(client, rt, hubspot_sub, body, complaint):
    resp = post(client, body, headers(body))
    assert resp.status_code == 400 and complaint in resp.json["error"]


def test_unknown_portal_is_stored_as_unroutable(client, rt, fake_hubspot, caplog):
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    assert post(client, body, headers(body)).json["unroutable"] == 1
    assert _stored(rt)[0].status == "unroutable" and "key=hubspot.unroutable" in caplog.text


def test_query_string_is_part_of_the_signed_uri(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    fake_hubspot.put(PORTAL, "calls", "52000001", MISSED)
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    path = PATH + "?app=ringback%3Aprod"
    # HubSpot signs the URI with %3A decoded.
    assert post(client, body, headers(body, url=PUBLIC_URL + PATH + "?app=ringback:prod"), path).status_code == 200


def test_hubspot_published_v3_vector():
    assert Signature.get_signature("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", "{'example_field':'example_value'}", "v3",
                                   http_uri="https://www.example.com/webhook_uri", http_method="POST",
                                   timestamp="1693657560000") == "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="


@pytest.mark.parametrize("url, signed", [
    ("https://rb.example.com/webhooks/hubspot?x=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B", "https://rb.example.com/webhooks/hubspot?x=:/?@!$'()*,;"),
    ("https://rb.example.com/webhooks/hubspot?x=%20%26%3d%3a", "https://rb.example.com/webhooks/hubspot?x=%20%26%3d:"),
])
def test_uri_decoding_rule(url, signed):
    assert webhook.signed_uri(url) == signed
