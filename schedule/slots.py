"""Free slots: working hours, staff, durations, lead time and horizon minus bookings."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from business.profile import BusinessProfile, Staff
from schedule.when import WhenPreference

# staff_id -> (start, end) intervals already taken, timezone-aware.
Busy = Mapping[str, Sequence[tuple[datetime, datetime]]]


class Unavailable(enum.Enum):
    """Why a requested day or time cannot be offered as asked."""

    PAST = "past"
    TOO_SOON = "too_soon"
    BEYOND_HORIZON = "beyond_horizon"
    CLOSED = "closed"
    OUTSIDE_HOURS = "outside_hours"
    TAKEN = "taken"


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    staff_id: str
    service_id: str
    duration_minutes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration_minutes)

    @property
    def key(self) -> str:
        """A short, stable id used as a button payload: start minute and staff id."""
        return f"{self.start:%Y%m%dT%H%M}.{self.staff_id}"


def parse_slot_key(key: str, profile: BusinessProfile, service_id: str) -> Slot | None:
    """The slot a button payload names, or None when the key is malformed."""
    stamp, _, staff_id = key.strip().partition(".")
    service = profile.service(service_id)
    staff = profile.staff_member(staff_id)
    if service is None or staff is None or service_id not in staff.service_ids:
        return None
    try:
        naive = datetime.strptime(stamp, "%Y%m%dT%H%M")
    except ValueError:
        return None
    start = naive.replace(tzinfo=profile.timezone)
    return Slot(start, staff_id, service_id, service.duration_minutes)


def earliest_start(profile: BusinessProfile, now: datetime) -> datetime:
    return now.astimezone(profile.timezone) + timedelta(
        minutes=profile.min_lead_minutes
    )


def last_day(profile: BusinessProfile, now: datetime) -> date:
    return now.astimezone(profile.timezone).date() + timedelta(
        days=profile.horizon_days
    )


def _starts(
    profile: BusinessProfile, staff: Staff, day: date, duration: timedelta
) -> Iterator[datetime]:
    hours = profile.hours_of(staff, day)
    if hours is None:
        return
    opens = datetime.combine(day, hours[0], profile.timezone)
    closes = datetime.combine(day, hours[1], profile.timezone)
    step = timedelta(minutes=profile.slot_step_minutes)
    start = opens
    while start + duration <= closes:
        yield start
        start += step


def _is_free(
    start: datetime, end: datetime, taken: Sequence[tuple[datetime, datetime]]
):
    return all(end <= busy_start or start >= busy_end for busy_start, busy_end in taken)


def _fits(start: datetime, preference: WhenPreference | None) -> bool:
    if preference is None:
        return True
    moment = start.timetz().replace(tzinfo=None)
    if preference.exact_time is not None:
        return True  # exact times are ranked by distance, not filtered
    if preference.time_from is not None and moment < preference.time_from:
        return False
    return preference.time_to is None or moment < preference.time_to


def free_slots(
    profile: BusinessProfile,
    service_id: str,
    busy: Busy,
    now: datetime,
    *,
    staff_id: str | None = None,
    preference: WhenPreference | None = None,
    limit: int = 5,
) -> list[Slot]:
    """Up to `limit` nearest free slots that fit the preference, in time order.

    Several staff members free at the same minute give one slot (the first of them in
    the profile), so the client sees distinct times. With an exact time the slots of
    the matching days nearest to that time are offered.
    """
    service = profile.service(service_id)
    if service is None:
        return []
    staff = [
        s for s in profile.staff_for(service_id) if staff_id is None or s.id == staff_id
    ]
    duration = timedelta(minutes=service.duration_minutes)
    earliest = earliest_start(profile, now)
    first = earliest.date()
    final = last_day(profile, now)
    if preference is not None and preference.date_from is not None:
        first = max(first, preference.date_from)
    if preference is not None and preference.date_to is not None:
        final = min(final, preference.date_to)

    found: list[Slot] = []
    day = first
    while day <= final:
        by_start: dict[datetime, Slot] = {}
        for member in staff:
            taken = busy.get(member.id, ())
            for start in _starts(profile, member, day, duration):
                if (
                    start < earliest
                    or start in by_start
                    or not _fits(start, preference)
                ):
                    continue
                if _is_free(start, start + duration, taken):
                    by_start[start] = Slot(
                        start, member.id, service_id, service.duration_minutes
                    )
        slots = sorted(by_start.values())
        if preference is not None and preference.exact_time is not None and slots:
            wanted = datetime.combine(day, preference.exact_time, profile.timezone)
            slots.sort(key=lambda s: (abs(s.start - wanted), s.start))
            found.extend(sorted(slots[:limit]))
        else:
            found.extend(slots)
        if len(found) >= limit:
            return found[:limit]
        day += timedelta(days=1)
    return found


def why_unavailable(
    profile: BusinessProfile,
    service_id: str,
    busy: Busy,
    now: datetime,
    preference: WhenPreference,
    *,
    staff_id: str | None = None,
) -> Unavailable | None:
    """Why the preference cannot be met as asked, or None when it can."""
    today = now.astimezone(profile.timezone).date()
    earliest = earliest_start(profile, now)
    if preference.date_to is not None and preference.date_to < today:
        return Unavailable.PAST
    if preference.date_from is not None and preference.date_from > last_day(
        profile, now
    ):
        return Unavailable.BEYOND_HORIZON
    if preference.exact_time is not None:
        day = preference.date_from or today
        wanted = datetime.combine(day, preference.exact_time, profile.timezone)
        if wanted <= now:
            return Unavailable.PAST
        if wanted < earliest:
            return Unavailable.TOO_SOON
    if free_slots(
        profile,
        service_id,
        busy,
        now,
        staff_id=staff_id,
        preference=preference,
        limit=1,
    ):
        if preference.exact_time is None or exact_slot(
            profile, service_id, busy, now, preference, staff_id
        ):
            return None
    return _closed_or_outside(profile, service_id, now, preference, staff_id)


def exact_slot(
    profile: BusinessProfile,
    service_id: str,
    busy: Busy,
    now: datetime,
    preference: WhenPreference,
    staff_id: str | None = None,
) -> Slot | None:
    """The slot at exactly the named day and time, when it is free."""
    if preference.exact_time is None:
        return None
    today = now.astimezone(profile.timezone).date()
    day = preference.date_from or today
    wanted = datetime.combine(day, preference.exact_time, profile.timezone)
    for slot in free_slots(
        profile, service_id, busy, now, staff_id=staff_id, preference=preference
    ):
        if slot.start == wanted:
            return slot
    return None


def _closed_or_outside(
    profile: BusinessProfile,
    service_id: str,
    now: datetime,
    preference: WhenPreference,
    staff_id: str | None,
) -> Unavailable:
    """Tell a closed day or out-of-hours request from one where everything is taken."""
    today = now.astimezone(profile.timezone).date()
    first = max(preference.date_from or today, today)
    final = min(preference.date_to or first, last_day(profile, now))
    staff = [
        s for s in profile.staff_for(service_id) if staff_id is None or s.id == staff_id
    ]
    open_days = [
        (member, day)
        for day in _days(first, final)
        for member in staff
        if profile.hours_of(member, day) is not None
    ]
    if not open_days:
        return Unavailable.CLOSED
    wanted = preference.exact_time or preference.time_from
    for member, day in open_days:
        opens, closes = profile.hours_of(member, day) or (time(0), time(0))
        if wanted is None or opens <= wanted < closes:
            if preference.time_to is None or preference.time_to > opens:
                return Unavailable.TAKEN
    return Unavailable.OUTSIDE_HOURS


def _days(first: date, final: date) -> Iterator[date]:
    day = first
    while day <= final:
        yield day
        day += timedelta(days=1)
