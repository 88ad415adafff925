"""When reminders go out: the profile's lead times, moved out of the quiet hours."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from business.profile import Reminders
from reminders.plan import plan
from tests.conftest import OMSK

DEFAULT = Reminders()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=OMSK)


@pytest.mark.parametrize(
    ("visit", "expected"),
    [
        pytest.param(
            at(4, 15), [(1440, at(3, 15)), (120, at(4, 13))], id="afternoon-both-as-is"
        ),
        pytest.param(
            # 2 h before is 08:00: quiet; 09:00 still leaves an hour, half of two.
            at(4, 10),
            [(1440, at(3, 10)), (120, at(4, 9))],
            id="morning-2h-moves-to-quiet-end",
        ),
        pytest.param(
            # 09:00 itself would leave no time: the evening before, 20:30.
            at(4, 9),
            [(1440, at(3, 9)), (120, at(3, 20, 30))],
            id="opening-2h-moves-to-evening-before",
        ),
        pytest.param(
            # 22:00 the day before is quiet; 09:00 is still 13 h ahead, over half.
            at(4, 22),
            [(1440, at(4, 9)), (120, at(4, 20))],
            id="late-visit-day-before-moves-to-the-morning",
        ),
    ],
)
def test_default_times(visit, expected):
    planned = plan(DEFAULT, visit, OMSK)

    assert [(p.before_minutes, p.fire_at) for p in planned] == expected
    for item in planned:
        assert not DEFAULT.is_quiet(item.fire_at.astimezone(OMSK).time())


def test_reminders_closer_than_an_hour_keep_the_earlier_one():
    rules = Reminders(before_minutes=(180, 150), quiet_hours=None)

    planned = plan(rules, at(4, 15), OMSK)

    assert [(p.before_minutes, p.fire_at) for p in planned] == [(180, at(4, 12))]


def test_without_quiet_hours_a_night_reminder_stays_at_night():
    rules = Reminders(before_minutes=(120,), quiet_hours=None)

    assert [p.fire_at for p in plan(rules, at(4, 9), OMSK)] == [at(4, 7)]


def test_quiet_hours_inside_one_day():
    rules = Reminders(before_minutes=(60,), quiet_hours=(time(13), time(14)))

    # 13:30 is quiet; 14:00 leaves 30 minutes, half of the hour: kept.
    assert [p.fire_at for p in plan(rules, at(4, 14, 30), OMSK)] == [at(4, 14)]
