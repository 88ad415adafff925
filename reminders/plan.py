"""When each reminder of a visit goes out: the profile's times, kept out of the night."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from business.profile import Reminders

# A reminder moved out of the night goes this long before the quiet hours begin, so
# the client can still answer (or call) the same evening.
EVENING_MARGIN = timedelta(minutes=30)
# Two reminders of one visit closer than this would nag: only the earlier one stays.
MIN_GAP = timedelta(hours=1)


@dataclass(frozen=True)
class Planned:
    before_minutes: int
    fire_at: datetime


def plan(rules: Reminders, starts_at: datetime, tz: tzinfo) -> list[Planned]:
    """The reminders of a visit starting at `starts_at`, earliest first.

    A reminder due in the quiet hours goes when they end if that still leaves at
    least half of its lead time before the visit (a 2-hour reminder for 10:00 goes at
    09:00), else in the evening before they begin (a 2-hour reminder for 09:00 goes
    at 20:30 the day before with quiet hours 21:00-09:00).
    """
    start = starts_at.astimezone(tz)
    planned: list[Planned] = []
    for minutes in rules.before_minutes:
        due = start - timedelta(minutes=minutes)
        fire_at = _out_of_quiet(rules, due, start, timedelta(minutes=minutes), tz)
        if fire_at is not None and fire_at < start:
            planned.append(Planned(minutes, fire_at))
    planned.sort(key=lambda p: (p.fire_at, -p.before_minutes))
    kept: list[Planned] = []
    for item in planned:
        if kept and item.fire_at - kept[-1].fire_at < MIN_GAP:
            continue
        kept.append(item)
    return kept


def _out_of_quiet(
    rules: Reminders,
    due: datetime,
    start: datetime,
    lead: timedelta,
    tz: tzinfo,
) -> datetime | None:
    if rules.quiet_hours is None or not rules.is_quiet(due.time()):
        return due
    quiet_start, quiet_end = rules.quiet_hours
    later = _next_at(due, quiet_end, tz)
    if start - later >= lead / 2:
        return later
    return _previous_at(due, quiet_start, tz) - EVENING_MARGIN


def _next_at(moment: datetime, wall: time, tz: tzinfo) -> datetime:
    """The first moment at or after `moment` when the wall clock shows `wall`."""
    candidate = datetime.combine(moment.date(), wall, tz)
    return candidate if candidate >= moment else candidate + timedelta(days=1)


def _previous_at(moment: datetime, wall: time, tz: tzinfo) -> datetime:
    """The last moment at or before `moment` when the wall clock shows `wall`."""
    candidate = datetime.combine(moment.date(), wall, tz)
    return candidate if candidate <= moment else candidate - timedelta(days=1)


def is_quiet(rules: Reminders, moment: datetime, tz: tzinfo) -> bool:
    return rules.is_quiet(moment.astimezone(tz).time())
