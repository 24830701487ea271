"""Salesforce Outbound Messages: call Tasks in, the caller found through simple-salesforce, the SOAP Ack out."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from integration.models import Call, InboxEvent
from tests import webhooks
from tests.conftest import CALLER
from tests.vendors.salesforce import FIXTURES, ORG, OTHER_CALLER, send

# fixture -> (inbox statuses, call outcomes in order)
EXPECTED = {
    "outbound_message__task_no_answer": (["done"], ["texted"]),
    "outbound_message__task_connected": (["done"], ["answered"]),
    "outbound_message__task_outbound_no_answer": (["done"], ["not_missed"]),
    "outbound_message__two_notifications": (["done", "done"], ["texted", "texted"]),
    "outbound_message__event_created": (["done"], []),  # a booking, matched to no recovery here
    "outbound_message__opportunity_closed_won": (["done"], []),  # booked (tests/test_bookings.py)
    "outbound_message__opportunity_closed_lost": (["done"], []),  # lost (tests/test_bookings.py)
}


def test_every_fixture_has_an_expectation():
    webhooks.assert_every_fixture_expected("salesforce", EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outbound_message(name, client, rt, salesforce_sub, fake_salesforce, fake_twilio):
    statuses, outcomes = EXPECTED[name]
    resp = send(client, name)
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    assert b"<notificationsResponse xmlns=\"http://soap.sforce.com/2005/09/outbound\"><Ack>true</Ack>" in resp.data
    with rt.sessions() as s:
        assert [e.status for e in s.scalars(select(InboxEvent).order_by(InboxEvent.id))] == statuses
        assert s.scalars(select(Call.outcome).order_by(Call.id)).all() == outcomes
    texted = [m["to"] for m in fake_twilio.messages]
    assert sorted(texted) == sorted({"outbound_message__task_no_answer": [CALLER],
                                     "outbound_message__two_notifications": [CALLER, OTHER_CALLER]}.get(name, []))


def test_each_notification_is_processed_once(client, rt, salesforce_sub, fake_salesforce, fake_twilio):
    assert send(client, "outbound_message__task_no_answer").status_code == 200
    assert send(client, "outbound_message__task_no_answer").status_code == 200  # Salesforce retried: Ack again
    with rt.sessions() as s:
        assert len(s.scalars(select(InboxEvent)).all()) == 1
    assert len(fake_twilio.messages) == 1


def test_unknown_secret_is_403(client, rt, salesforce_sub, caplog):
    assert send(client, "outbound_message__task_no_answer", secret="guessed").status_code == 403
    assert "key=salesforce.secret_unknown" in caplog.text


def test_other_org_with_the_right_secret_is_403(client, rt, salesforce_sub, caplog):
    body = (FIXTURES / "outbound_message__task_no_answer.xml").read_bytes().replace(ORG.encode(), b"00D5e000000Zz9zEAC")
    assert send(client, "", body=body).status_code == 403
    assert "key=salesforce.org_mismatch" in caplog.text


@pytest.mark.parametrize("body, complaint", [
    (b"not xml", b"not a SOAP message"),
    (b'<?xml version="1.0"?><x/>', b"no <notifications>"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>', b"not a SOAP message"),
])
def test_malformed_message_is_400(client, rt, salesforce_sub, body, complaint):
    resp = send(client, "", body=body)
    assert resp.status_code == 400 and complaint in resp.data


def test_unreachable_org_retries_the_event(client, rt, salesforce_sub, fake_salesforce, fake_twilio):
    from integration.worker import events
    rt.huey.immediate = False
    send(client, "outbound_message__task_no_answer")
    fake_salesforce.fail_next(503)
    first = events.process_event(rt, 1)
    assert first.retry_in and "503" in first.summary
    assert events.process_event(rt, 1).claims
