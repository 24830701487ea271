"""Bookings from each CRM close the caller's recovery as booked and move the deal to Booked."""
from __future__ import annotations

import json
import re
import time

from sqlalchemy import select

from integration.models import InboxEvent, Recovery, Step
from tests.conftest import CALLER, HUBSPOT_PORTAL, SF_LEAD
from tests.vendors.ghl import missed_call, raw, send, signed, subscribe
from tests.vendors.hubspot import missed_call as hubspot_missed_call
from tests.vendors.hubspot import headers as hubspot_headers
from tests.vendors.hubspot import post as hubspot_post
from tests.vendors.salesforce import FIXTURES as SF_FIXTURES
from tests.vendors.salesforce import send as salesforce_send

EVENT_CONTACT = "gb7laj5aYQC4glDtP1r5"  # the contactId in the GoHighLevel call and appointment fixtures


def _recovery(rt) -> Recovery:
    with rt.sessions() as s:
        return s.scalar(select(Recovery))


def _last_result(rt) -> str:
    with rt.sessions() as s:
        return s.scalar(select(InboxEvent.result).order_by(InboxEvent.id.desc()))


def test_a_gohighlevel_appointment_books_the_recovery(client, config, rt, ghl_crm_sub, fake_ghl, fake_twilio,
                                                     ghl_signing_keys):
    fake_ghl.contacts[EVENT_CONTACT] = {"id": EVENT_CONTACT, "locationId": ghl_crm_sub.external_id, "phone": CALLER}
    subscribe(client, config, fake_ghl, "caller_booked", sub_id="trg-booked")
    missed_call(client, ghl_signing_keys)
    with rt.sessions() as s:  # the follow-up is scheduled
        assert s.scalar(select(Step.status).where(Step.kind == "follow_up")) == "pending"
    body = raw("appointment_create__confirmed")
    assert send(client, body, signed(body, ghl_signing_keys)).json == {"status": "accepted"}
    rec = _recovery(rt)
    assert (rec.state, rec.open_key) == ("booked", None)
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Booked" and opp["status"] == "won"
    assert fake_ghl.notes[-1]["body"].startswith(f"{CALLER} booked for 2026-11-18")
    [fired] = fake_ghl.fired
    assert fired["trigger"] == "trg-booked" and fired["body"]["phone"] == CALLER
    with rt.sessions() as s:
        assert s.scalar(select(Step.status).where(Step.kind == "follow_up")) == "cancelled"


def test_a_cancelled_appointment_is_not_a_booking(client, rt, ghl_crm_sub, fake_ghl, fake_twilio, ghl_signing_keys):
    fake_ghl.contacts[EVENT_CONTACT] = {"id": EVENT_CONTACT, "locationId": ghl_crm_sub.external_id, "phone": CALLER}
    missed_call(client, ghl_signing_keys)
    body = raw("appointment_create__confirmed").replace(b'"confirmed"', b'"cancelled"')
    send(client, body, signed(body, ghl_signing_keys))
    assert _recovery(rt).state == "texted" and _last_result(rt) == "not a booking (cancelled)"


def test_a_salesforce_event_on_the_lead_books_it(client, rt, salesforce_sub, fake_salesforce, fake_twilio):
    salesforce_send(client, "outbound_message__task_no_answer")
    assert salesforce_send(client, "outbound_message__event_created").status_code == 200
    assert _recovery(rt).state == "booked"
    assert fake_salesforce.records[("Lead", SF_LEAD)]["Status"] == "Booked"


def _contact_with_opportunity(client, fake_salesforce) -> str:
    """A missed call from a Contact (not a Lead): Ringback opens an Opportunity; its id."""
    from tests.conftest import SF_CONTACT
    del fake_salesforce.records[("Lead", SF_LEAD)]
    fake_salesforce.put("Contact", SF_CONTACT, {"Phone": "512.555.0123", "MobilePhone": None, "LastName": "Okafor"})
    call = (SF_FIXTURES / "outbound_message__task_no_answer.xml").read_bytes().replace(SF_LEAD.encode(),
                                                                                      SF_CONTACT.encode())
    salesforce_send(client, "", body=call)
    [(_, opp_id)] = [k for k in fake_salesforce.records if k[0] == "Opportunity"]
    return opp_id


def test_a_salesforce_opportunity_won_books_it_with_its_amount(client, rt, salesforce_sub, fake_salesforce,
                                                               fake_twilio):
    from tests.conftest import SF_CONTACT
    opp_id = _contact_with_opportunity(client, fake_salesforce)
    won = (SF_FIXTURES / "outbound_message__opportunity_closed_won.xml").read_bytes().replace(
        b"0065e00000OPPORTUNITY", opp_id.encode()).replace(b"0035e00000CONTACTID", SF_CONTACT.encode())
    # An Outbound Message made before IsWon/IsClosed were sent: the stage's name decides.
    won = re.sub(rb"\s*<sf:Is(Won|Closed)>[a-z]+</sf:Is(Won|Closed)>", b"", won)
    assert b"IsWon" not in won
    salesforce_send(client, "", body=won)
    rec = _recovery(rt)
    assert (rec.state, rec.value) == ("booked", 450.0)
    assert fake_salesforce.records[("Opportunity", opp_id)]["StageName"] == "Closed Won"
    assert fake_salesforce.records[("Opportunity", opp_id)]["Amount"] == 450.0


def _hubspot_event(**fields) -> bytes:
    return json.dumps([{"eventId": 2001, "subscriptionId": 3050, "portalId": int(HUBSPOT_PORTAL), "appId": 1160452,
                        "occurredAt": int(time.time() * 1000), "attemptNumber": 0, "changeSource": "CRM_UI"} | fields]
                      ).encode()


def _missed_then_meeting(client, rt, fake_hubspot, outcome: str) -> None:
    """A missed caller texted back, then a meeting (7001) with their contact logged in HubSpot."""
    hubspot_missed_call(client, fake_hubspot)
    contact_id = _recovery(rt).crm_refs["contact_id"]
    fake_hubspot.put(HUBSPOT_PORTAL, "meetings", "7001", {"hs_meeting_start_time": "2026-11-30T15:00:00Z",
                                                          "hs_meeting_outcome": outcome})
    fake_hubspot.associations.append(("meetings", "7001", contact_id, 200))


def test_a_hubspot_meeting_with_the_contact_books_it(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    _missed_then_meeting(client, rt, fake_hubspot, "SCHEDULED")
    body = _hubspot_event(subscriptionType="object.creation", objectTypeId="0-47", objectId=7001)
    assert hubspot_post(client, body, hubspot_headers(body)).json["accepted"] == 1
    assert _recovery(rt).state == "booked"
    [deal] = fake_hubspot.deals(HUBSPOT_PORTAL)
    assert fake_hubspot.stage_label(HUBSPOT_PORTAL, deal["dealstage"]) == "Booked"


def test_a_person_moving_ringbacks_deal_to_booked_in_hubspot_books_it(client, rt, hubspot_sub, fake_hubspot,
                                                                      fake_twilio):
    hubspot_missed_call(client, fake_hubspot)
    [deal] = fake_hubspot.deals(HUBSPOT_PORTAL)
    [pipeline] = fake_hubspot.pipelines[HUBSPOT_PORTAL]
    booked = next(st["id"] for st in pipeline["stages"] if st["label"] == "Booked")
    replied = next(st["id"] for st in pipeline["stages"] if st["label"] == "Replied")
    other = _hubspot_event(subscriptionType="object.propertyChange", objectTypeId="0-3", objectId=int(deal["id"]),
                           propertyName="dealstage", propertyValue=replied)
    hubspot_post(client, other, hubspot_headers(other))
    assert _recovery(rt).state == "texted" and _last_result(rt).startswith("not a booking")
    moved = _hubspot_event(subscriptionType="object.propertyChange", objectTypeId="0-3", objectId=int(deal["id"]),
                           propertyName="dealstage", propertyValue=booked, eventId=2002)
    hubspot_post(client, moved, hubspot_headers(moved))
    assert _recovery(rt).state == "booked"


def test_a_person_moving_ringbacks_deal_to_lost_in_hubspot_closes_it_as_lost(client, rt, hubspot_sub, fake_hubspot,
                                                                            fake_twilio):
    hubspot_missed_call(client, fake_hubspot)
    [deal] = fake_hubspot.deals(HUBSPOT_PORTAL)
    [pipeline] = fake_hubspot.pipelines[HUBSPOT_PORTAL]
    lost = next(st["id"] for st in pipeline["stages"] if st["label"] == "Lost")
    with rt.sessions() as s:
        assert s.scalar(select(Step.status).where(Step.kind == "follow_up")) == "pending"
    # A person drags the deal to Lost in HubSpot; HubSpot tells Ringback.
    fake_hubspot.objects[(HUBSPOT_PORTAL, "deals", deal["id"])]["dealstage"] = lost
    moved = _hubspot_event(subscriptionType="object.propertyChange", objectTypeId="0-3", objectId=int(deal["id"]),
                           propertyName="dealstage", propertyValue=lost, eventId=2003)
    hubspot_post(client, moved, hubspot_headers(moved))
    rec = _recovery(rt)
    assert (rec.state, rec.open_key) == ("lost", None)
    with rt.sessions() as s:  # no more texts to a caller the business gave up on
        assert s.scalar(select(Step.status).where(Step.kind == "follow_up")) == "cancelled"
    # The deal stays where the person put it, with a note saying why the texts stopped.
    [deal] = fake_hubspot.deals(HUBSPOT_PORTAL)
    assert fake_hubspot.stage_label(HUBSPOT_PORTAL, deal["dealstage"]) == "Lost"
    notes = [p for (pid, typ, _), p in fake_hubspot.objects.items() if typ == "notes"]
    assert any("marked lost in hubspot" in (n.get("hs_note_body") or "") for n in notes)


def test_a_salesforce_opportunity_closed_lost_closes_it_as_lost(client, rt, salesforce_sub, fake_salesforce,
                                                                fake_twilio):
    from tests.conftest import SF_CONTACT
    opp_id = _contact_with_opportunity(client, fake_salesforce)
    body = (SF_FIXTURES / "outbound_message__opportunity_closed_lost.xml").read_bytes().replace(
        b"0065e00000OPPORTUNITY", opp_id.encode()).replace(b"0035e00000CONTACTID", SF_CONTACT.encode())
    assert salesforce_send(client, "", body=body).status_code == 200
    assert _recovery(rt).state == "lost" and _last_result(rt).endswith("moved to Closed Lost in the CRM")


def test_a_hubspot_meeting_whose_outcome_is_set_later_books_it(client, rt, hubspot_sub, fake_hubspot, fake_twilio):
    _missed_then_meeting(client, rt, fake_hubspot, "CANCELED")
    logged = _hubspot_event(subscriptionType="object.creation", objectTypeId="0-47", objectId=7001)
    hubspot_post(client, logged, hubspot_headers(logged))
    assert _recovery(rt).state == "texted"  # a cancelled meeting is no booking
    fake_hubspot.objects[(HUBSPOT_PORTAL, "meetings", "7001")]["hs_meeting_outcome"] = "RESCHEDULED"
    changed = _hubspot_event(subscriptionType="object.propertyChange", objectTypeId="0-47", objectId=7001,
                             propertyName="hs_meeting_outcome", propertyValue="RESCHEDULED", eventId=2004)
    assert hubspot_post(client, changed, hubspot_headers(changed)).json["accepted"] == 1
    assert _recovery(rt).state == "booked"
