"""Which way a step's text leaves: Ringback's own sender, or the sub-account's CRM inbox.

A step's payload says ``via: "ghl"`` when its sub-account chose GoHighLevel's conversations
(workflows.settings.send_via); everything else goes through the process's sender (Twilio, or
the sandbox). A CRM sender needs the location's token, so a refused token is refreshed once
(single-flight, integration.tokens) and the send repeated.
"""
from __future__ import annotations

from connectors.base import CrmError, SendError
from connectors.ghl.conversations import GhlConversationSender, TokenExpired

from . import sync, tokens
from .models import SubAccount


def send_with(rt, payload: dict, send):
    """``send(sender)`` with the sender the payload asks for; raises SendError."""
    if payload.get("via") != "ghl":
        return send(rt.sender)
    crm = _ghl_crm(rt, payload["sub_account_id"])
    if tokens.expiring(crm.expires_at):
        try:
            tokens.refresh(rt, crm.installation_id, crm.token)
        except CrmError as exc:
            raise SendError(f"cannot refresh the GoHighLevel token: {exc}", retryable=exc.retryable) from None
        crm = _ghl_crm(rt, payload["sub_account_id"])
    try:
        return send(GhlConversationSender(crm.client, payload.get("contact_id")))
    except TokenExpired as refused:
        try:
            tokens.refresh(rt, crm.installation_id, crm.token)
        except CrmError as exc:
            raise SendError(f"{refused}; {exc}", code=exc.status, retryable=exc.retryable) from None
        crm = _ghl_crm(rt, payload["sub_account_id"])
        return send(GhlConversationSender(crm.client, payload.get("contact_id")))


def _ghl_crm(rt, sub_account_id: int):
    with rt.sessions() as s:
        sub = s.get(SubAccount, sub_account_id)
        try:
            return sync.crm_for(rt, s, sub)
        except CrmError as exc:  # no installation: nothing to send with until there is one
            raise SendError(f"cannot send through GoHighLevel: {exc}") from None
