"""What a person or a load balancer sees."""
from __future__ import annotations

from tests.vendors.twilio import fixture, post


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_checks_database_and_queue(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json["checks"]["database"] == "ok" and resp.json["checks"]["queue"].startswith("ok")


def test_metrics_count_what_happened(client, sub, fake_twilio):
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    post(client, "/webhooks/twilio/voice", fixture("call_status__completed_answered"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'ringback_calls{outcome="texted"} 1.0' in text
    assert 'ringback_calls{outcome="answered"} 1.0' in text
    assert 'ringback_messages{direction="outbound",status="queued"} 1.0' in text
    assert 'ringback_inbox_events{provider="twilio",status="done"} 2.0' in text


def test_home_page_shows_calls_and_texts(client, sub, fake_twilio):
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    page = client.get("/").get_data(as_text=True)
    assert "Acme Plumbing" in page and "+15125550123" in page
    assert "Sorry we missed your call!" in page and "1 segment, GSM-7" in page


def test_empty_home_page_says_what_to_do(client):
    page = client.get("/").get_data(as_text=True)
    assert "No sub-accounts yet" in page and "ringback subaccount add" in page


def test_production_home_shows_no_business_data(client, rt, sub):
    from dataclasses import replace
    rt.config = replace(rt.config, env="production")
    page = client.get("/")
    assert page.status_code == 200 and b"Ringback is running" in page.data
    assert b"Acme Plumbing" not in page.data and sub.phone_number.encode() not in page.data
