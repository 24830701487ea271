"""HubSpot call objects -> Ringback's call events.

Calling apps fill the call object differently, so both hs_call_status and
hs_call_disposition count: the disposition is passed on and the sub-account's settings say
which ones mean missed (HubSpot's default ids by default); durations are in milliseconds.
https://developers.hubspot.com/docs/api/crm/calls
"""
from __future__ import annotations

from workflows.events import CallEvent

from ..base import iso_time

PROPERTIES = ["hs_call_direction", "hs_call_status", "hs_call_disposition", "hs_call_duration",
              "hs_call_from_number", "hs_call_to_number", "hs_timestamp", "hs_call_has_voicemail"]
STATUSES = {"MISSED": "no-answer", "NO_ANSWER": "no-answer", "BUSY": "busy", "FAILED": "failed",
            "CANCELED": "canceled", "COMPLETED": "completed", "IN_PROGRESS": "in-progress",
            "CONNECTING": "ringing", "RINGING": "ringing", "QUEUED": "queued", "CALLING_CRM_USER": "ringing"}


def to_call_event(call_id: str, props: dict) -> CallEvent:
    direction = "outbound" if (props.get("hs_call_direction") or "").upper() == "OUTBOUND" else "inbound"
    status = STATUSES.get((props.get("hs_call_status") or "").upper(), "queued")
    if str(props.get("hs_call_has_voicemail") or "").lower() == "true" and status in ("completed", "no-answer"):
        status = "voicemail"
    duration = props.get("hs_call_duration")
    seconds = int(float(duration) / 1000) if duration not in (None, "") else None
    frm, to = props.get("hs_call_from_number") or "", props.get("hs_call_to_number") or ""
    return CallEvent(provider="hubspot", call_id=str(call_id), caller=frm if direction == "inbound" else to,
                     called=to if direction == "inbound" else frm, direction=direction, status=status,
                     duration_seconds=seconds, disposition=props.get("hs_call_disposition") or None,
                     occurred_at=iso_time(props.get("hs_timestamp") or props.get("hs_createdate")))
