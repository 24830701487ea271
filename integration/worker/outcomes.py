"""What the worker's functions answer: an event's or a step's outcome, a claimed step, and the
limits on retrying."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta





log = logging.getLogger("ringback.worker")


MAX_SEND_ATTEMPTS = 6
EVENT_RETRY_WINDOW = timedelta(minutes=10)
# Every way an event is tried again is bounded: then it rests, done ("gave up") or failed with
# its reason, for `ringback events list --failed` and `ringback events retry`.
NOT_YET_ATTEMPTS = 10  # a report about a text not recorded yet: 0.2 s doubling, about 100 s in all
VENDOR_ATTEMPTS = 12  # a vendor asked first is down or throttling: 5 s doubling up to 10 min, ~50 min
FAILED_ATTEMPTS = 5  # an unexpected error: 2, 4, 8, 16 s, so a poison event fails within a minute
STOPPED_STEP_KINDS = {"text_back", "follow_up"}
CRM_TEXT_STATUSES = {"delivered", "undelivered", "failed", "read"}  # written to the CRM's field  # kinds never sent to a number that opted out meanwhile


class Incomplete(Exception):
    def __init__(self, sub_account_id: int, event):
        super().__init__(type(event).__name__)
        self.sub_account_id, self.event = sub_account_id, event


@dataclass(frozen=True)
class Done:
    """Work done outside the transaction (a marketplace install): only its summary is recorded."""

    summary: str


class NotYet(Exception):
    """The event refers to something not recorded yet (a status callback racing its send).
    After ``window`` it is given up: it was about something that is not Ringback's."""

    def __init__(self, message: str, window: timedelta = EVENT_RETRY_WINDOW):
        super().__init__(message)
        self.window = window


@dataclass(frozen=True)
class Claim:
    """A step this worker holds the lease on, with everything needed to send it."""

    step_id: int
    message_id: int
    payload: dict
    attempts: int
    reconcile: bool  # an earlier attempt may have reached the provider: look before sending
    since: datetime


@dataclass
class Outcome:
    summary: str
    claims: list[Claim] = field(default_factory=list)  # steps claimed in this transaction: send now
    retry_in: float | None = None
    syncs: list[int] = field(default_factory=list)  # recoveries with CRM writes to apply
    # An event's attempts when its retry was scheduled: the retry runs only if nothing ran since.
    event_attempts: int | None = None
    decided: str | None = None  # a call's outcome (texted, answered...), counted once committed
