"""When follow-ups fall due, as tables (now passed in), and the properties that must always hold."""
from __future__ import annotations

from datetime import datetime, time, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows import followups
from workflows.config import holiday_dates
from workflows.decide import CallerState, decide_text_back
from workflows.hours import WeeklySchedule, zone
from workflows.settings import TextBackSettings
from workflows.statuses import recovery_advances

TZ = "America/Chicago"
HOURS = WeeklySchedule.parse("mon-fri 08:00-18:00")
US = holiday_dates("US", None, (2026, 2027))
CAL = followups.Calendar(HOURS, TZ, US)
DEFAULT = followups.FollowUpSettings()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone(TZ))


@pytest.mark.parametrize("texted, touch2, touch3_after_touch2", [
    # A weekday afternoon: +2 h, then the next business day's opening.
    ("2026-11-17 14:10", "2026-11-17 16:10", "2026-11-18 08:00"),
    # 20:30: +2 h is 22:30, quiet hours: deferred to 08:00 the next day.
    ("2026-11-17 20:30", "2026-11-18 08:00", "2026-11-19 08:00"),
    # Friday evening: Saturday and Sunday are closed days: Monday.
    ("2026-11-20 19:30", "2026-11-23 08:00", "2026-11-24 08:00"),
    # The eve of Thanksgiving: Thursday is a public holiday, Friday is a business day.
    ("2026-11-25 20:00", "2026-11-27 08:00", "2026-11-30 08:00"),
    # Christmas Eve afternoon: touch 2 the same evening, touch 3 after Christmas and the weekend.
    ("2026-12-24 16:00", "2026-12-24 18:00", "2026-12-28 08:00"),
    # Friday before the spring DST change (2027-03-14): Monday 08:00 is CDT, a 23-hour Sunday between.
    ("2027-03-12 19:45", "2027-03-15 08:00", "2027-03-16 08:00"),
    # The Friday before autumn's change back (2026-11-01).
    ("2026-10-30 20:00", "2026-11-02 08:00", "2026-11-03 08:00"),
])
def test_follow_ups_skip_quiet_hours_closed_days_holidays_and_dst(texted, touch2, touch3_after_touch2):
    second = followups.next_touch_at(2, at(texted), DEFAULT, CAL)
    assert second == at(touch2)
    assert followups.next_touch_at(3, second, DEFAULT, CAL) == at(touch3_after_touch2)


def test_quiet_hours_hold_in_the_callers_timezone_too():
    # A Chicago business at 08:15 is 06:15 for a caller in Los Angeles: wait for 08:00 there.
    cal = followups.Calendar(HOURS, TZ, US, caller_timezone="America/Los_Angeles")
    second = followups.next_touch_at(2, at("2026-11-17 06:15"), DEFAULT, cal)
    assert second.astimezone(zone("America/Los_Angeles")).time() == time(8, 0)


@pytest.mark.parametrize("touches, has_second, has_third", [(1, False, False), (2, True, False), (3, True, True)])
def test_touches_are_capped_as_set(touches, has_second, has_third):
    fu = followups.FollowUpSettings(touches=touches)
    t = at("2026-11-17 10:00")
    assert (followups.next_touch_at(2, t, fu, CAL) is not None) == has_second
    assert (followups.next_touch_at(3, t, fu, CAL) is not None) == has_third
    assert followups.next_touch_at(4, t, fu, CAL) is None


@pytest.mark.parametrize("touches", [0, 4, 10])
def test_more_than_three_touches_cannot_be_set(touches):
    with pytest.raises(ValueError, match="touches must be between 1 and 3"):
        followups.FollowUpSettings(touches=touches)


# ------------------------------------------------------------------ properties

moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1),
                       timezones=st.just(timezone.utc))
quiet = st.tuples(st.integers(18, 23), st.integers(5, 10))


@settings(max_examples=300, deadline=None)
@given(texted=moments, q=quiet, delay=st.integers(1, 3000))
def test_a_follow_up_is_never_in_quiet_hours_a_closed_day_or_a_holiday(texted, q, delay):
    fu = followups.FollowUpSettings(quiet_start=time(q[0], 0), quiet_end=time(q[1], 0), second_after_minutes=delay)
    for touch, previous in ((2, texted), (3, texted)):
        due = followups.next_touch_at(touch, previous, fu, CAL)
        if due is None:
            continue
        assert due > previous
        local = due.astimezone(zone(TZ))
        assert not followups.in_quiet_hours(due, fu, TZ)
        assert local.date() not in US and local.weekday() < 5


@settings(max_examples=200, deadline=None)
@given(texted=moments)
def test_touch_three_always_comes_after_touch_two(texted):
    second = followups.next_touch_at(2, texted, DEFAULT, CAL)
    third = followups.next_touch_at(3, second, DEFAULT, CAL)
    assert second is not None and third is not None and texted < second < third


@settings(max_examples=200, deadline=None)
@given(now=moments, first_text=st.booleans(), open_rec=st.booleans(), link=st.booleans())
def test_an_opted_out_caller_is_never_texted(now, first_text, open_rec, link):
    s = TextBackSettings(business_name="Acme", hours=HOURS, timezone=TZ,
                         booking_link="https://a.example/b" if link else None)
    state = CallerState(opted_out=True, first_text_already_sent=first_text,
                        open_recovery_id=1 if open_rec else None, open_recovery_opened_at=now if open_rec else None)
    assert decide_text_back("+15125550123", state, s, now).action == "suppress"


STATES = ["missed", "texted", "replied", "booked", "lost"]


@given(path=st.lists(st.sampled_from(STATES), min_size=1, max_size=12))
def test_a_recovery_only_ever_moves_forward(path):
    state, rank = "missed", {"missed": 0, "texted": 1, "replied": 2, "booked": 3, "lost": 3}
    for new in path:
        if recovery_advances(state, new):
            assert rank[new] > rank[state]
            state = new
    assert rank[state] >= 0 and (state not in ("booked", "lost") or not any(
        recovery_advances(state, s) for s in STATES))
