"""Salesforce Outbound Messages: parse the SOAP notification, build the SOAP Ack.

An Outbound Message (sent by a record-triggered Flow on Task) is an unsigned SOAP POST of up
to 100 Notifications, each with an Id (the dedupe key) and the sObject's chosen fields;
Salesforce retries for 24 hours until it gets the Ack, in any order, at least once.
It is authenticated by the secret in the endpoint URL and the OrganizationId it carries.
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_understanding.htm
"""
from __future__ import annotations


from dataclasses import dataclass

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from workflows.events import BookingEvent, CallEvent, IgnoredEvent

from ..base import WebhookRejected, iso_time, secret_hash  # noqa: F401 (the URL's secret, looked up)

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACK = (b'<?xml version="1.0" encoding="UTF-8"?>'
       b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
       b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>'
       b'</soapenv:Body></soapenv:Envelope>')


@dataclass(frozen=True)
class Notification:
    id: str
    sobject_type: str  # Task, Event, Opportunity...
    fields: dict


def parse(body: bytes) -> tuple[str, list[Notification]]:
    """(OrganizationId, notifications); raises WebhookRejected(400) naming what is wrong."""
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise WebhookRejected(400, "salesforce.payload_invalid", f"not a SOAP message: {exc}") from None
    notifications = root.find(f"{{{SOAP}}}Body/{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise WebhookRejected(400, "salesforce.payload_invalid", "no <notifications> in the SOAP body")
    org = (notifications.findtext(f"{{{OUTBOUND}}}OrganizationId") or "").strip()
    if not org:
        raise WebhookRejected(400, "salesforce.payload_invalid", "OrganizationId is missing")
    found = []
    for n in notifications.findall(f"{{{OUTBOUND}}}Notification"):
        nid = (n.findtext(f"{{{OUTBOUND}}}Id") or "").strip()
        sobject = n.find(f"{{{OUTBOUND}}}sObject")
        if not nid or sobject is None:
            raise WebhookRejected(400, "salesforce.payload_invalid", "a Notification lacks its Id or sObject")
        kind = (sobject.get(f"{{{XSI}}}type") or "").split(":")[-1]
        fields = {child.tag.split("}")[-1]: (child.text or "").strip() for child in sobject
                  if child.get(f"{{{XSI}}}nil") != "true"}
        found.append(Notification(nid, kind, fields))
    if not found:
        raise WebhookRejected(400, "salesforce.payload_invalid", "no Notification in the message")
    if len(found) > 100:
        raise WebhookRejected(400, "salesforce.payload_invalid", f"{len(found)} notifications; Salesforce sends at most 100")
    return org, found


def same_org(a: str, b: str) -> bool:
    """Org ids come as 15 or 18 characters (18 adds a case checksum): compare the 15."""
    return bool(a) and bool(b) and a[:15] == b[:15]


def to_event(n: Notification):
    """A call Task becomes a call event (its caller found later through WhoId); others are ignored."""
    f = n.fields
    if n.sobject_type == "Event" and f.get("WhoId"):  # a meeting with the Lead/Contact: a booking
        return BookingEvent(provider="salesforce", booking_id=f.get("Id") or n.id, phone=None,
                            contact_ref=f["WhoId"], starts_at=iso_time(f.get("StartDateTime")), status="scheduled")
    if n.sobject_type == "Opportunity" and f.get("StageName"):
        # A booking when the stage is the one mapped to Booked (decided with the sub-account's mapping).
        # IsWon/IsClosed (sent by the Outbound Message `ringback manifests` writes) say it outright;
        # otherwise the stage name is compared with the sub-account's mapping.
        amount = f.get("Amount")
        won, closed = (f.get("IsWon") or "").lower(), (f.get("IsClosed") or "").lower()
        return BookingEvent(provider="salesforce", booking_id=f"{f.get('Id') or n.id}:{f['StageName']}", phone=None,
                            contact_ref=f.get("ContactId") or None, deal_ref=f.get("Id"), stage=f["StageName"],
                            value=float(amount) if _number(amount) else None,
                            is_booking=True if won == "true" else None, is_lost=closed == "true" and won == "false")
    if n.sobject_type != "Task" or f.get("TaskSubtype") != "Call":
        return IgnoredEvent(provider="salesforce", kind=f"{n.sobject_type}:{f.get('TaskSubtype', '')}")
    # CallDisposition is free text: which values mean missed is the sub-account's setting
    # (workflows.settings.MISSED_DISPOSITIONS by default); otherwise the duration decides.
    direction = "inbound" if (f.get("CallType") or "Inbound").lower() == "inbound" else "outbound"
    seconds = int(f["CallDurationInSeconds"]) if (f.get("CallDurationInSeconds") or "").isdigit() else None
    return CallEvent(provider="salesforce", call_id=f.get("Id") or n.id, caller="", called="", direction=direction,
                     status="completed", duration_seconds=seconds, contact_ref=f.get("WhoId") or None,
                     disposition=f.get("CallDisposition") or None, occurred_at=iso_time(f.get("CreatedDate")))


def _number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False
