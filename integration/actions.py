"""Ringback inside the clients' own CRM workflows: actions they call, triggers Ringback fires.

Actions (GoHighLevel custom workflow actions, HubSpot custom workflow actions):
- "Send missed-call text back": the contact is treated as a caller Ringback missed: the same
  decision as a real missed call (switched on, opted out, repeat caller, business hours).
- "Stop Ringback follow-ups for this contact": the contact's open recovery is closed and
  every text still scheduled for it cancelled.
Triggers (GoHighLevel custom workflow triggers): GoHighLevel subscribes a workflow by POSTing
the trigger's targetUrl; Ringback fires it (through the sync log: ordered, retried, never
lost) when a caller is texted back, replies, or books.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime

from sqlalchemy import delete, select, update

from connectors.base import CrmError
from workflows.phones import UnusableNumber, to_e164

from . import inbox
from .crm_session import CrmSession
from .db import transaction
from .models import Recovery, Step, SubAccount, TriggerSubscription, utcnow

log = logging.getLogger("ringback.actions")

TRIGGERS = {
    "missed_call_texted_back": "Missed call texted back",
    "caller_replied": "Caller replied",
    "caller_booked": "Caller booked",
}
ACTIONS = {"send_text_back": "Send missed-call text back", "stop_followups": "Stop Ringback follow-ups for this contact"}
STOPPABLE = ("text_back", "follow_up")


def action_secret(config) -> str:
    """The header value GoHighLevel sends with each action call (its actions carry no signature):
    derived from RINGBACK_SECRET_KEY and written into the app manifest by `ringback manifests`."""
    return hmac.new(config.secret_key.encode(), b"ghl-workflow-actions", hashlib.sha256).hexdigest()[:40]


def store_text_back(rt, sub: SubAccount, contact_id: str, source: str, body: bytes) -> int | None:
    """Store the action as a call Ringback missed from the contact; the caller queues the event
    id it returns like any webhook's (None: a duplicate).

    Its key is the request's own bytes: the vendor's retry of the same execution is a duplicate."""
    payload = {"call": {"provider": sub.provider, "call_id": f"{source}:{hashlib.sha256(body).hexdigest()[:24]}",
                        "caller": "", "called": sub.phone_number or "", "direction": "inbound",
                        "status": "no-answer", "contact_ref": contact_id}, "source": source}
    stored = inbox.store(rt, provider="action", kind="CallEvent", key=payload["call"]["call_id"], payload=payload,
                         sub_id=sub.id)
    return stored.event_id


def stop_followups(rt, sub: SubAccount, contact_id: str, now: datetime | None = None) -> int:
    """Close the contact's open recovery and cancel its scheduled texts; the number of recoveries stopped."""
    now = now or utcnow()
    with transaction(rt.sessions) as s:
        recs = s.scalars(select(Recovery).where(Recovery.sub_account_id == sub.id, Recovery.open_key.is_not(None),
                                                Recovery.crm_refs["contact_id"].as_string() == contact_id)).all()
    if not recs:  # not written back yet (or another contact record): find the caller by phone
        try:
            crms = CrmSession(rt)
            phone = crms.call(crms.port(sub.id), lambda c: c.contact_phone(contact_id))[0]
            phone = to_e164(phone or "", sub.default_region)
        except (CrmError, UnusableNumber) as exc:
            log.info("stop follow-ups: contact %s has no usable phone: %s", contact_id, exc)
            return 0
        with rt.sessions() as s:
            recs = s.scalars(select(Recovery).where(Recovery.open_key == f"{sub.id}:{phone}")).all()
    stopped = 0
    with transaction(rt.sessions) as s:
        for rec in recs:
            rec = s.get(Recovery, rec.id, with_for_update=True)
            if rec.open_key is None:
                continue
            rec.open_key, rec.closed_at = None, now
            s.execute(update(Step).where(Step.recovery_id == rec.id, Step.status == "pending",
                                         Step.kind.in_(STOPPABLE))
                      .values(status="cancelled", last_error="stopped by a CRM workflow", finished_at=now))
            stopped += 1
    return stopped


def subscribe(rt, sub: SubAccount, data: dict, *, workflow_id: str | None = None) -> str:
    """Store, update or delete a workflow's subscription to one of Ringback's triggers
    (``data``: GoHighLevel's triggerData, parsed by connectors.ghl.actions)."""
    key, sub_id, event = data.get("key"), data.get("id"), data.get("eventType")
    if key not in TRIGGERS:
        raise ValueError(f"unknown trigger {key!r} (Ringback's: {', '.join(TRIGGERS)})")
    if not sub_id or event not in ("CREATED", "UPDATED", "DELETED"):
        raise ValueError("triggerData needs an id and an eventType of CREATED, UPDATED or DELETED")
    with transaction(rt.sessions) as s:
        if event == "DELETED":
            s.execute(delete(TriggerSubscription).where(TriggerSubscription.provider == sub.provider,
                                                        TriggerSubscription.external_id == sub_id))
            return "deleted"
        target = str(data.get("targetUrl") or "")
        # The location's token goes with every firing: only ever to GoHighLevel's own API host.
        if not target.startswith(rt.config.ghl_api_url.rstrip("/") + "/"):
            raise ValueError(f"triggerData.targetUrl must be on {rt.config.ghl_api_url}, not {target!r}")
        row = s.scalar(select(TriggerSubscription).where(TriggerSubscription.provider == sub.provider,
                                                         TriggerSubscription.external_id == sub_id))
        if row is None:
            row = TriggerSubscription(provider=sub.provider, external_id=sub_id, sub_account_id=sub.id,
                                      trigger_key=key, target_url=target)
            s.add(row)
        row.trigger_key, row.target_url, row.sub_account_id = key, target, sub.id
        row.workflow_id = workflow_id
        row.filters = data.get("filters") or []
        return "stored"


def trigger_ops(s, sub_account_id: int, key: str, data: dict) -> list[tuple[str, dict]]:
    """Sync-log writes firing every workflow subscribed to ``key`` for this sub-account."""
    targets = s.execute(select(TriggerSubscription.target_url).where(
        TriggerSubscription.sub_account_id == sub_account_id, TriggerSubscription.trigger_key == key)).scalars().all()
    return [("trigger", {"url": url, "key": key, "data": data}) for url in targets]
