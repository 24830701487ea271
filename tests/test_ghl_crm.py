"""Every step of a GoHighLevel sub-account's recovery lands in GoHighLevel (a stateful fake)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from integration import sync
from integration.cli import main
from integration.models import Installation, Recovery, SubAccount, SyncOp, utcnow
from tests.conftest import BUSINESS_NUMBER, CALLER
from tests.conftest import GHL_TOKEN as TOKEN
from tests.vendors.ghl import LOCATION, missed_call, raw, send, signed
from tests.vendors.twilio import fixture as twilio_fixture
from tests.vendors.twilio import post as twilio_post
from tests.vendors.twilio import report



def _ops(rt):
    with rt.sessions() as s:
        return s.scalars(select(SyncOp).order_by(SyncOp.id)).all()


def test_missed_call_text_and_reply_move_the_opportunity(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                         ghl_signing_keys):
    missed_call(client, ghl_signing_keys)
    [text] = fake_twilio.messages
    [contact] = fake_ghl.contacts.values()
    assert contact["phone"] == CALLER and contact["source"] == "Ringback missed call"
    [opp] = fake_ghl.opportunities.values()
    assert opp["contactId"] == contact["id"] and opp["status"] == "open"
    assert fake_ghl.stage_name(opp) == "Texted back"
    assert [n["body"] for n in fake_ghl.notes] == [f"Ringback texted {CALLER} back after a missed call: {text['body']}"]

    twilio_post(client, "/webhooks/twilio/sms", twilio_fixture("inbound_sms__reply"))
    assert fake_ghl.stage_name(opp) == "Replied"
    # The reply (a leak: urgent) is noted, answered, and a person gets a task with the conversation.
    notes = [n["body"] for n in fake_ghl.notes]
    reply = twilio_fixture("inbound_sms__reply")["Body"]
    assert notes[1] == f"{CALLER} replied to Ringback's text: {reply}"
    assert notes[2].startswith(f"Ringback answered {CALLER}: We're on it")
    [task] = fake_ghl.tasks
    assert task["title"] == f"URGENT: call {CALLER} now (leaking)"
    assert task["body"].endswith(f"Caller: {reply}")
    assert all(op.status == "done" for op in _ops(rt))
    with rt.sessions() as s:
        refs = s.scalar(select(Recovery.crm_refs))
    assert refs == {"contact_id": contact["id"], "deal_id": opp["id"], "stage": "replied"}
    # In order: contact, then the opportunity, then its moves and notes.
    calls = [r[2] for r in fake_ghl.requests]
    assert calls[:4] == ["GET /contacts/search/duplicate", "POST /contacts/upsert", "GET /opportunities/pipelines",
                         "POST /opportunities/"]


def test_an_existing_contact_is_reused_never_duplicated(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                        ghl_signing_keys):
    fake_ghl.contacts["known1"] = {"id": "known1", "locationId": LOCATION, "phone": CALLER, "firstName": "Dana"}
    missed_call(client, ghl_signing_keys)
    assert list(fake_ghl.contacts) == ["known1"]
    assert next(iter(fake_ghl.opportunities.values()))["contactId"] == "known1"


def test_rate_limited_write_waits_for_the_vendor_and_keeps_order(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                                 ghl_signing_keys):
    fake_ghl.fail_next(429, headers={"X-RateLimit-Interval-Milliseconds": "2500"})
    missed_call(client, ghl_signing_keys)
    assert len(fake_twilio.messages) == 1  # the caller is texted whatever the CRM says
    ops = _ops(rt)
    assert [(o.op, o.status) for o in ops] == [("contact", "pending"), ("deal", "pending"), ("stage", "pending"),
                                               ("note", "pending")]
    assert "429" in ops[0].last_error
    wait = (ops[0].next_attempt_at - utcnow()).total_seconds()
    assert 1.5 < wait <= 2.5  # GoHighLevel's own interval, not our backoff
    assert fake_ghl.contacts == {}
    # Too early: nothing happens.
    assert sync.run(rt, ops[0].recovery_id).retry_in > 0
    outcome = sync.run(rt, ops[0].recovery_id, now=utcnow() + timedelta(seconds=3))
    assert outcome.summary == "4 write(s) applied; in sync"
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Texted back" and len(fake_ghl.notes) == 1


def test_failed_write_is_kept_listed_and_retried(client, rt, ghl_crm_sub, fake_twilio, fake_ghl, ghl_signing_keys,
                                                 config, monkeypatch):
    fake_ghl.fail_next(500, times=6)
    missed_call(client, ghl_signing_keys)
    rid = _ops(rt)[0].recovery_id
    later, waits = utcnow(), []
    for _ in range(5):  # an outage of minutes: retried with a backoff that never exceeds half a minute
        waits.append(sync.run(rt, rid, now=later).retry_in)
        later = _ops(rt)[0].next_attempt_at
    assert _ops(rt)[0].status == "pending" and all(0 < w <= sync.BACKOFF_CAP for w in waits)
    assert waits[-1] > waits[0]
    # The same write still refused a day after it was made: it is kept as failed, for a person.
    later = _ops(rt)[0].created_at + sync.RETRY_FOR + timedelta(seconds=1)
    sync.run(rt, rid, now=later)
    first = _ops(rt)[0]
    assert first.status == "failed" and first.attempts == 6
    assert first.last_error == "GoHighLevel GET /contacts/search/duplicate: 500 Injected failure"
    assert [o.status for o in _ops(rt)] == ["failed", "pending", "pending", "pending"]
    assert "held back by failed write 1" in sync.run(rt, rid, now=later).summary

    for name in ("DATABASE_URL", "GHL_API_URL", "RINGBACK_DATA_DIR"):
        monkeypatch.setenv(name, {"DATABASE_URL": config.database_url, "GHL_API_URL": config.ghl_api_url,
                                  "RINGBACK_DATA_DIR": str(config.data_dir)}[name])
    for name in ("RINGBACK_SECRET_KEY", "RINGBACK_ENCRYPTION_KEY", "REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    cli = CliRunner()
    listed = cli.invoke(main, ["sync", "list", "--failed"])
    assert listed.exit_code == 0 and "contact" in listed.output and "failed" in listed.output
    assert "500 Injected failure" in listed.output
    retried = cli.invoke(main, ["sync", "retry"])
    assert retried.exit_code == 0, retried.output
    assert f"recovery {rid}: 4 write(s) applied; in sync" in retried.output
    assert cli.invoke(main, ["sync", "list"]).output.strip() == "every CRM write is applied"
    assert len(fake_ghl.contacts) == 1 and len(fake_ghl.opportunities) == 1


def test_pipeline_without_ringback_stages_fails_with_a_clear_error(client, rt, fake_twilio, fake_ghl,
                                                                   ghl_signing_keys):
    fake_ghl.install(LOCATION, TOKEN, stages=("New lead", "Contacted", "Won"))
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme", provider="ghl", external_id=LOCATION, phone_number=BUSINESS_NUMBER,
                         timezone="America/Chicago", business_hours="24/7")
        s.add(sub)
        s.flush()
        s.add(Installation(sub_account_id=sub.id, provider="ghl", access_token=rt.vault.seal(TOKEN)))
    missed_call(client, ghl_signing_keys)
    ops = _ops(rt)
    assert [o.status for o in ops][:2] == ["done", "failed"]  # the contact exists; the deal cannot
    assert "no pipeline has stages for Missed call, Texted back, Replied, Booked, Lost" in ops[1].last_error
    # "Contacted" counts as texted back and "Won" as booked; the others are missing, by name:
    assert "no stage for Missed call, Replied, Lost (found: New lead, Contacted, Won)" in ops[1].last_error
    assert fake_ghl.opportunities == {}


def test_wrong_token_fails_without_retrying(client, rt, ghl_crm_sub, fake_twilio, fake_ghl, ghl_signing_keys):
    fake_ghl.tokens[LOCATION] = "rotated-elsewhere"
    missed_call(client, ghl_signing_keys)
    first = _ops(rt)[0]
    assert first.status == "failed" and first.attempts == 1 and "401" in first.last_error


def test_tokens_are_stored_sealed(rt, ghl_crm_sub):
    with rt.sessions() as s:
        stored = s.scalar(select(Installation.access_token))
    assert TOKEN not in stored and rt.vault.open(stored) == TOKEN


def test_sub_account_without_an_installation_says_so(client, rt, fake_twilio, fake_ghl, ghl_signing_keys):
    with rt.sessions.begin() as s:
        s.add(SubAccount(name="Acme", provider="ghl", external_id=LOCATION, phone_number=BUSINESS_NUMBER,
                         timezone="America/Chicago", business_hours="24/7"))
    missed_call(client, ghl_signing_keys)
    assert len(fake_twilio.messages) == 1
    assert "has no ghl installation" in _ops(rt)[0].last_error


def test_caller_of_the_older_call_shape_is_found_through_the_contact(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                                     ghl_signing_keys):
    fake_ghl.contacts["gb7laj5aYQC4glDtP1r5"] = {"id": "gb7laj5aYQC4glDtP1r5", "locationId": LOCATION,
                                                 "phone": CALLER, "firstName": "Dana"}
    body = raw("inbound_message__call_voicemail_without_numbers")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    [text] = fake_twilio.messages
    assert text["to"] == CALLER
    assert ("GET", "/contacts/gb7laj5aYQC4glDtP1r5") == tuple(fake_ghl.requests[0][2].split(" "))
    assert list(fake_ghl.contacts) == ["gb7laj5aYQC4glDtP1r5"]  # and the opportunity went on that contact
    assert next(iter(fake_ghl.opportunities.values()))["contactId"] == "gb7laj5aYQC4glDtP1r5"


def test_a_pipeline_edited_in_gohighlevel_is_looked_up_again(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                             ghl_signing_keys):
    missed_call(client, ghl_signing_keys)  # the mapping is now cached
    # Someone deletes and re-creates the later stages in GoHighLevel: same names, new ids.
    [pipeline] = fake_ghl.pipelines[LOCATION]
    for stage in pipeline["stages"][2:]:
        stage["id"] = "new-" + stage["id"]
    twilio_post(client, "/webhooks/twilio/sms", twilio_fixture("inbound_sms__reply"))
    assert all(op.status == "done" for op in _ops(rt)), [(o.op, o.last_error) for o in _ops(rt)]
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Replied"


def test_delivery_report_is_written_to_the_opportunity(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                       ghl_signing_keys):
    missed_call(client, ghl_signing_keys)
    [text] = fake_twilio.messages
    report(client, text["sid"], "sent")
    report(client, text["sid"], "undelivered", 30003)
    [field] = fake_ghl.fields[LOCATION]
    assert (field["name"], field["model"]) == ("Ringback text status", "opportunity")
    [opp] = fake_ghl.opportunities.values()
    assert opp["customFields"] == [{"id": field["id"], "fieldValue": "undelivered (30003)"}]
    # The caller was not reached: a person is asked to call.
    [task] = fake_ghl.tasks
    assert task["contactId"] == opp["contactId"] and task["completed"] is False
    assert task["title"] == f"Call {CALLER} back: the text back did not reach them (undelivered (30003))"


def test_a_text_back_that_cannot_be_sent_asks_a_person_to_call(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                               ghl_signing_keys):
    fake_twilio.fail_next(21211)  # Twilio: invalid 'To' number
    missed_call(client, ghl_signing_keys)
    assert fake_twilio.messages == []
    [task] = fake_ghl.tasks
    assert task["title"].startswith(f"Call {CALLER} back: the text back could not be sent: Twilio 400 21211")


def test_an_opted_out_caller_gets_no_task(client, rt, ghl_crm_sub, fake_twilio, fake_ghl, ghl_signing_keys):
    missed_call(client, ghl_signing_keys)
    [text] = fake_twilio.messages
    report(client, text["sid"], "failed", 21610)
    assert fake_ghl.tasks == []


@pytest.fixture
def ghl_oauth_sub(rt, fake_ghl):
    """A GoHighLevel sub-account installed through OAuth (access + single-use refresh token)."""
    fake_ghl.pipelines.pop(LOCATION, None)
    fake_ghl.install(LOCATION, "placeholder")
    access, refresh = fake_ghl.install_oauth(LOCATION)
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="ghl", external_id=LOCATION, phone_number=BUSINESS_NUMBER,
                         timezone="America/Chicago", business_hours="24/7")
        s.add(sub)
        s.flush()
        s.add(Installation(sub_account_id=sub.id, provider="ghl", kind="oauth", access_token=rt.vault.seal(access),
                           refresh_token=rt.vault.seal(refresh)))
    return sub


def test_expired_token_is_refreshed_once_and_the_write_repeated(client, rt, ghl_oauth_sub, fake_twilio, fake_ghl,
                                                                ghl_signing_keys):
    fake_ghl.expire(LOCATION)
    missed_call(client, ghl_signing_keys)
    assert all(op.status == "done" for op in _ops(rt)), [(o.op, o.last_error) for o in _ops(rt)]
    assert fake_ghl.refreshes == 1 and len(fake_ghl.opportunities) == 1
    with rt.sessions() as s:
        inst = s.scalar(select(Installation))
    # The new pair is what is stored (sealed), and it is the one GoHighLevel now accepts.
    assert rt.vault.open(inst.access_token) == fake_ghl.tokens[LOCATION]
    assert rt.vault.open(inst.refresh_token) in fake_ghl.refresh_tokens


def test_concurrent_refreshes_spend_the_single_use_token_once(rt, ghl_oauth_sub, fake_ghl):
    import threading

    from integration import tokens
    with rt.sessions() as s:
        inst = s.scalar(select(Installation))
    stale = rt.vault.open(inst.access_token)
    fake_ghl.expire(LOCATION)
    results, barrier = [], threading.Barrier(4)

    def worker():
        barrier.wait()
        results.append(tokens.refresh(rt, inst.id, stale))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake_ghl.refreshes == 1 and fake_ghl.refused_refreshes == 0
    assert len(set(results)) == 1 and results[0] == fake_ghl.tokens[LOCATION]


def test_a_private_integration_token_that_stops_working_fails_clearly(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                                      ghl_signing_keys):
    fake_ghl.expire(LOCATION)
    missed_call(client, ghl_signing_keys)
    first = _ops(rt)[0]
    assert first.status == "failed" and "cannot be refreshed (private_token)" in first.last_error


def test_a_mapped_pipeline_is_used_instead_of_name_matching(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                            ghl_signing_keys, config, monkeypatch):
    fake_ghl.install(LOCATION, TOKEN, stages=("New call", "Text sent", "Talking", "Job scheduled", "Gone"),
                     pipeline_name="Plumbing jobs")
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    args = ["subaccount", "stages", str(ghl_crm_sub.id), "--pipeline", "Plumbing jobs"]
    for key, name in (("missed_call", "New call"), ("texted_back", "Text sent"), ("replied", "Talking"),
                      ("booked", "Job scheduled"), ("lost", "Gone")):
        args += ["--map", f"{key}={name}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert '"pipeline": "Plumbing jobs"' in result.output
    bad = CliRunner().invoke(main, ["subaccount", "stages", str(ghl_crm_sub.id), "--map", "won=Job scheduled"])
    assert bad.exit_code == 2 and "STAGE one of missed_call" in bad.output
    missed_call(client, ghl_signing_keys)
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Text sent"
