"""The workflows a sub-account switches on and off, their settings, validation and trade packs.

Each workflow's settings are validated by a marshmallow schema; a refusal names the workflow
and the field ("follow_ups.touches: ..."). Agency defaults are overlaid by the sub-account's
own values; what neither sets takes the workflow's default.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

import holidays as holidays_lib
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates, validates_schema

from .followups import MAX_TOUCHES, FollowUpSettings
from .phones import UnusableNumber, to_e164
from .replies import DEFAULT_URGENT_WORDS, ReplySettings

WORKFLOWS = {
    "missed_call_text_back": "Missed-call text back",
    "reply_router": "Reply router",
    "follow_ups": "Follow-ups",
    "escalation": "Escalation",
    "booking_sync": "Booking sync",
    "weekly_summary": "Weekly summary",
}
MERGE_FIELDS = {"first_name", "business_name", "booking_link", "when"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BadWorkflowSettings(ValueError):
    """Settings a workflow refuses; the message names the workflow and the field."""


def _template(value: str | None) -> None:
    if value is None:
        return
    for name in re.findall(r"{([^{}]*)}", value):
        if name not in MERGE_FIELDS:
            raise ValidationError(f"unknown merge field {{{name}}} (use {', '.join('{' + f + '}' for f in sorted(MERGE_FIELDS))})")


def _clock(value: str) -> time:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value or "")
    if not m:
        raise ValidationError(f"{value!r} is not a time of day (HH:MM)")
    return time(int(m.group(1)), int(m.group(2)))


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE

    enabled = fields.Boolean(load_default=True)


class ReplyRouterSchema(_Base):
    urgent_words = fields.List(fields.String(validate=validate.Length(min=2)), load_default=list(DEFAULT_URGENT_WORDS))
    answers = fields.Dict(keys=fields.String(validate=validate.OneOf(["hours", "area", "price", "general"])),
                          values=fields.String(validate=_template), load_default=dict)
    book_reply = fields.String(validate=_template, load_default=None, allow_none=True)
    call_back_reply = fields.String(validate=_template, load_default=None, allow_none=True)
    urgent_reply = fields.String(validate=_template, load_default=None, allow_none=True)
    handoff_reply = fields.String(validate=_template, load_default=None, allow_none=True)
    wrong_number_reply = fields.String(validate=_template, load_default=None, allow_none=True)


class FollowUpsSchema(_Base):
    touches = fields.Integer(validate=validate.Range(1, MAX_TOUCHES), load_default=3)
    second_after_minutes = fields.Integer(validate=validate.Range(1, 7 * 24 * 60), load_default=120)
    third = fields.String(validate=validate.OneOf(["next_business_day", "after_minutes"]), load_default="next_business_day")
    third_after_minutes = fields.Integer(validate=validate.Range(1, 14 * 24 * 60), load_default=24 * 60)
    quiet_start = fields.String(load_default="21:00")
    quiet_end = fields.String(load_default="08:00")
    country = fields.String(load_default="US")
    subdivision = fields.String(load_default=None, allow_none=True)
    second_template = fields.String(validate=_template, load_default=None, allow_none=True)
    third_template = fields.String(validate=_template, load_default=None, allow_none=True)

    @validates("quiet_start")
    def _qs(self, value, **_):
        _clock(value)

    @validates("quiet_end")
    def _qe(self, value, **_):
        _clock(value)

    @validates_schema
    def _region(self, data, **_):
        country = data.get("country", "US")
        supported = holidays_lib.list_supported_countries()
        if country not in supported:
            raise ValidationError(f"{country!r} is not a country the holidays calendar knows", "country")
        sub = data.get("subdivision")
        if sub and sub not in supported[country]:
            raise ValidationError(f"{sub!r} is not a subdivision of {country}", "subdivision")


class EscalationSchema(_Base):
    on_call_numbers = fields.List(fields.String(), load_default=list)
    no_booking_hours = fields.Integer(validate=validate.Range(1, 30 * 24), load_default=24)
    alert_template = fields.String(load_default="Ringback URGENT for {business_name}: a caller needs help now.")

    @validates("on_call_numbers")
    def _numbers(self, value, **_):
        for number in value:
            try:
                to_e164(number, "US")
            except UnusableNumber as exc:
                raise ValidationError(f"{number!r}: {exc}") from None


class BookingSyncSchema(_Base):
    average_job_value = fields.Float(validate=validate.Range(0, 1_000_000), load_default=None, allow_none=True)
    lost_after_days = fields.Integer(validate=validate.Range(1, 90), load_default=7)


class WeeklySummarySchema(_Base):
    """The business owner's weekly email: on unless switched off (for a sub-account or agency-wide);
    sent only to the addresses given."""
    to = fields.List(fields.Email(), validate=validate.Length(max=5), load_default=list)
    day = fields.String(validate=validate.OneOf(DAYS), load_default="mon")
    hour = fields.Integer(validate=validate.Range(0, 23), load_default=8)

    @pre_load
    def _addresses(self, data, **_):
        """``to`` may be written as one string, addresses separated by commas (the CLI's --set)."""
        if isinstance(data.get("to"), str):
            data = dict(data, to=[a.strip() for a in data["to"].split(",") if a.strip()])
        return data


SCHEMAS = {"reply_router": ReplyRouterSchema, "follow_ups": FollowUpsSchema, "escalation": EscalationSchema,
           "booking_sync": BookingSyncSchema, "weekly_summary": WeeklySummarySchema}


@dataclass(frozen=True)
class Pack:
    """Every workflow of the pack, as one sub-account has it."""

    replies: "ReplySettings"
    follow_ups: FollowUpSettings
    escalation: "Escalation"
    booking: "BookingSync"


@dataclass(frozen=True)
class Escalation:
    enabled: bool
    on_call_numbers: tuple[str, ...]
    no_booking_hours: int
    alert_template: str


@dataclass(frozen=True)
class BookingSync:
    enabled: bool
    average_job_value: float | None
    lost_after_days: int


def check_keys(workflow: str, values: dict) -> None:
    """Refuse a setting the workflow does not have (a typo would otherwise be stored and ignored)."""
    if workflow not in SCHEMAS:
        raise BadWorkflowSettings(f"unknown workflow {workflow!r} (one of {', '.join(SCHEMAS)})")
    known = set(SCHEMAS[workflow]().fields)
    for key in sorted(set(values) - known):
        raise BadWorkflowSettings(f"{workflow}.{key}: no such setting (settings: {', '.join(sorted(known - {'enabled'}))})")


def validate_settings(workflow: str, values: dict) -> dict:
    """The values, loaded by the workflow's schema; raises BadWorkflowSettings naming the field."""
    if workflow not in SCHEMAS:
        raise BadWorkflowSettings(f"unknown workflow {workflow!r} (one of {', '.join(SCHEMAS)})")
    try:
        return SCHEMAS[workflow]().load(values)
    except ValidationError as exc:
        field, problems = next(iter(sorted(exc.normalized_messages().items())))
        text = problems if isinstance(problems, str) else "; ".join(map(str, _flat(problems)))
        raise BadWorkflowSettings(f"{workflow}.{field}: {text}") from None


def _flat(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from (f"{k}: {x}" for x in _flat(v))
    elif isinstance(value, list):
        for v in value:
            yield from _flat(v)
    else:
        yield value


def reply_settings(values: dict) -> ReplySettings:
    d = validate_settings("reply_router", values)
    kw = {k: d[k] for k in ("book_reply", "call_back_reply", "urgent_reply", "handoff_reply", "wrong_number_reply")
          if d.get(k)}
    return ReplySettings(enabled=d["enabled"], urgent_words=tuple(w.lower() for w in d["urgent_words"]),
                         answers=dict(d["answers"]), **kw)


def follow_up_settings(values: dict) -> FollowUpSettings:
    d = validate_settings("follow_ups", values)
    return FollowUpSettings(enabled=d["enabled"], touches=d["touches"], second_after_minutes=d["second_after_minutes"],
                            third=d["third"], third_after_minutes=d["third_after_minutes"],
                            quiet_start=_clock(d["quiet_start"]), quiet_end=_clock(d["quiet_end"]),
                            country=d["country"], subdivision=d["subdivision"], second_template=d["second_template"],
                            third_template=d["third_template"])


def escalation_settings(values: dict) -> Escalation:
    d = validate_settings("escalation", values)
    return Escalation(d["enabled"], tuple(to_e164(n, "US") for n in d["on_call_numbers"]), d["no_booking_hours"],
                      d["alert_template"])


def booking_settings(values: dict) -> BookingSync:
    d = validate_settings("booking_sync", values)
    return BookingSync(d["enabled"], d["average_job_value"], d["lost_after_days"])


def holiday_dates(country: str, subdivision: str | None, years) -> frozenset:
    return frozenset(holidays_lib.country_holidays(country, subdiv=subdivision, years=list(years)).keys())


# ------------------------------------------------------------------ trade packs

PACKS = {
    "home_services": {
        "label": "Home services (plumbing, HVAC, electrical, roofing)",
        "reply_router": {"answers": {
            "hours": "We answer 7 days a week, 7am-7pm, and take emergencies around the clock.",
            "price": "Our service call is $89, credited toward the repair. We'll give you an exact price on site."}},
        "follow_ups": {"touches": 3, "second_after_minutes": 120},
        "escalation": {"no_booking_hours": 4},
        "booking_sync": {"average_job_value": 350.0, "lost_after_days": 5},
    },
    "med_spa": {
        "label": "Med spa and wellness",
        "reply_router": {"urgent_words": ["allergic", "reaction", "swelling", "swollen", "infection", "blister",
                                          "severe pain", "emergency", "urgent"],
                         "answers": {"price": "Consultations are free; we'll go over pricing for your treatment "
                                              "plan then. Book here: {booking_link}"}},
        "follow_ups": {"touches": 3, "second_after_minutes": 180, "quiet_start": "20:00", "quiet_end": "09:00"},
        "escalation": {"no_booking_hours": 24},
        "booking_sync": {"average_job_value": 400.0, "lost_after_days": 10},
    },
    "dental": {
        "label": "Dental and clinic",
        "reply_router": {"urgent_words": ["knocked out", "broken tooth", "cracked tooth", "bleeding", "swollen",
                                          "swelling", "severe pain", "abscess", "emergency", "urgent"],
                         "answers": {"hours": "We're open Monday to Friday 8am-5pm, with emergency slots each day."}},
        "follow_ups": {"touches": 3, "second_after_minutes": 120, "quiet_end": "08:30"},
        "escalation": {"no_booking_hours": 24},
        "booking_sync": {"average_job_value": 250.0, "lost_after_days": 14},
    },
    "professional": {
        "label": "Professional services (legal, accounting, consulting)",
        "reply_router": {"urgent_words": ["deadline", "court", "arrested", "summons", "emergency", "urgent"],
                         "answers": {"price": "The first consultation is free; we'll quote a fixed fee after it."}},
        "follow_ups": {"touches": 2, "second_after_minutes": 240},
        "escalation": {"no_booking_hours": 48},
        "booking_sync": {"average_job_value": 1200.0, "lost_after_days": 21},
    },
    "auto_repair": {
        "label": "Auto repair",
        "reply_router": {"urgent_words": ["broke down", "broken down", "stranded", "won't start", "tow", "smoke",
                                          "overheating", "brakes failed", "emergency", "urgent"],
                         "answers": {"hours": "We're open Monday to Friday 7:30am-6pm and Saturday 8am-1pm."}},
        "follow_ups": {"touches": 3, "second_after_minutes": 120},
        "escalation": {"no_booking_hours": 8},
        "booking_sync": {"average_job_value": 450.0, "lost_after_days": 7},
    },
}


@dataclass(frozen=True)
class WeeklySummary:
    enabled: bool
    to: tuple[str, ...]
    day: str  # mon..sun, in the sub-account's time zone
    hour: int  # 0-23, local


def summary_settings(values: dict) -> WeeklySummary:
    d = validate_settings("weekly_summary", values)
    return WeeklySummary(d["enabled"], tuple(d["to"]), d["day"], d["hour"])
