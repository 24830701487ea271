"""A Salesforce org's recovery lands in Salesforce: the Lead's Status (or a Contact's Opportunity) and Tasks."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import SyncOp
from tests.conftest import CALLER
from tests.vendors.salesforce import CONTACT, FIXTURES, LEAD, send
from tests.vendors.twilio import fixture as twilio_fixture
from tests.vendors.twilio import post as twilio_post
from tests.vendors.twilio import report


def _ops(rt):
    with rt.sessions() as s:
        return s.scalars(select(SyncOp).order_by(SyncOp.id)).all()


def test_a_known_lead_moves_through_its_status_with_tasks_for_the_texts(client, rt, salesforce_sub, fake_salesforce,
                                                                        fake_twilio):
    send(client, "outbound_message__task_no_answer")
    [text] = fake_twilio.messages
    lead = fake_salesforce.records[("Lead", LEAD)]
    assert lead["Status"] == "Texted back"
    [note] = fake_salesforce.tasks()
    assert (note["WhoId"], note["TaskSubtype"], note["Status"]) == (LEAD, "Task", "Completed")
    assert text["body"] in note["Description"]
    twilio_post(client, "/webhooks/twilio/sms", twilio_fixture("inbound_sms__reply"))
    # The reply's note, the urgent call task for a person, and the answer's note.
    assert lead["Status"] == "Replied" and len(fake_salesforce.tasks()) == 4
    [urgent] = [t for t in fake_salesforce.tasks() if t["Subject"].startswith("URGENT")]
    assert (urgent["TaskSubtype"], urgent["Priority"], urgent["WhoId"]) == ("Call", "High", LEAD)
    assert all(op.status == "done" for op in _ops(rt)), [(o.op, o.last_error) for o in _ops(rt)]


def test_a_contact_gets_an_opportunity_in_the_orgs_stages(client, rt, salesforce_sub, fake_salesforce, fake_twilio):
    del fake_salesforce.records[("Lead", LEAD)]
    fake_salesforce.put("Contact", CONTACT, {"Phone": "512.555.0123", "MobilePhone": None, "LastName": "Okafor"})
    # The call Task is about the Contact this time.
    body = (FIXTURES / "outbound_message__task_no_answer.xml").read_bytes().replace(
        LEAD.encode(), CONTACT.encode())
    assert send(client, "", body=body).status_code == 200
    [opp] = [r for (t, _), r in fake_salesforce.records.items() if t == "Opportunity"]
    assert (opp["ContactId"], opp["StageName"]) == (CONTACT, "Texted Back")


def test_a_new_caller_becomes_a_lead(rt, salesforce_sub, fake_salesforce):
    from integration.crm_session import CrmSession
    crm = CrmSession(rt).port(salesforce_sub.id)
    lead_id = crm.upsert_contact(phone="+15125550999")
    record = fake_salesforce.records[("Lead", lead_id)]
    assert (record["Phone"], record["Company"], record["LeadSource"]) == ("+15125550999", "Unknown (missed call)",
                                                                        "Phone Inquiry")
    assert crm.upsert_contact(phone="+15125550999") == lead_id  # found again, never duplicated


def test_delivery_status_goes_to_the_field_when_the_org_has_it(client, rt, salesforce_sub, fake_salesforce,
                                                               fake_twilio):
    fake_salesforce.custom_fields["Lead"] = ["Ringback_Text_Status__c"]
    send(client, "outbound_message__task_no_answer")
    [text] = fake_twilio.messages
    report(client, text["sid"], "delivered")
    assert fake_salesforce.records[("Lead", LEAD)]["Ringback_Text_Status__c"] == "delivered"


def test_delivery_status_is_skipped_without_the_field(client, rt, salesforce_sub, fake_salesforce, fake_twilio):
    send(client, "outbound_message__task_no_answer")
    [text] = fake_twilio.messages
    report(client, text["sid"], "delivered")
    assert "Ringback_Text_Status__c" not in fake_salesforce.records[("Lead", LEAD)]
    assert all(op.status == "done" for op in _ops(rt))


def test_an_org_without_ringbacks_lead_statuses_is_told_which_are_missing(client, rt, salesforce_sub,
                                                                          fake_salesforce, fake_twilio):
    fake_salesforce.lead_statuses = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted"]
    send(client, "outbound_message__task_no_answer")
    failed = [o for o in _ops(rt) if o.status == "failed"]
    assert failed and ("no stage for Missed call, Texted back, Replied, Booked, Lost (found: Open - Not Contacted, "
                       "Working - Contacted, Closed - Converted)") in failed[0].last_error
    assert fake_twilio.messages[0]["to"] == CALLER  # the caller is texted whatever the CRM's set-up


def test_an_org_with_its_own_disposition_words(client, rt, salesforce_sub, fake_salesforce, fake_twilio):
    from integration.models import SubAccount
    from integration.settings_store import save_text_back
    with rt.sessions.begin() as s:
        save_text_back(s, s.get(SubAccount, salesforce_sub.id), missed_dispositions=["sin respuesta"])
    body = (FIXTURES / "outbound_message__task_connected.xml").read_bytes().replace(
        b"<sf:CallDisposition>Connected</sf:CallDisposition>", b"<sf:CallDisposition>Sin Respuesta</sf:CallDisposition>")
    send(client, "", body=body)
    assert [m["to"] for m in fake_twilio.messages] == ["+15125550177"]


def test_an_undelivered_text_back_becomes_a_call_task_on_the_lead(client, rt, salesforce_sub, fake_salesforce,
                                                                  fake_twilio):
    send(client, "outbound_message__task_no_answer")
    [text] = fake_twilio.messages
    report(client, text["sid"], "undelivered", 30005)
    [call_task] = [t for t in fake_salesforce.tasks() if t["TaskSubtype"] == "Call"]
    assert (call_task["WhoId"], call_task["Status"], call_task["Priority"]) == (LEAD, "Not Started", "High")
    assert call_task["Subject"] == f"Call {CALLER} back: the text back did not reach them (undelivered (30005))"


def test_an_org_that_goes_quiet_times_out_and_the_write_is_retried(client, rt, salesforce_sub, fake_salesforce,
                                                                   fake_twilio, monkeypatch, caplog):
    """simple-salesforce gives requests no timeout: without ours a worker would wait forever."""
    import time

    import connectors.base
    from tests.fakes.salesforce_api import API
    monkeypatch.setattr(connectors.base, "API_TIMEOUT", (1.0, 1.0))  # Ringback's own setting, shortened
    fake_salesforce.hang_next(6, request=f"PATCH {API}/sobjects/Lead/")
    started = time.monotonic()
    send(client, "outbound_message__task_no_answer")
    assert time.monotonic() - started < 5  # the job did not wait out the org
    assert len(fake_twilio.messages) == 1  # the caller was texted all the same
    assert "Salesforce unreachable" in caplog.text and "timed out" in caplog.text
    ops = _ops(rt)
    assert all(o.status == "done" for o in ops) and max(o.attempts for o in ops) == 2  # retried, then applied
    assert fake_salesforce.records[("Lead", LEAD)]["Status"] == "Texted back"  # nothing lost
