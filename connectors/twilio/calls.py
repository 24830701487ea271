"""A Twilio number's calls, listed for catch-up (GET /2010-04-01/Accounts/{sid}/Calls.json with
To and StartTime>): each finished inbound call as the status callback Twilio would have posted.
https://www.twilio.com/docs/voice/api/call-resource#read-multiple-call-resources

A call the number's own TwiML forwarded with <Dial> is "completed" as soon as Twilio answered
it; whether a person took it is its child leg's status (the Dial action's DialCallStatus), so a
completed call with a child leg comes back as the Dial action Ringback would have received.
"""
from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime

from twilio.base.exceptions import TwilioException

from ..base import CrmError, FoundCall

FINAL = {"completed", "busy", "no-answer", "failed", "canceled"}


def recent_calls(client, number: str, since: datetime, limit: int,
                 already_decided=lambda sids: set()) -> list[FoundCall]:
    """The number's finished inbound calls started since ``since``, oldest first. The <Dial> legs
    (a request each) are asked for only for calls ``already_decided(call sids)`` does not name:
    a call whose webhook came is listed as it is, and catch-up passes it over."""
    try:
        calls = [c for c in client.calls.list(to=number, start_time_after=since, limit=limit)
                 if c.status in FINAL and (c.direction or "inbound").startswith("inbound")]
        decided = already_decided({c.sid for c in calls}) if calls else set()
        found = []
        for call in sorted(calls, key=lambda c: c.start_time or since):
            params = {"CallSid": call.sid, "AccountSid": call.account_sid, "From": call._from or "",  # the SDK names it _from
                      "To": call.to or number, "CallStatus": call.status, "Direction": "inbound",
                      "CallDuration": str(call.duration or 0), "ApiVersion": "2010-04-01",
                      "Timestamp": format_datetime(call.start_time) if call.start_time else ""}
            ask_legs = call.status == "completed" and call.sid not in decided
            legs = client.calls.list(parent_call_sid=call.sid, limit=5) if ask_legs else []
            if legs:
                leg = legs[0]
                dial = "answered" if leg.status == "completed" else leg.status
                params |= {"DialCallStatus": dial, "DialCallSid": leg.sid, "DialCallDuration": str(leg.duration or 0)}
                found.append(FoundCall(call.sid, "dial", f"dial:{call.sid}:{'completed' if dial == 'answered' else dial}",
                                       params, call.start_time))
            else:
                found.append(FoundCall(call.sid, "voice", f"voice:{call.sid}:{call.status}", params, call.start_time))
        return found
    except TwilioException as exc:
        status = getattr(exc, "status", None)
        raise CrmError(f"Twilio would not list the calls of {number}: {getattr(exc, 'msg', exc)}", status=status,
                       retryable=status is None or status == 429 or status >= 500) from None
