"""Which way a step's text leaves: Ringback's own sender, or the sub-account's CRM inbox.

A step's payload says ``via: <crm key>`` when its sub-account chose its CRM's own conversations
(workflows.settings.send_via; GoHighLevel's); everything else goes through the Twilio account the
sub-account texts through (integration.twilio_accounts), or the process's sender (the
environment's Twilio, or the sandbox). A CRM sender needs the location's token, so a refused token is refreshed once
(single-flight, integration.crm_session) and the send repeated.
"""
from __future__ import annotations

from connectors import registry
from connectors.base import CrmError, SendError

from .crm_session import CrmSession


def send_with(rt, payload: dict, send, crms: CrmSession | None = None):
    """``send(sender)`` with the sender the payload asks for; raises SendError. ``crms``: the job's
    CRM session, when it has one."""
    vendor = registry.crm(payload.get("via"))
    if vendor is None or not vendor.sends_texts:
        return send(rt.sender_for(payload.get("sub_account_id")))
    contact_id = payload.get("contact_id")
    crms = crms or CrmSession(rt)
    try:
        crm = crms.port(payload["sub_account_id"])
        # The same door as every CRM call: a token about to expire, or refused, is refreshed once.
        return crms.call(crm, lambda c: send(vendor.text_sender(c, contact_id)))[0]
    except SendError:
        raise
    except CrmError as exc:  # no installation, or the refresh itself was refused
        raise SendError(f"cannot send through {vendor.name}: {exc}", code=exc.status,
                        retryable=exc.retryable) from None

