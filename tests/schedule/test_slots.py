"""Free slots from hours, staff, durations, lead time, horizon and existing bookings."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from schedule.slots import (
    Unavailable,
    exact_slot,
    free_slots,
    parse_slot_key,
    why_unavailable,
)
from schedule.when import WhenPreference
from tests.conftest import OMSK


def on(day: date, *, start=None, end=None, exact=None) -> WhenPreference:
    return WhenPreference(day, day, start, end, exact, 0, 0, "")


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=OMSK)


def test_first_slots_respect_lead_time_and_step(profile, thursday_morning):
    slots = free_slots(profile, "manicure", {}, thursday_morning)

    assert [s.start for s in slots] == [
        at(3, 11),
        at(3, 11, 30),
        at(3, 12),
        at(3, 12, 30),
        at(3, 13),
    ]
    assert slots[0].staff_id == "anna"  # Olga starts at 12:00 on Thursdays
    assert all(s.duration_minutes == 90 for s in slots)


def test_last_slot_ends_by_closing_time(profile, thursday_morning):
    slots = free_slots(
        profile,
        "manicure",
        {},
        thursday_morning,
        preference=on(date(2026, 12, 3), start=time(19)),
        limit=10,
    )

    assert slots[-1].start == at(3, 19, 30)  # 19:30 + 90 min = 21:00 closing
    assert all(s.end <= at(3, 21) for s in slots)


def test_busy_staff_gives_way_to_the_other_master(profile, thursday_morning):
    busy = {"anna": [(at(3, 14), at(3, 15, 30))]}

    slots = free_slots(
        profile,
        "manicure",
        busy,
        thursday_morning,
        preference=on(date(2026, 12, 3), exact=time(14)),
    )

    assert slots[0].start.hour in (12, 13, 14)
    fourteen = [s for s in slots if s.start == at(3, 14)]
    assert fourteen and fourteen[0].staff_id == "olga"


def test_overlap_with_a_booking_is_excluded_for_that_master(profile, thursday_morning):
    busy = {"anna": [(at(3, 14), at(3, 15, 30))]}

    slots = free_slots(
        profile,
        "manicure",
        busy,
        thursday_morning,
        staff_id="anna",
        preference=on(date(2026, 12, 3), start=time(12), end=time(17)),
        limit=20,
    )

    starts = [s.start for s in slots]
    assert at(3, 12, 30) in starts  # ends 14:00, touching the booking is fine
    for blocked in (at(3, 13), at(3, 14), at(3, 15)):
        assert blocked not in starts
    assert at(3, 15, 30) in starts


def test_closed_sunday_is_skipped(profile, thursday_morning):
    sunday = date(2026, 12, 6)

    slots = free_slots(profile, "manicure", {}, thursday_morning, preference=on(sunday))

    assert slots == []
    assert (
        why_unavailable(profile, "manicure", {}, thursday_morning, on(sunday))
        is Unavailable.CLOSED
    )


def test_staff_day_off(profile, thursday_morning):
    monday = date(2026, 12, 7)

    reason = why_unavailable(
        profile, "manicure", {}, thursday_morning, on(monday), staff_id="olga"
    )

    assert reason is Unavailable.CLOSED
    assert free_slots(
        profile,
        "manicure",
        {},
        thursday_morning,
        staff_id="anna",
        preference=on(monday),
    )


@pytest.mark.parametrize(
    ("preference", "reason"),
    [
        (on(date(2026, 12, 2)), Unavailable.PAST),
        (on(date(2026, 12, 3), exact=time(9)), Unavailable.PAST),
        (on(date(2026, 12, 3), exact=time(10, 30)), Unavailable.TOO_SOON),
        (on(date(2027, 1, 20)), Unavailable.BEYOND_HORIZON),
        (on(date(2026, 12, 4), exact=time(22)), Unavailable.OUTSIDE_HOURS),
        (on(date(2026, 12, 5), start=time(19)), Unavailable.OUTSIDE_HOURS),
        (on(date(2026, 12, 4), exact=time(15)), None),
    ],
    ids=[
        "yesterday",
        "earlier-today",
        "inside-lead-time",
        "beyond-horizon",
        "after-closing",
        "saturday-evening",
        "bookable",
    ],
)
def test_why_unavailable(profile, thursday_morning, preference, reason):
    assert (
        why_unavailable(profile, "manicure", {}, thursday_morning, preference) is reason
    )


def test_fully_taken_time_is_reported_as_taken(profile, thursday_morning):
    friday = date(2026, 12, 4)
    busy = {
        "anna": [(at(4, 14), at(4, 17))],
        "olga": [(at(4, 14), at(4, 17))],
    }

    preference = on(friday, exact=time(15))
    assert exact_slot(profile, "manicure", busy, thursday_morning, preference) is None
    assert (
        why_unavailable(profile, "manicure", busy, thursday_morning, preference)
        is Unavailable.TAKEN
    )


def test_exact_time_offers_the_nearest_times_that_day(profile, thursday_morning):
    friday = date(2026, 12, 4)
    busy = {"anna": [(at(4, 15), at(4, 16, 30))], "olga": [(at(4, 15), at(4, 16, 30))]}

    slots = free_slots(
        profile,
        "manicure",
        busy,
        thursday_morning,
        preference=on(friday, exact=time(15)),
    )

    assert len(slots) == 5
    assert slots == sorted(slots)
    assert {s.start for s in slots} <= {
        at(4, h, m) for h in range(12, 19) for m in (0, 30)
    }
    assert at(4, 13, 30) in [s.start for s in slots]


def test_horizon_limits_the_search(profile):
    late = datetime(2026, 12, 3, 20, 0, tzinfo=OMSK)
    slots = free_slots(profile, "coloring", {}, late, limit=1000)

    assert slots[-1].start.date() <= date(2026, 12, 3) + timedelta(
        days=profile.horizon_days
    )


def test_slot_key_round_trip(profile, thursday_morning):
    slot = free_slots(profile, "brows", {}, thursday_morning)[0]

    assert parse_slot_key(slot.key, profile, "brows") == slot
    assert parse_slot_key(slot.key, profile, "coloring") is None  # Olga does not colour
    assert parse_slot_key("garbage", profile, "brows") is None
    assert parse_slot_key("20261204T1500.nobody", profile, "brows") is None
