"""Status orders, so that late or repeated callbacks never move anything backwards."""
from __future__ import annotations

# Twilio call statuses: https://www.twilio.com/docs/voice/api/call-resource#call-status-values
CALL_FINAL = {"completed", "busy", "failed", "no-answer", "canceled", "voicemail"}
_CALL_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "answered": 3}


def call_rank(status: str) -> int:
    """Higher is further along; every final status ranks above every live one."""
    return 10 if status in CALL_FINAL else _CALL_RANK.get(status, 0)


# Twilio message statuses: https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
# accepted/scheduled -> queued -> sending -> sent -> delivered|undelivered|failed (-> read).
_MESSAGE_RANK = {
    # Ringback's own states before Twilio has the text: "pending" (a send may be under way:
    # reconcile before retrying) and "retrying" (Twilio certainly did not accept it).
    "pending": 0, "retrying": 0, "expired": 5,
    "scheduled": 0,
    "queued": 1, "sending": 2, "sent": 3,
    "receiving": 3, "received": 4,
    "undelivered": 5, "failed": 5, "canceled": 5,
    "delivered": 6, "read": 7,
    "sandboxed": 6,  # recorded by the sandbox sender; nothing was sent
}
MESSAGE_FINAL = {"delivered", "undelivered", "failed", "canceled", "read", "received", "sandboxed"}

# A recovery only moves forward: missed -> texted -> replied -> booked | lost.
_RECOVERY_RANK = {"missed": 0, "texted": 1, "replied": 2, "booked": 3, "lost": 3}


def recovery_advances(current: str, new: str) -> bool:
    return _RECOVERY_RANK[new] > _RECOVERY_RANK.get(current, -1)


def message_rank(status: str) -> int:
    return _MESSAGE_RANK.get(status, -1)


def message_advances(current: str | None, new: str) -> bool:
    """True when ``new`` is further along than ``current`` (unknown statuses never win)."""
    if message_rank(new) < 0:
        return False
    return current is None or message_rank(new) > message_rank(current)
