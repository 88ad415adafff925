"""A period's figures, aggregated in SQL over the summary tables.

Nothing here holds more than a few hundred grouped rows: leads are counted by channel,
day and response bucket, deals by channel, manager, day and outcome, and the
percentiles of the first response are picked from one sorted, streamed pass. Memory
does not grow with the number of leads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, null, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from kpi_reports.summary import (
    CONVERSATIONS,
    DEALS,
    HANDOFFS,
    MANAGER_REPLIES,
    REMINDER_ANSWERS,
    REMINDERS,
    SESSIONS,
    UNKNOWN_CHANNEL,
)

MISSED_AFTER_SECONDS = 300.0
DAY = 86400.0

# The first-response buckets in the order shown, each with its upper bound in seconds
# (under 60 s is "<1 мин"; every other bucket holds its upper bound, so that "<1 мин"
# and "1–5 мин" together are exactly the leads not missed for a slow reply).
RESPONSE_BUCKETS = ("<1 мин", "1–5 мин", "5–15 мин", "15–60 мин", ">1 ч", "без ответа")
NO_REPLY = "без ответа"
IN_TIME = ("<1 мин", "1–5 мин")


@dataclass
class LeadCounts:
    """Leads of one channel (or of all), with their first-response waits counted."""

    leads: int = 0
    qualified: int = 0
    late_handoffs: int = 0  # answered in time, but a hand-off was not taken in time
    buckets: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(RESPONSE_BUCKETS, 0)
    )
    median: float | None = None
    p90: float | None = None

    @property
    def replied(self) -> int:
        return self.leads - self.buckets[NO_REPLY]

    @property
    def in_time(self) -> int:
        return sum(self.buckets[b] for b in IN_TIME)

    @property
    def missed(self) -> int:
        return self.leads - self.in_time + self.late_handoffs


@dataclass
class DealCounts:
    """Deals of one group: booked in the period, and outcomes of visits in it."""

    bookings: int = 0
    visits: int = 0
    no_shows: int = 0
    cancellations: int = 0
    revenue_kop: int = 0

    def add(self, other: DealCounts) -> None:
        self.bookings += other.bookings
        self.visits += other.visits
        self.no_shows += other.no_shows
        self.cancellations += other.cancellations
        self.revenue_kop += other.revenue_kop


@dataclass
class PeriodFigures:
    leads: dict[str, LeadCounts]  # by channel
    all_leads: LeadCounts
    deals: dict[tuple[str, str | None], DealCounts]  # by (channel, manager)
    manager_leads: dict[str, int]
    leads_by_day: list[int]
    bookings_by_day: list[int]
    visits_by_day: list[int]

    def deals_of(
        self, channel: str | None = None, manager: str | None = None
    ) -> DealCounts:
        total = DealCounts()
        for (deal_channel, deal_manager), counts in self.deals.items():
            if channel is not None and deal_channel != channel:
                continue
            if manager is not None and deal_manager != manager:
                continue
            total.add(counts)
        return total

    @property
    def channels(self) -> list[str]:
        return sorted(set(self.leads) | {channel for channel, _ in self.deals})

    @property
    def managers(self) -> list[str]:
        return sorted({m for _, m in self.deals if m})


def period_figures(
    connection: Connection, bounds: Sequence[float], sla_seconds: float
) -> PeriodFigures:
    """Figures of the period whose day boundaries (timestamps) are `bounds`.

    ``bounds[0]`` is the period's start and ``bounds[-1]`` its end; each day runs from
    one boundary to the next, so days of 23 or 25 hours count right. A lead is also
    missed when a hand-off asked for in the period was not taken within `sla_seconds`.
    """
    leads, by_day = _leads(connection, bounds, sla_seconds)
    all_leads = LeadCounts()
    for counts in leads.values():
        all_leads.leads += counts.leads
        all_leads.qualified += counts.qualified
        all_leads.late_handoffs += counts.late_handoffs
        for bucket, n in counts.buckets.items():
            all_leads.buckets[bucket] += n
    _percentiles(connection, bounds, leads, all_leads)
    deals, bookings_by_day, visits_by_day = _deals(connection, bounds)
    return PeriodFigures(
        leads=leads,
        all_leads=all_leads,
        deals=deals,
        manager_leads=_manager_leads(connection, bounds),
        leads_by_day=by_day,
        bookings_by_day=bookings_by_day,
        visits_by_day=visits_by_day,
    )


def _day_index(column: Any, bounds: Sequence[float], dialect: str) -> ColumnElement:
    """The number of the period's day a timestamp (inside the period) falls on.

    Days of 24 hours in a row share one branch, ``first + (t - start) div 86400``; a
    day of 23 or 25 hours (a clock change) is a branch of its own. So an expression
    stays a few branches long for a period of years.
    """
    branches = []
    first = 0
    days = len(bounds) - 1
    while first < days:
        last = first
        if bounds[first + 1] - bounds[first] == DAY:
            while last + 1 < days and bounds[last + 2] - bounds[last + 1] == DAY:
                last += 1
            offset = _whole_days(column - bounds[first], dialect)
            value: Any = offset + first if first else offset
        else:
            value = first
        branches.append((column < bounds[last + 1], value))
        first = last + 1
    if len(branches) == 1:  # an expression, since GROUP BY 0 would mean a position
        return case((column < bounds[-1], branches[0][1]), else_=0)
    return case(*branches, else_=days - 1)


def _whole_days(seconds: Any, dialect: str) -> ColumnElement:
    """Whole days in a non-negative number of seconds, as an integer."""
    if dialect == "sqlite":  # CAST truncates, which is floor for non-negative values
        return cast(seconds / DAY, Integer)
    return cast(func.floor(seconds / DAY), Integer)


def _within(column: Any, bounds: Sequence[float]) -> ColumnElement:
    return and_(column >= bounds[0], column < bounds[-1])


def _is_lead(bounds: Sequence[float]) -> ColumnElement:
    """A session whose first client message falls in the period, not opened by a
    reminder or another trigger from outside."""
    s = SESSIONS.c
    return and_(_within(s.first_user_at, bounds), s.opened_outside.is_(False))


def _late(handoff: Any, sla_seconds: float) -> ColumnElement:
    return handoff.taken_at.is_(None) | (
        handoff.taken_at - handoff.requested_at > sla_seconds
    )


def _late_handoff(bounds: Sequence[float], sla_seconds: float) -> ColumnElement:
    """Whether the session holds a hand-off of the period not taken within the SLA."""
    s, h = SESSIONS.c, HANDOFFS.c
    return (
        select(h.handoff_id)
        .where(
            h.sender_id == s.sender_id,
            h.session_no == s.session_no,
            _within(h.requested_at, bounds),
            _late(h, sla_seconds),
        )
        .exists()
    )


def _wait() -> Any:
    s = SESSIONS.c
    return s.first_reply_at - s.first_user_at


def _bucket() -> ColumnElement:
    s, wait = SESSIONS.c, _wait()
    return case(
        (s.first_reply_at.is_(None), NO_REPLY),
        (wait < 60, RESPONSE_BUCKETS[0]),
        (wait <= MISSED_AFTER_SECONDS, RESPONSE_BUCKETS[1]),
        (wait <= 900, RESPONSE_BUCKETS[2]),
        (wait <= 3600, RESPONSE_BUCKETS[3]),
        else_=RESPONSE_BUCKETS[4],
    )


def _leads(
    connection: Connection, bounds: Sequence[float], sla_seconds: float
) -> tuple[dict[str, LeadCounts], list[int]]:
    s = SESSIONS.c
    channel = func.coalesce(s.channel, UNKNOWN_CHANNEL).label("channel")
    day = _day_index(s.first_user_at, bounds, connection.dialect.name).label("day")
    bucket = _bucket().label("bucket")
    late = case((_late_handoff(bounds, sla_seconds), 1), else_=0).label("late")
    query = (
        select(channel, day, bucket, s.has_phone, late, func.count().label("n"))
        .where(_is_lead(bounds))
        .group_by(channel, day, bucket, s.has_phone, late)
    )
    leads: dict[str, LeadCounts] = defaultdict(LeadCounts)
    by_day = [0] * (len(bounds) - 1)
    for row in connection.execute(query):
        counts = leads[row.channel]
        counts.leads += row.n
        counts.qualified += row.n if row.has_phone else 0
        counts.buckets[row.bucket] += row.n
        if row.late and row.bucket in IN_TIME:
            counts.late_handoffs += row.n
        by_day[row.day] += row.n
    return dict(leads), by_day


def _percentiles(
    connection: Connection,
    bounds: Sequence[float],
    by_channel: dict[str, LeadCounts],
    overall: LeadCounts,
) -> None:
    s = SESSIONS.c
    replied = and_(_is_lead(bounds), s.first_reply_at.is_not(None))
    channel = func.coalesce(s.channel, UNKNOWN_CHANNEL)
    streamed = connection.execution_options(stream_results=True)

    pickers: dict[str, _Picker] = {}
    ordered = select(channel, _wait()).where(replied).order_by(channel, _wait())
    for name, wait in streamed.execute(ordered):
        picker = pickers.get(name)
        if picker is None:
            picker = pickers[name] = _Picker(by_channel[name].replied)
        picker.feed(wait)
    for name, picker in pickers.items():
        by_channel[name].median, by_channel[name].p90 = picker.result()

    overall.median, overall.p90 = _median_p90(
        connection, select(_wait()).where(replied), overall.replied
    )


def _median_p90(
    connection: Connection, values: Any, n: int
) -> tuple[float | None, float | None]:
    """Median and p90 of the `n` values a one-column query gives, read sorted."""
    picker = _Picker(n)
    column = list(values.selected_columns)[0]
    streamed = connection.execution_options(stream_results=True)
    for (value,) in streamed.execute(values.order_by(column)):
        picker.feed(value)
    return picker.result()


class _Picker:
    """Median and p90 (linear between ranks) of `n` waits fed in ascending order."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.position = 0.9 * (n - 1)
        self.low = int(self.position)
        self.ranks = ((n - 1) // 2, n // 2, self.low, min(self.low + 1, n - 1))
        self.found: dict[int, float] = {}
        self.rank = 0

    def feed(self, wait: float) -> None:
        if self.rank in self.ranks:
            self.found[self.rank] = wait
        self.rank += 1

    def result(self) -> tuple[float | None, float | None]:
        if self.n == 0 or len(self.found) < len(set(self.ranks)):
            return None, None
        middle_low, middle_high, low, high = (self.found[r] for r in self.ranks)
        p90 = low + (high - low) * (self.position - self.low)
        return (middle_low + middle_high) / 2, p90


def _deal_channel_join() -> Any:
    d, s = DEALS.c, SESSIONS.c
    return DEALS.outerjoin(
        SESSIONS, and_(s.sender_id == d.sender_id, s.session_no == d.session_no)
    )


def _deals(
    connection: Connection, bounds: Sequence[float]
) -> tuple[dict[tuple[str, str | None], DealCounts], list[int], list[int]]:
    d, s = DEALS.c, SESSIONS.c
    dialect = connection.dialect.name
    booked = and_(d.starts_at.is_not(None), _within(d.first_booked_at, bounds))
    outcome = and_(
        d.starts_at.is_not(None), d.status.is_not(None), _within(d.starts_ts, bounds)
    )
    columns = (
        func.coalesce(s.channel, UNKNOWN_CHANNEL).label("channel"),
        func.coalesce(d.assigned_manager, d.booking_manager).label("manager"),
        case((booked, _day_index(d.first_booked_at, bounds, dialect)), else_=-1).label(
            "booked"
        ),
        case((outcome, d.status), else_=null()).label("status"),
        case((outcome, _day_index(d.starts_ts, bounds, dialect)), else_=-1).label(
            "day"
        ),
    )
    query = (
        select(*columns, func.count().label("n"), func.sum(d.revenue_kop).label("kop"))
        .select_from(_deal_channel_join())
        .where(booked | outcome)
        .group_by(*columns)
    )
    days = len(bounds) - 1
    bookings_by_day, visits_by_day = [0] * days, [0] * days
    groups: dict[tuple[str, str | None], DealCounts] = defaultdict(DealCounts)
    for row in connection.execute(query):
        counts = groups[(row.channel, row.manager)]
        if row.booked >= 0:
            counts.bookings += row.n
            bookings_by_day[row.booked] += row.n
        if row.status == "attended":
            counts.visits += row.n
            counts.revenue_kop += int(row.kop or 0)
            visits_by_day[row.day] += row.n
        elif row.status == "no_show":
            counts.no_shows += row.n
        elif row.status == "cancelled":
            counts.cancellations += row.n
    return dict(groups), bookings_by_day, visits_by_day


def _manager_leads(connection: Connection, bounds: Sequence[float]) -> dict[str, int]:
    """Per manager, the period's leads with a deal of theirs booked or visited in it."""
    d = DEALS.c
    manager = func.coalesce(d.assigned_manager, d.booking_manager).label("manager")
    counted = and_(
        d.starts_at.is_not(None),
        (
            _within(d.first_booked_at, bounds)
            | and_(d.status.is_not(None), _within(d.starts_ts, bounds))
        ),
    )
    pairs = (
        select(manager, d.sender_id, d.session_no)
        .select_from(_deal_channel_join())
        .where(counted, _is_lead(bounds), manager.is_not(None))
        .distinct()
        .subquery()
    )
    query = select(pairs.c.manager, func.count()).group_by(pairs.c.manager)
    return {name: n for name, n in connection.execute(query)}


@dataclass
class HandoffCounts:
    """Hand-offs asked for in the period, and managers' response times in it."""

    count: int
    taken: int
    in_time: int
    pickup_median: float | None
    pickup_p90: float | None
    reply_median: float | None
    reply_p90: float | None


def handoff_counts(
    connection: Connection, bounds: Sequence[float], sla_seconds: float
) -> HandoffCounts:
    h, r = HANDOFFS.c, MANAGER_REPLIES.c
    asked = _within(h.requested_at, bounds)
    taken = and_(asked, h.taken_at.is_not(None))
    count, n_taken, in_time = connection.execute(
        select(
            func.count(),
            func.count(h.taken_at),
            func.coalesce(
                func.sum(case((and_(taken, ~_late(h, sla_seconds)), 1), else_=0)), 0
            ),
        ).where(asked)
    ).one()
    pickup = select((h.taken_at - h.requested_at).label("wait")).where(taken)
    replies = select(r.seconds).where(_within(r.at, bounds))
    n_replies = connection.execute(
        select(func.count()).where(_within(r.at, bounds))
    ).scalar()
    return HandoffCounts(
        count,
        n_taken,
        in_time,
        *_median_p90(connection, pickup, n_taken),
        *_median_p90(connection, replies, n_replies or 0),
    )


REMINDER_ANSWER_KEYS = {
    "confirmed": "reminder_confirmations",
    "cancelled": "reminder_cancellations",
    "move": "reminder_moves",
}


def reminder_counts(connection: Connection, bounds: Sequence[float]) -> dict[str, int]:
    """Reminders delivered in the period, and deals by their latest answer, counted
    on the day it was given."""
    m, a = REMINDERS.c, REMINDER_ANSWERS.c
    sent = connection.execute(
        select(func.count()).where(_within(m.sent_at, bounds))
    ).scalar()
    counts = {"reminders_sent": sent or 0} | dict.fromkeys(
        REMINDER_ANSWER_KEYS.values(), 0
    )
    answers = (
        select(a.answer, func.count()).where(_within(a.at, bounds)).group_by(a.answer)
    )
    for answer, n in connection.execute(answers):
        if answer in REMINDER_ANSWER_KEYS:
            counts[REMINDER_ANSWER_KEYS[answer]] += n
    return counts


@dataclass
class ClientCounts:
    """Clients who came: in the period, also before it, up to its end, and revenue."""

    in_period: int
    repeat: int
    up_to_end: int
    revenue_kop: int


def client_counts(connection: Connection, bounds: Sequence[float]) -> ClientCounts:
    """A client is the conversation's latest phone, or the conversation itself when it
    never left one."""
    start, end = bounds[0], bounds[-1]
    d, c = DEALS.c, CONVERSATIONS.c
    client = func.coalesce(c.phone, "conversation:" + d.sender_id).label("client")
    attended = (
        select(client, d.starts_ts, d.revenue_kop)
        .select_from(DEALS.outerjoin(CONVERSATIONS, c.sender_id == d.sender_id))
        .where(d.status == "attended", d.starts_at.is_not(None), d.starts_ts < end)
        .subquery()
    )
    a = attended.c
    during = select(a.client).where(a.starts_ts >= start).distinct().subquery()
    before = select(a.client).where(a.starts_ts < start).distinct().subquery()
    repeat = select(func.count()).select_from(
        during.join(before, during.c.client == before.c.client)
    )
    return ClientCounts(
        in_period=connection.execute(select(func.count()).select_from(during)).scalar()
        or 0,
        repeat=connection.execute(repeat).scalar() or 0,
        up_to_end=connection.execute(
            select(func.count(func.distinct(a.client)))
        ).scalar()
        or 0,
        revenue_kop=int(
            connection.execute(select(func.sum(a.revenue_kop))).scalar() or 0
        ),
    )


def rubles(kopecks: int) -> Decimal:
    return Decimal(kopecks) / 100
