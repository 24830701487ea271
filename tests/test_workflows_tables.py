"""workflows/ as tables: inputs, `now`, and the decision a person would expect."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows import keywords, templates
from workflows.decide import CallerState, classify_call, decide_reply, decide_text_back, too_late_to_text
from workflows.events import CallEvent, InboundSms
from workflows.hours import BadSchedule, WeeklySchedule
from workflows.phones import UnusableNumber, to_e164
from workflows.settings import TextBackSettings
from workflows.statuses import call_rank, message_advances, recovery_advances

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ------------------------------------------------------------------ business hours

HOURS = WeeklySchedule.parse("mon-fri 08:00-18:00; sat 09:00-13:00")


@pytest.mark.parametrize("now, tz, open_", [
    ("2026-11-30T08:00:00-06:00", "America/Chicago", True),    # Monday opening minute
    ("2026-11-30T07:59:00-06:00", "America/Chicago", False),
    ("2026-11-30T17:59:00-06:00", "America/Chicago", True),
    ("2026-11-30T18:00:00-06:00", "America/Chicago", False),   # closing time is closed
    ("2026-12-05T12:30:00-06:00", "America/Chicago", True),    # Saturday morning
    ("2026-12-05T13:00:00-06:00", "America/Chicago", False),
    ("2026-12-06T10:00:00-06:00", "America/Chicago", False),   # Sunday
    ("2026-11-30T15:00:00+00:00", "America/Chicago", True),    # 09:00 in Chicago
    ("2026-11-30T15:00:00+00:00", "Australia/Sydney", False),  # Tuesday 02:00 in Sydney
    # DST: US clocks went forward on 2026-03-08. 13:30 UTC is 08:30 CDT on Monday 9 March
    # but was 07:30 CST the Monday before.
    ("2026-03-09T13:30:00+00:00", "America/Chicago", True),
    ("2026-03-02T13:30:00+00:00", "America/Chicago", False),
    # ...and back on 2026-11-01: 13:30 UTC is 07:30 CST on 2 Nov, was 08:30 CDT on 26 Oct.
    ("2026-11-02T13:30:00+00:00", "America/Chicago", False),
    ("2026-10-26T13:30:00+00:00", "America/Chicago", True),
])
def test_business_hours(now, tz, open_):
    assert HOURS.is_open(tz, at(now)) is open_


@pytest.mark.parametrize("spec, written", [
    ("Mon-Fri 8:00-18:00", "mon-fri 08:00-18:00"),
    ("monday-friday 08:00-12:00 13:00-17:00", "mon-fri 08:00-12:00 13:00-17:00"),
    ("fri-mon 10:00-16:00", "mon 10:00-16:00; fri-sun 10:00-16:00"),
    ("24/7", "24/7"),
    ("daily 00:00-24:00", "24/7"),
    ("mon-sat 07:00-19:00; sat closed", "mon-fri 07:00-19:00"),
])
def test_schedule_is_read_and_written_back(spec, written):
    assert WeeklySchedule.parse(spec).format() == written
    assert WeeklySchedule.parse(written).format() == written


@pytest.mark.parametrize("spec, complaint", [
    ("", "empty"),
    ("mon-fri", "expected days then hours"),
    ("funday 08:00-18:00", "'funday' is not a day"),
    ("mon 8-18", "'8-18' is not a time range"),
    ("mon 18:00-08:00", "must start before it ends"),
    ("mon 08:00-25:00", "25:00 is not a time of day"),
    ("mon-fri 25:00-26:00", "25:00 is not a time of day"),
    ("mon 08:60-09:00", "08:60 is not a time of day"),
])
def test_bad_schedule_is_refused_naming_the_problem(spec, complaint):
    with pytest.raises(BadSchedule, match=complaint):
        WeeklySchedule.parse(spec)


def test_next_opening_skips_closed_days_and_holidays():
    friday_evening = at("2026-12-04T19:00:00-06:00")
    assert HOURS.next_opening("America/Chicago", friday_evening) == at("2026-12-05T09:00:00-06:00")
    christmas = datetime(2026, 12, 25).date()
    assert HOURS.next_opening("America/Chicago", at("2026-12-24T19:00:00-06:00"),
                              skip_dates={christmas}) == at("2026-12-26T09:00:00-06:00")


# ------------------------------------------------------------------ templates and segments

def render(template, first_name=None, link="https://acme.example/book", first=True):
    return templates.render(template, business_name="Acme Plumbing", first_name=first_name, booking_link=link,
                            first_in_conversation=first)


@pytest.mark.parametrize("template, first_name, link, first, expected", [
    ("Hi {first_name}, {business_name} here.", "Dana", None, False, "Hi Dana, Acme Plumbing here."),
    ("Hi {first_name}, {business_name} here.", None, None, False, "Hi there, Acme Plumbing here."),
    ("Hi {first_name}!", "  ", None, False, "Hi there!"),
    ("Book: {booking_link} thanks", None, None, False, "Book: thanks"),
    ("Hi {first_name}!", "Dana", None, True, "Hi Dana! Reply STOP to opt out."),
    ("Hi! Text STOP to unsubscribe.", None, None, True, "Hi! Text STOP to unsubscribe."),
])
def test_render(template, first_name, link, first, expected):
    assert render(template, first_name, link, first) == expected


@pytest.mark.parametrize("template, complaint", [
    ("Hi {name}", "unknown merge field {name}"),
    ("Hi {first_name", "stray brace"),
    ("   ", "empty"),
])
def test_bad_template_is_refused(template, complaint):
    with pytest.raises(templates.BadTemplate, match=complaint):
        templates.check(template)


@pytest.mark.parametrize("body, encoding, units, count", [
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("€" * 80, "GSM-7", 160, 1),      # € is an extension character: two septets
    ("€" * 81, "GSM-7", 162, 2),
    ("ü" * 160, "GSM-7", 160, 1),     # ü is in the GSM-7 basic set
    ("ç" * 70, "UCS-2", 70, 1),        # ç (lower case) is not
    ("ç" * 71, "UCS-2", 71, 2),
    ("😀" * 35, "UCS-2", 70, 1),       # a surrogate pair is two UCS-2 units
    ("It’s" + "a" * 66, "UCS-2", 70, 1),  # one curly apostrophe makes it UCS-2
    ("Price: €5 [approx] ~ ok", "GSM-7", 27, 1),  # four extension characters among basic ones
])
def test_segments(body, encoding, units, count):
    assert templates.segments(body) == templates.Segments(encoding, units, count)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ09 .,!?\n€[]~^{}|\\@£$¥èéùìòÇØøÅåÄÖÑÜß§¿ç’😀é") , max_size=400))
def test_segments_count_septets_as_the_gsm_codec_does(body):
    seg = templates.segments(body)
    try:
        assert (seg.encoding, seg.units) == ("GSM-7", len(body.encode("gsm03.38")))
    except UnicodeEncodeError:
        assert (seg.encoding, seg.units) == ("UCS-2", len(body.encode("utf-16-le")) // 2)


def test_default_texts_fit_one_or_two_gsm_segments():
    for link in (None, "https://acme.example/book"):
        settings = TextBackSettings(business_name="Acme Plumbing & Heating", booking_link=link)
        for kind in ("business_hours", "after_hours"):
            body = render(settings.template_for(kind), "Dana", link, True)
            seg = templates.segments(body)
            assert seg.encoding == "GSM-7" and seg.count <= 2, body
            assert ("book" in body) == bool(link)


# ------------------------------------------------------------------ missed or not

SETTINGS = TextBackSettings(business_name="Acme Plumbing", missed_under_seconds=15)


def call(status, duration=None, direction="inbound", dial=None, dial_duration=None):
    return CallEvent(provider="twilio", call_id="CA1", caller="+15125550123", called="+15125550100",
                     direction=direction, status=status, duration_seconds=duration, dial_status=dial,
                     dial_duration_seconds=dial_duration)


@pytest.mark.parametrize("event, final, missed", [
    (call("no-answer"), True, True),
    (call("busy"), True, True),
    (call("failed"), True, True),
    (call("canceled"), True, True),
    (call("voicemail"), True, True),
    (call("completed", 8), True, True),        # carrier voicemail picked up
    (call("completed", 14), True, True),
    (call("completed", 15), True, False),      # at the threshold: a person answered
    (call("completed", 300), True, False),
    (call("completed", None), True, True),     # no duration known: treat as not answered
    (call("ringing"), False, False),
    (call("in-progress"), False, False),
    (call("no-answer", direction="outbound"), True, False),
    (call("in-progress", dial="no-answer"), True, True),
    (call("in-progress", dial="completed", dial_duration=240), True, False),
    (call("in-progress", dial="completed", dial_duration=5), True, True),
    (call("completed", 40, dial="busy"), True, True),  # the parent "completed": Twilio answered it
])
def test_classify_call(event, final, missed):
    verdict = classify_call(event, SETTINGS)
    assert (verdict.final, verdict.missed) == (final, missed), verdict.reason


# ------------------------------------------------------------------ text back or not

NOW = at("2026-11-30T10:00:00-06:00")  # Monday, open
HOURS_SETTINGS = TextBackSettings(business_name="Acme Plumbing", timezone="America/Chicago",
                                  hours=HOURS, booking_link="https://acme.example/book",
                                  own_numbers=frozenset({"+15125550100"}), block_list=frozenset({"+15125550666"}))


@pytest.mark.parametrize("caller, state, now, action, template", [
    ("+15125550123", CallerState(), NOW, "text", "business_hours"),
    ("+15125550123", CallerState(), at("2026-11-30T22:00:00-06:00"), "text", "after_hours"),
    ("+15125550123", CallerState(), at("2026-12-06T10:00:00-06:00"), "text", "after_hours"),  # Sunday
    ("+15125550123", CallerState(opted_out=True), NOW, "suppress", None),
    ("+15125550666", CallerState(), NOW, "suppress", None),
    ("+15125550100", CallerState(), NOW, "suppress", None),
    ("+15125550123", CallerState(open_recovery_id=7, open_recovery_opened_at=NOW - timedelta(hours=23, minutes=59)),
     NOW, "join", None),
    ("+15125550123", CallerState(open_recovery_id=7, open_recovery_opened_at=NOW - timedelta(hours=24)),
     NOW, "text", "business_hours"),
])
def test_decide_text_back(caller, state, now, action, template):
    decision = decide_text_back(caller, state, HOURS_SETTINGS, now)
    assert (decision.action, decision.template) == (action, template), decision.reason
    if action == "text":
        assert "Acme Plumbing" in decision.body and "https://acme.example/book" in decision.body
        assert "Reply STOP to opt out." in decision.body


@pytest.mark.parametrize("occurred, window, late", [
    (None, 900, False),  # no time from the vendor: taken as recent
    (NOW - timedelta(minutes=14), 900, False),
    (NOW - timedelta(minutes=15), 900, False),  # exactly the window: still texted
    (NOW - timedelta(minutes=15, seconds=1), 900, True),
    (NOW - timedelta(hours=3), 900, True),
    (NOW - timedelta(hours=3), 4 * 3600, False),  # the sub-account widened its window
    (NOW - timedelta(seconds=1), 0, True),  # a zero window: every call found late is called back
    ((NOW - timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None), 900, True),  # no offset: UTC
    (NOW + timedelta(minutes=5), 900, False),  # the vendor's clock ahead of ours
])
def test_a_call_found_late_is_texted_only_within_the_window(occurred, window, late):
    assert too_late_to_text(occurred, NOW, HOURS_SETTINGS.with_overrides(late_text_seconds=window)) is late


def test_switched_off_workflow_texts_nobody():
    off = HOURS_SETTINGS.with_overrides(enabled=False)
    assert decide_text_back("+15125550123", CallerState(), off, NOW).action == "suppress"


def test_second_conversation_text_carries_no_opt_out_line():
    decision = decide_text_back("+15125550123", CallerState(first_text_already_sent=True), HOURS_SETTINGS, NOW)
    assert "STOP" not in decision.body


def test_custom_template_and_first_name():
    settings = HOURS_SETTINGS.with_overrides(business_hours_template="{first_name}, {business_name} saw your call. Reply STOP to end.")
    decision = decide_text_back("+15125550123", CallerState(first_name="Dana"), settings, NOW)
    assert decision.body == "Dana, Acme Plumbing saw your call. Reply STOP to end."


@pytest.mark.parametrize("bad, complaint", [
    (dict(business_hours_template="Hi {nme}"), "unknown merge field"),
    (dict(timezone="Mars/Olympus"), "unknown timezone"),
    (dict(validity_seconds=0), "between 1 and 36000"),
])
def test_bad_settings_are_refused(bad, complaint):
    with pytest.raises(ValueError, match=complaint):
        TextBackSettings(business_name="Acme", **bad)


# ------------------------------------------------------------------ replies and keywords

@pytest.mark.parametrize("body, kind", [
    ("STOP", "opt_out"), ("stop", "opt_out"), (" Stop. ", "opt_out"), ("unsubscribe", "opt_out"),
    ("STOPALL", "opt_out"), ("quit", "opt_out"), ("revoke", "opt_out"), ("optout", "opt_out"),
    ("cancel", "opt_out"), ("end", "opt_out"),
    ("START", "opt_in"), ("yes", "opt_in"), ("unstop", "opt_in"),
    ("HELP", "help"), ("info", "help"),
    ("please stop calling me", None),   # carriers act on single words only
    ("Yes, tomorrow at 3 works", None),
    ("", None),
])
def test_keywords(body, kind):
    assert keywords.keyword(body) == kind


def sms(body, opt_out_type=None):
    return InboundSms(provider="twilio", message_id="SM1", sender="+15125550123", recipient="+15125550100",
                      body=body, opt_out_type=opt_out_type)


@pytest.mark.parametrize("message, action, answers", [
    (sms("STOP"), "opt_out", "unsubscribed"),
    (sms("Stop", "STOP"), "opt_out", None),            # Twilio answered already
    (sms("START"), "opt_in", "resubscribed"),
    (sms("HELP"), "help", "+15125550100"),
    (sms("Can you come today?"), "reply", None),
])
def test_decide_reply(message, action, answers):
    decision = decide_reply(message, business_name="Acme Plumbing", business_phone="+15125550100")
    assert decision.action == action
    if answers is None:
        assert decision.answer is None
    else:
        assert answers in decision.answer and "Acme Plumbing" in decision.answer


# ------------------------------------------------------------------ orders and numbers

@pytest.mark.parametrize("current, new, advances", [
    (None, "queued", True), ("queued", "sent", True), ("sent", "queued", False),
    ("sent", "delivered", True), ("delivered", "sent", False), ("delivered", "undelivered", False),
    ("sent", "undelivered", True), ("undelivered", "delivered", True),  # a late DLR can still confirm
    ("pending", "queued", True), ("delivered", "read", True), ("sent", "bogus", False),
])
def test_message_status_only_moves_forward(current, new, advances):
    assert message_advances(current, new) is advances


def test_call_and_recovery_orders():
    assert call_rank("ringing") < call_rank("in-progress") < call_rank("completed") == call_rank("no-answer")
    assert recovery_advances("missed", "texted") and recovery_advances("texted", "replied")
    assert not recovery_advances("replied", "texted") and not recovery_advances("booked", "replied")


@pytest.mark.parametrize("raw, region, e164", [
    ("+15125550123", "US", "+15125550123"),
    ("(512) 555-0123", "US", "+15125550123"),
    ("512.555.0123", "US", "+15125550123"),
    ("020 7946 0018", "GB", "+442079460018"),
    ("+44 20 7946 0018", "US", "+442079460018"),
])
def test_numbers_are_normalised_to_e164(raw, region, e164):
    assert to_e164(raw, region) == e164


@pytest.mark.parametrize("raw, why", [
    ("", "no caller number"), (None, "no caller number"), ("anonymous", "withheld"),
    ("+266696687", "withheld"), ("12", "not a"), ("hello", "not a phone number"),
])
def test_unusable_numbers_say_why(raw, why):
    with pytest.raises(UnusableNumber, match=why):
        to_e164(raw, "US")


# ------------------------------------------------------------------ pipeline stages by name

from workflows.stages import UnmappedStages, best_pipeline, match  # noqa: E402

GHL_STAGES = {"s1": "Missed Call", "s2": "Texted-Back", "s3": "REPLIED", "s4": "Appointment booked", "s5": "Closed lost"}


@pytest.mark.parametrize("stages, overrides, expected", [
    (GHL_STAGES, None, {"missed_call": "s1", "texted_back": "s2", "replied": "s3", "booked": "s4", "lost": "s5"}),
    ({"a": "missed", "b": "Contacted", "c": "Responded", "d": "Won", "e": "Lost"}, None,
     {"missed_call": "a", "texted_back": "b", "replied": "c", "booked": "d", "lost": "e"}),
    (GHL_STAGES | {"s9": "Sold"}, {"booked": "Sold"}, {"booked": "s9"}),     # an explicit mapping wins
    (GHL_STAGES, {"replied": "s1"}, {"replied": "s1"}),                      # by id too
])
def test_stage_matching(stages, overrides, expected):
    result = match(stages, overrides)
    assert {k: result[k] for k in expected} == expected


@pytest.mark.parametrize("stages, overrides, complaint", [
    ({"a": "New", "b": "Won"}, None, "no stage for Missed call, Texted back, Replied, Lost"),
    (GHL_STAGES, {"booked": "Sold"}, "the stage mapped to 'Booked' ('Sold') is not in the pipeline"),
])
def test_unmapped_stages_are_named(stages, overrides, complaint):
    with pytest.raises(UnmappedStages, match=re.escape(complaint)):
        match(stages, overrides)


def test_best_pipeline_skips_pipelines_without_the_stages():
    pid, stages = best_pipeline({"sales": {"x": "New", "y": "Won"}, "recovery": GHL_STAGES})
    assert pid == "recovery" and stages["texted_back"] == "s2"
    with pytest.raises(UnmappedStages, match="there are no pipelines"):
        best_pipeline({})


@pytest.mark.parametrize("disposition, status, duration, missed", [
    ("73a0d17f-1163-4015-bdd5-ec830791da20", "completed", 300, True),    # HubSpot "no answer" wins over status
    ("b2cf5968-551e-4856-9783-52b3da59a7d0", "completed", 95, True),     # HubSpot "left voicemail"
    ("f240bbac-87c9-4f6e-bf70-924b57d47db7", "completed", 3, False),     # HubSpot "connected", however short
    ("17b47fee-58de-441e-a44c-c6300d46f273", "completed", 3, False),     # wrong number: a person answered
    ("No Answer", "completed", 0, True),                                  # Salesforce free text, any case
    ("  left voicemail ", "completed", 40, True),
    ("Connected", "completed", 0, False),
    ("Follow-up needed", "completed", 5, True),                           # unknown: the duration decides
    ("Follow-up needed", "completed", 300, False),
    ("73a0d17f-1163-4015-bdd5-ec830791da20", "ringing", None, True),      # a disposition settles a live call
])
def test_dispositions_decide_before_status(disposition, status, duration, missed):
    event = CallEvent(provider="hubspot", call_id="1", caller="+15125550123", called="+15125550100",
                      direction="inbound", status=status, duration_seconds=duration, disposition=disposition)
    verdict = classify_call(event, SETTINGS)
    assert (verdict.final, verdict.missed) == (True, missed), verdict.reason


def test_a_sub_account_names_its_own_dispositions():
    spanish = SETTINGS.with_overrides(missed_dispositions=frozenset({"sin respuesta"}))
    event = CallEvent(provider="salesforce", call_id="1", caller="x", called="y", direction="inbound",
                      status="completed", duration_seconds=120, disposition="Sin respuesta")
    assert classify_call(event, spanish).missed and not classify_call(event, SETTINGS).missed


@pytest.mark.parametrize("statuses, status, dial_status, missed", [
    (None, "voicemail", None, True),                                   # the default: every unanswered outcome
    ({"no-answer", "busy", "failed", "canceled"}, "voicemail", None, False),  # calls voicemails back itself
    ({"no-answer", "busy", "failed", "canceled"}, "no-answer", None, True),
    ({"no-answer"}, "busy", None, False),                              # a line that is busy is not "missed" here
    ({"no-answer"}, "completed", "busy", False),                       # the forwarded leg follows the same rule
    ({"no-answer"}, "completed", "no-answer", True),
])
def test_a_sub_account_names_the_statuses_that_mean_missed(statuses, status, dial_status, missed):
    settings = SETTINGS if statuses is None else SETTINGS.with_overrides(missed_statuses=frozenset(statuses))
    event = CallEvent(provider="twilio", call_id="1", caller="+15125550123", called="+15125550100",
                      direction="inbound", status=status, duration_seconds=0, dial_status=dial_status,
                      dial_duration_seconds=0 if dial_status else None)
    verdict = classify_call(event, settings)
    assert (verdict.final, verdict.missed) == (True, missed), verdict.reason


@pytest.mark.parametrize("statuses, named", [({"completed"}, "completed"), ({"no-answer", "rang out"}, "rang out")])
def test_a_status_that_cannot_mean_missed_is_refused_by_name(statuses, named):
    with pytest.raises(ValueError, match=f"missed_statuses: '{named}' is not a status that can mean missed"):
        SETTINGS.with_overrides(missed_statuses=frozenset(statuses))
