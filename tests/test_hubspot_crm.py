"""A HubSpot account's recovery lands in HubSpot: contact, a deal in Ringback's pipeline, notes."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Recovery, SyncOp
from tests.conftest import CALLER
from tests.vendors.hubspot import FIXTURES, MISSED, PORTAL, headers, missed_call, post
from tests.vendors.twilio import report
from tests.vendors.twilio import fixture as twilio_fixture
from tests.vendors.twilio import post as twilio_post


def test_first_missed_call_creates_the_pipeline_contact_and_deal(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    missed_call(client, fake_hubspot)
    [text] = fake_twilio.messages
    [pipeline] = fake_hubspot.pipelines[PORTAL]
    assert pipeline["label"] == "Missed Call Recovery"
    assert [st["label"] for st in pipeline["stages"]] == ["Missed call", "Texted back", "Replied", "Booked", "Lost"]
    [deal] = fake_hubspot.deals(PORTAL)
    assert deal["pipeline"] == pipeline["id"] and fake_hubspot.stage_label(PORTAL, deal["dealstage"]) == "Texted back"
    contacts = [p for (pid, typ, _), p in fake_hubspot.objects.items() if typ == "contacts"]
    assert [c["phone"] for c in contacts] == [CALLER]
    notes = [p["hs_note_body"] for (pid, typ, _), p in fake_hubspot.objects.items() if typ == "notes"]
    assert notes == [f"Ringback texted {CALLER} back after a missed call: {text['body']}"]
    assert {(a[0], a[3]) for a in fake_hubspot.associations} == {("deals", 3), ("notes", 202), ("communications", 81)}
    sms = [p for (pid, typ, _), p in fake_hubspot.objects.items() if typ == "communications"]
    assert [(m["hs_communication_channel_type"], m["hs_communication_body"]) for m in sms] == [
        ("SMS", f"Ringback to caller: {text['body']}")]

    twilio_post(client, "/webhooks/twilio/sms", twilio_fixture("inbound_sms__reply"))
    [deal] = fake_hubspot.deals(PORTAL)
    assert fake_hubspot.stage_label(PORTAL, deal["dealstage"]) == "Replied"
    # The text-back, the reply and Ringback's answer to it, each an SMS on the timeline.
    assert sum(1 for (_, typ, _), _p in fake_hubspot.objects.items() if typ == "communications") == 3
    with rt.sessions() as s:
        assert all(op.status == "done" for op in s.scalars(select(SyncOp)))
        assert s.scalar(select(Recovery.crm_refs))["deal_id"] == deal["id"]


def test_an_existing_pipeline_and_contact_are_used(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    stamp = "2026-01-01T00:00:00Z"
    fake_hubspot.pipelines[PORTAL] = [{
        "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "createdAt": stamp, "updatedAt": stamp,
        "archived": False,
        "stages": [{"id": f"s{i}", "label": label, "displayOrder": i, "metadata": {"probability": "0.5"},
                    "createdAt": stamp, "updatedAt": stamp, "archived": False}
                   for i, label in enumerate(["Missed calls", "Contacted", "Responded", "Closed won", "Closed lost"])]}]
    fake_hubspot.put(PORTAL, "contacts", "901", {"phone": "(512) 555-0123", "firstname": "Dana"})
    missed_call(client, fake_hubspot)
    [deal] = fake_hubspot.deals(PORTAL)
    assert deal["pipeline"] == "default" and deal["dealstage"] == "s1"  # "Contacted" = texted back
    assert len(fake_hubspot.pipelines[PORTAL]) == 1
    assert [a[2] for a in fake_hubspot.associations if a[0] == "deals"] == ["901"]


def test_hubspot_rate_limit_is_waited_out(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    fake_hubspot.put(PORTAL, "calls", "52000001", MISSED)
    fake_hubspot.fail_next(429, path="/crm/v3/objects/contacts/search")  # HubSpot's search allows 5/s
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    post(client, body, headers(body))
    assert len(fake_twilio.messages) == 1
    with rt.sessions() as s:
        first = s.scalars(select(SyncOp).order_by(SyncOp.id)).first()
    assert first.status == "pending" and "429" in first.last_error


def test_ringback_stays_inside_hubspots_limit_on_its_own(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    for _ in range(110):  # another job used this portal's whole window
        assert rt.rate_limiter.try_acquire(f"hubspot:{PORTAL}", 110, 10) == 0.0
    fake_hubspot.put(PORTAL, "calls", "52000001", MISSED)
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    post(client, body, headers(body))
    assert fake_hubspot.requests == []  # not even the call fetch went out
    with rt.sessions() as s:
        from integration.models import InboxEvent
        assert s.scalar(select(InboxEvent.status)) == "pending"


def test_delivery_report_is_written_to_the_deal(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    missed_call(client, fake_hubspot)
    [text] = fake_twilio.messages
    report(client, text["sid"], "sent")
    report(client, text["sid"], "delivered")
    assert (PORTAL, "ringback_text_status") in fake_hubspot.properties
    [deal] = fake_hubspot.deals(PORTAL)
    assert deal["ringback_text_status"] == "delivered"


def test_an_undelivered_text_back_becomes_a_call_back_task(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    missed_call(client, fake_hubspot)
    [text] = fake_twilio.messages
    report(client, text["sid"], "undelivered", 30006)
    [task] = [p for (pid, typ, _), p in fake_hubspot.objects.items() if typ == "tasks"]
    assert task["hs_task_subject"] == f"Call {CALLER} back: the text back did not reach them (undelivered (30006))"
    assert task["hs_task_status"] == "NOT_STARTED" and task["hs_task_type"] == "CALL"
    assert ("tasks", 204) in {(a[0], a[3]) for a in fake_hubspot.associations}


def test_a_portal_that_goes_quiet_times_out_and_the_write_is_retried(client, rt, hubspot_sub, fake_hubspot, fake_twilio,
                                                                      monkeypatch, caplog):
    """hubspot-api-client gives urllib3 no timeout: without ours a worker would wait forever."""
    import time

    import connectors.base
    monkeypatch.setattr(connectors.base, "API_TIMEOUT", (1.0, 1.0))  # Ringback's own setting, shortened
    fake_hubspot.put(PORTAL, "calls", "52000001", MISSED)
    fake_hubspot.hang_next(6, request="POST /crm/v3/objects/contacts/search")
    body = (FIXTURES / "call_creation__logged_by_calling_app.json").read_bytes()
    started = time.monotonic()
    post(client, body, headers(body))
    assert time.monotonic() - started < 5  # the job did not wait out the portal
    assert len(fake_twilio.messages) == 1  # the caller was texted all the same
    assert "HubSpot unreachable (search contacts)" in caplog.text and "timed out" in caplog.text
    assert fake_hubspot.requests.count("POST /crm/v3/objects/contacts/search") == 2  # asked again after the timeout
    with rt.sessions() as s:
        ops = s.scalars(select(SyncOp).order_by(SyncOp.id)).all()
    assert [o.status for o in ops] == ["done"] * len(ops) and ops[0].attempts == 2
    [deal] = fake_hubspot.deals(PORTAL)  # written by the retry: nothing lost
    assert fake_hubspot.stage_label(PORTAL, deal["dealstage"]) == "Texted back"
