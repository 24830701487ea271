"""What a person or a load balancer sees."""
from __future__ import annotations

from tests.vendors.twilio import fixture, post


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_checks_database_and_queue(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json["checks"]["database"] == "ok" and resp.json["checks"]["queue"].startswith("ok")


def _samples(client) -> dict[str, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_metrics_count_what_happened(client, sub, fake_twilio):
    before = _samples(client)
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    post(client, "/webhooks/twilio/voice", fixture("call_status__completed_answered"))
    after = _samples(client)
    grew = lambda name: after.get(name, 0.0) - before.get(name, 0.0)  # noqa: E731 (counters span the session)
    assert grew('ringback_calls_decided_total{outcome="texted"}') == 1
    assert grew('ringback_calls_decided_total{outcome="answered"}') == 1
    assert grew('ringback_webhooks_total{provider="twilio",status="pending"}') == 2
    assert grew('ringback_textback_seconds_count{provider="twilio"}') == 1
    assert grew('ringback_textback_seconds_bucket{le="+Inf",provider="twilio"}') == 1
    # What is waiting, read from indexed columns: nothing, once the worker is done.
    assert after["ringback_events_pending"] == 0 and after["ringback_steps_due"] == 0
    assert after['ringback_catch_up_lag_seconds{provider="twilio"}'] >= 0


def test_metrics_show_a_crm_write_and_a_backlog(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    from tests.vendors.hubspot import missed_call
    before = _samples(client)
    fake_hubspot.fail_next(503, path="/crm/v3/objects/contacts/search")  # the first write refused: retried
    missed_call(client, fake_hubspot)
    after = _samples(client)
    retried = [k for k in after if k.startswith('ringback_crm_write_seconds_count{outcome="retry",vendor="hubspot"')]
    assert retried and sum(after[k] - before.get(k, 0.0) for k in retried) == 1
    assert after["ringback_crm_writes_waiting"] >= 1


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


def test_metrics_answer_while_a_process_is_creating_its_counts_file(client, tmp_path, monkeypatch):
    """In multiprocess mode a process counting for the first time creates its file: a scrape at that
    instant finds it empty, and must still answer (it used to raise and answer 500)."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_424242.db").write_bytes(b"")  # created, not yet written
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    answer = client.get("/metrics")
    assert answer.status_code == 200 and b"ringback_queue_up" in answer.data
