"""The reply router: what a caller's text back means, and what Ringback does about it.

Deterministic rules first (tested on the labelled messages in tests/fixtures/replies); the
``Classifier`` protocol lets a language model stand in later without touching the router:
``route`` only needs an ``Intent``.

Intents, in the order the rules try them (the first that matches wins, so "call me, it's
flooding" is urgent and "can you call me about a quote" a call-back):
  opt_out, wrong_number, urgent, call_back, book, question, other.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from . import keywords

INTENTS = ("opt_out", "wrong_number", "urgent", "call_back", "book", "question", "other")
DEFAULT_URGENT_WORDS = (
    "emergency", "urgent", "asap", "right away", "immediately", "flood", "flooding", "flooded", "leak", "leaking",
    "burst", "no heat", "no hot water", "no ac", "no a/c", "no air", "no power", "smell gas", "gas smell",
    "sparking", "smoke", "fire", "sewage", "backed up", "backing up", "overflowing", "broke down", "broken down",
    "stranded", "won't start", "bleeding", "severe pain", "swollen", "swelling", "knocked out", "locked out",
    "freezing", "water everywhere",
)
_OPT_OUT = ("stop texting", "stop messaging", "unsubscribe", "remove me", "remove my number", "take me off",
            "don't text", "dont text", "do not text", "do not contact", "don't contact", "leave me alone",
            "no more texts", "stop sending")
_WRONG = ("wrong number", "wrong #", "wrong person", "you have the wrong", "didn't call", "didnt call", "did not call",
          "never called", "not me who called", "who is this", "who's this", "i don't know you", "dont know you",
          "don't know who", "pocket dial", "butt dial", "by mistake", "by accident", "called by accident")
_CALL_BACK = ("call me", "call back", "callback", "call us", "give me a call", "give us a call", "can you call",
              "could you call", "please call", "ring me", "phone me", "call my cell", "call when", "talk on the phone",
              "rather talk", "speak to someone", "speak with someone", "talk to someone", "talk to a person")
_BOOK = ("book", "schedule", "appointment", "appt", "come out", "come by", "come over", "come today",
         "come tomorrow", "come in", "could you come", "bring it in", "bring my car in", "bring the car in",
         "i'll take the", "send someone", "send a tech", "available", "availability", "openings", "opening",
         "any time today", "when can you", "can you come", "can someone come", "set up a time", "reserve",
         "sign me up", "get on your calendar", "get me in", "fit me in", "squeeze me in", "earliest", "next available",
         "i'd like to come in", "want to come in", "need someone out", "need someone to come", "make a reservation")
_PRICE = ("how much", "price", "pricing", "cost", "quote", "estimate", "rate", "rates", "charge", "fee",
          "ballpark", "$")
_HOURS = ("hours", "open", "close", "closing", "weekend", "saturday", "sunday")
_AREA = ("service area", "do you service", "do you serve", "do you cover", "come to", "out to", "travel to",
         "near", "in my area", "zip")
_QUESTION = ("?", "do you", "are you", "can you", "is there", "what", "which", "how", "does", "insurance",
             "accept", "warranty", "financing", "license", "licensed")
# A clock time is the most useful thing a caller can give; words like "tomorrow" come second.
_CLOCK = re.compile(r"\b(?:(?:after|before|around|at|by)\s+\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)?"
                    r"|\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.))", re.I)
_WHEN = re.compile(r"\b(?:(?:this|tomorrow)\s+(?:morning|afternoon|evening)|tonight|tomorrow|later today|in an hour"
                   r"|in \d+ minutes|after work|lunch ?time|on my lunch|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b",
                   re.I)


@dataclass(frozen=True)
class Intent:
    name: str  # one of INTENTS
    topic: str | None = None  # question: price | hours | area | general
    when: str | None = None  # call_back: the time the caller gave, as they wrote it
    matched: str | None = None  # the words that decided it (for the record)


class Classifier(Protocol):
    def classify(self, text: str, urgent_words: tuple[str, ...] = DEFAULT_URGENT_WORDS) -> Intent:
        """The intent of one inbound text."""


def _norm(text: str) -> str:
    text = (text or "").lower().replace("’", "'").replace("‘", "'")
    return " " + re.sub(r"\s+", " ", text).strip() + " "


def _find(text: str, phrases) -> str | None:
    for phrase in phrases:
        if phrase in ("?", "$"):
            if phrase in text:
                return phrase
            continue
        # Whole words, a plural allowed: "appointments" is "appointment".
        if re.search(r"(?<![a-z])" + re.escape(phrase) + r"s?(?![a-z])", text):
            return phrase
    return None


class RuleClassifier:
    """Word rules, first match wins. Fast, explainable, and what the tests hold to account."""

    def classify(self, text: str, urgent_words: tuple[str, ...] = DEFAULT_URGENT_WORDS) -> Intent:
        t = _norm(text)
        if keywords.keyword(text) == "opt_out":
            return Intent("opt_out", matched=text.strip())
        if hit := _find(t, _OPT_OUT):
            return Intent("opt_out", matched=hit)
        if hit := _find(t, _WRONG):
            return Intent("wrong_number", matched=hit)
        if hit := _find(t, tuple(w.lower() for w in urgent_words)):
            return Intent("urgent", matched=hit)
        if hit := _find(t, _CALL_BACK):
            when = _CLOCK.search(text or "") or _WHEN.search(text or "")
            return Intent("call_back", when=when.group(0) if when else None, matched=hit)
        if hit := _find(t, _BOOK):
            return Intent("book", matched=hit)
        if hit := _find(t, _PRICE):
            return Intent("question", topic="price", matched=hit)
        if hit := _find(t, _AREA):
            return Intent("question", topic="area", matched=hit)
        question = _find(t, _QUESTION)
        if question and (hit := _find(t, _HOURS)):
            return Intent("question", topic="hours", matched=hit)
        if question:
            return Intent("question", topic="general", matched=question)
        return Intent("other")


# ------------------------------------------------------------------ what to do

@dataclass(frozen=True)
class ReplySettings:
    """The reply router's wording and answers (workflows.config validates them)."""

    enabled: bool = True
    urgent_words: tuple[str, ...] = DEFAULT_URGENT_WORDS
    answers: dict = field(default_factory=dict)  # topic -> answer text: hours, area, price
    book_reply: str = "Great! Pick a time that suits you here: {booking_link}"
    book_reply_no_link: str = "Great! What day and time suit you? We'll confirm right away."
    call_back_reply: str = "Thanks! Someone from {business_name} will call you back{when}."
    urgent_reply: str = ("We're on it: {business_name} is alerting our on-call team now and someone will call "
                         "you right back.")
    handoff_reply: str = "Good question! Someone from {business_name} will get back to you shortly."
    wrong_number_reply: str = "Sorry about that! We won't text you again."


@dataclass(frozen=True)
class ReplyAction:
    intent: Intent
    answer: str | None  # the text to send back, if any
    stop_sequence: bool = True  # a reply always stops the follow-ups
    close: bool = False  # wrong number: the recovery ends
    task: str | None = None  # a CRM task for a person, with this title
    alert_staff: bool = False  # urgent: on-call numbers are texted now
    state: str = "replied"  # what the recovery becomes


def route(intent: Intent, settings: ReplySettings, *, business_name: str, booking_link: str | None,
          caller: str) -> ReplyAction:
    """What Ringback does about a reply with this intent (opt-outs are handled before this)."""
    fill = {"business_name": business_name, "booking_link": booking_link or ""}
    if intent.name == "book":
        text = settings.book_reply if booking_link else settings.book_reply_no_link
        return ReplyAction(intent, text.format(**fill))
    if intent.name == "call_back":
        when = f" {intent.when}" if intent.when else " shortly"
        return ReplyAction(intent, settings.call_back_reply.format(**fill, when=when),
                           task=f"Call {caller} back" + (f" ({intent.when})" if intent.when else ""))
    if intent.name == "urgent":
        return ReplyAction(intent, settings.urgent_reply.format(**fill), alert_staff=True,
                           task=f"URGENT: call {caller} now ({intent.matched})")
    if intent.name == "wrong_number":
        return ReplyAction(intent, settings.wrong_number_reply.format(**fill), close=True, state="lost")
    if intent.name == "question":
        answer = settings.answers.get(intent.topic or "general")
        if answer:
            return ReplyAction(intent, answer.format(**fill))
        return ReplyAction(intent, settings.handoff_reply.format(**fill),
                           task=f"Answer {caller}'s question" + (f" ({intent.topic})" if intent.topic else ""))
    return ReplyAction(intent, None, task=f"Read {caller}'s reply and answer it")
