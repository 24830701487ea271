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


def test_catch_up_lag_is_the_least_recently_caught_up_live_sub_account(client, rt):
    from datetime import timedelta

    from integration.models import SubAccount, utcnow
    now = utcnow()

    def sub_account(n: int, provider: str, **when) -> SubAccount:
        return SubAccount(name=f"Sub {n}", provider=provider, external_id=f"ext-{n}", phone_number=f"+1512555030{n}",
                          timezone="America/Chicago", business_hours="24/7", **when)
    with rt.sessions.begin() as s:
        s.add_all([
            sub_account(1, "twilio", created_at=now - timedelta(days=2), caught_up_at=now - timedelta(minutes=10)),
            sub_account(2, "twilio", created_at=now - timedelta(days=3), caught_up_at=now - timedelta(minutes=1)),
            sub_account(3, "ghl", created_at=now - timedelta(minutes=30)),  # installed, never listed yet
            sub_account(4, "ghl", created_at=now - timedelta(days=1), caught_up_at=now - timedelta(minutes=2)),
            sub_account(5, "ghl", created_at=now - timedelta(days=9), removed_at=now - timedelta(days=8)),  # gone
        ])
    lag = {k: v for k, v in _samples(client).items() if k.startswith("ringback_catch_up_lag_seconds")}
    assert set(lag) == {'ringback_catch_up_lag_seconds{provider="twilio"}',
                        'ringback_catch_up_lag_seconds{provider="ghl"}'}  # no HubSpot or Salesforce account
    assert 600 <= lag['ringback_catch_up_lag_seconds{provider="twilio"}'] < 660
    assert 1800 <= lag['ringback_catch_up_lag_seconds{provider="ghl"}'] < 1860


def test_no_scrape_reads_a_whole_table(rt):
    """Each statement /metrics runs is answered by looking up an index, never by reading a whole
    table or index. PostgreSQL, with sequential scans priced out (enable_seqscan): every scan in
    the plan is an index scan with an Index Cond. SQLite: every step SEARCHes, none SCANs."""
    from integration.models import utcnow
    from integration.routes.health import SCRAPE_STATEMENTS
    postgres = rt.engine.dialect.name == "postgresql"

    def scans(node):  # every scan in a PostgreSQL JSON plan
        if "Scan" in node["Node Type"]:
            yield node
        for child in node.get("Plans", []):
            yield from scans(child)

    with rt.engine.connect() as conn:
        if postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement in SCRAPE_STATEMENTS:
            compiled = statement.compile(rt.engine, compile_kwargs={"render_postcompile": True})
            params = {**compiled.params, "_now": utcnow() if postgres else utcnow().isoformat()}
            if postgres:
                [[[plan]]] = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", params).all()
                found = list(scans(plan["Plan"]))
                # (a bitmap heap scan's condition is its bitmap index scan's: "Recheck Cond")
                whole = [f"{n['Node Type']} on {n.get('Relation Name', n.get('Index Name'))}" for n in found
                         if "Index Cond" not in n and "Recheck Cond" not in n]
            else:
                steps = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                                              tuple(params[k] for k in compiled.positiontup))]
                found = [step for step in steps if step.startswith(("SCAN", "SEARCH")) and step != "SCAN CONSTANT ROW"]
                whole = [step for step in found if step.startswith("SCAN")]
            assert found and not whole, f"{compiled}\nreads whole: {whole}"
