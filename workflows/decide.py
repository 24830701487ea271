"""Decisions: was a call missed, should the caller be texted, what does a reply mean.

Each function takes plain values (``now`` included) and returns a plain decision the host
carries out. Nothing here reads a clock, a database or the network.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from . import keywords, templates
from .events import CallEvent, InboundSms
from .settings import TextBackSettings
from .statuses import CALL_FINAL



@dataclass(frozen=True)
class Missed:
    final: bool  # the call has ended (or its outcome is known): a decision can be made
    missed: bool
    reason: str


def classify_call(call: CallEvent, settings: TextBackSettings) -> Missed:
    """Missed = inbound, and not answered by a person (see PROVIDERS.md, Twilio)."""
    if call.direction != "inbound":
        return Missed(True, False, f"{call.direction} call")
    disposition = (call.disposition or "").strip().lower()
    if disposition in settings.missed_dispositions:
        return Missed(True, True, f"disposition {call.disposition!r}")
    if disposition in settings.answered_dispositions:
        return Missed(True, False, f"answered (disposition {call.disposition!r})")
    if call.dial_status is not None:
        # The <Dial> outcome describes the business's phone; the parent call "completed"
        # only because Twilio answered it.
        if call.dial_status in settings.missed_statuses:
            return Missed(True, True, f"forwarded call {call.dial_status}")
        if call.dial_status == "completed":
            return _by_duration(call.dial_duration_seconds, settings, "forwarded call")
        if call.dial_status in CALL_FINAL:  # an outcome this sub-account does not count as missed
            return Missed(True, False, f"forwarded call {call.dial_status}")
        return Missed(False, False, f"forwarded call {call.dial_status}")
    if call.status in settings.missed_statuses:
        return Missed(True, True, call.status)
    if call.status == "completed":
        return _by_duration(call.duration_seconds, settings, "call")
    if call.status in CALL_FINAL:
        return Missed(True, False, call.status)
    return Missed(False, False, f"call still {call.status}")


def _by_duration(seconds: int | None, settings: TextBackSettings, what: str) -> Missed:
    if seconds is None or seconds < settings.missed_under_seconds:
        shown = "unknown" if seconds is None else f"{seconds}s"
        return Missed(True, True, f"{what} completed in {shown}, under {settings.missed_under_seconds}s (voicemail)")
    return Missed(True, False, f"answered ({seconds}s)")


@dataclass(frozen=True)
class CallerState:
    opted_out: bool = False
    open_recovery_id: int | None = None
    open_recovery_opened_at: datetime | None = None
    first_name: str | None = None
    first_text_already_sent: bool = False


@dataclass(frozen=True)
class TextBack:
    action: str  # "text" | "join" | "suppress"
    reason: str
    template: str | None = None  # business_hours | after_hours
    body: str | None = None


def too_late_to_text(occurred_at: datetime | None, now: datetime, settings: TextBackSettings) -> bool:
    """A call found late (its webhook lost) that happened longer ago than the late-text window:
    a person calls back instead. A call whose time is unknown is taken as recent."""
    if occurred_at is None:
        return False
    if occurred_at.tzinfo is None:  # a vendor time without an offset is UTC
        occurred_at = occurred_at.replace(tzinfo=timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return (now - occurred_at).total_seconds() > settings.late_text_seconds


def decide_text_back(caller: str, state: CallerState, settings: TextBackSettings, now: datetime) -> TextBack:
    """For a missed call from ``caller`` (E.164): text them, join their open recovery, or not."""
    if caller in settings.own_numbers:
        return TextBack("suppress", "the caller is one of the business's own numbers")
    if caller in settings.block_list:
        return TextBack("suppress", "the caller is on the block list")
    if state.opted_out:
        return TextBack("suppress", "the caller opted out")
    if not settings.enabled:
        return TextBack("suppress", "missed-call text back is switched off")
    if state.open_recovery_id is not None and state.open_recovery_opened_at is not None:
        if now - state.open_recovery_opened_at < timedelta(seconds=settings.dedupe_window_seconds):
            return TextBack("join", "already texted within the dedupe window")
    kind = "business_hours" if settings.hours.is_open(settings.timezone, now) else "after_hours"
    body = templates.render(
        settings.template_for(kind),
        business_name=settings.business_name,
        first_name=state.first_name,
        booking_link=settings.booking_link,
        first_in_conversation=not state.first_text_already_sent,
    )
    return TextBack("text", f"missed call, {kind.replace('_', ' ')}", kind, body)


@dataclass(frozen=True)
class ReplyDecision:
    action: str  # opt_out | opt_in | help | reply | ignore
    answer: str | None  # the text to send back, if any


def decide_reply(sms: InboundSms, *, business_name: str, business_phone: str | None) -> ReplyDecision:
    """What an inbound text means. A lone STOP/START/HELP is a keyword; anything else a reply."""
    kind = keywords.keyword(sms.body) or _twilio_keyword(sms.opt_out_type)
    # When Twilio's own opt-out handling acted (OptOutType is set), Twilio has already
    # answered the sender; a second confirmation from us would be a duplicate.
    twilio_answered = sms.opt_out_type is not None
    if kind == "opt_out":
        answer = None if twilio_answered else (
            f"You're unsubscribed from {business_name} texts and won't get more. Reply START to resubscribe.")
        return ReplyDecision("opt_out", answer)
    if kind == "opt_in":
        answer = None if twilio_answered else (
            f"You're resubscribed to {business_name} texts. Reply STOP to opt out.")
        return ReplyDecision("opt_in", answer)
    if kind == "help":
        if twilio_answered:
            return ReplyDecision("help", None)
        call = f" or call {business_phone}" if business_phone else ""
        return ReplyDecision("help", f"{business_name}: reply here and we'll get back to you{call}. Reply STOP to opt out.")
    # Any other text is a reply to record; an opted-out caller stays opted out and gets no answer.
    return ReplyDecision("reply", None)


def _twilio_keyword(opt_out_type: str | None) -> str | None:
    return {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}.get((opt_out_type or "").upper())
