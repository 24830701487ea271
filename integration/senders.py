"""Which way a step's text leaves: Ringback's own sender, or the sub-account's CRM inbox.

A step's payload says ``via: "ghl"`` when its sub-account chose GoHighLevel's conversations
(workflows.settings.send_via); everything else goes through the Twilio account the
sub-account texts through (integration.twilio_accounts), or the process's sender (the
environment's Twilio, or the sandbox). A CRM sender needs the location's token, so a refused token is refreshed once
(single-flight, integration.tokens) and the send repeated.
"""
from __future__ import annotations

from connectors.base import CrmError, SendError
from connectors.ghl.conversations import GhlConversationSender

from . import sync
from .models import SubAccount


def send_with(rt, payload: dict, send):
    """``send(sender)`` with the sender the payload asks for; raises SendError."""
    if payload.get("via") != "ghl":
        return send(rt.sender_for(payload.get("sub_account_id")))
    contact_id = payload.get("contact_id")
    try:
        crm = _ghl_crm(rt, payload["sub_account_id"])
        # The same door as every CRM call: a token about to expire, or refused, is refreshed once.
        return sync.with_fresh_token(rt, crm, lambda c: send(GhlConversationSender(c.client, contact_id)))[0]
    except SendError:
        raise
    except CrmError as exc:  # no installation, or the refresh itself was refused
        raise SendError(f"cannot send through GoHighLevel: {exc}", code=exc.status, retryable=exc.retryable) from None


def _ghl_crm(rt, sub_account_id: int):
    with rt.sessions() as s:
        sub = s.get(SubAccount, sub_account_id)
        return sync.crm_for(rt, s, sub)
