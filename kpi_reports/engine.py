"""The KPI report of one period, computed from Rasa's ``events`` table.

The events are folded into per-lead and per-deal summary tables (kpi_reports.summary),
brought up to date from the events written since the last report; the report then reads
only the period's rows from them, and counts the period's clients in SQL.

Definitions the event contract (docs/event-log.md) leaves open, chosen here:

- A lead's first response is the first bot event after its first client message in the
  same session; ``under_5_min_share``, ``median`` and ``p90`` are over the leads that
  got one (p90 by linear interpolation between ranks). A lead is missed when that reply
  came more than 300 s later or never.
- A deal's channel and its lead are those of the session where it was first booked; a
  manager's ``leads`` are the period's leads with a deal that is (finally) theirs.
- A lead is qualified by a ``phone`` set after its first message: the copy Rasa makes
  when it carries slots over into a new session does not count.
- A deal with an outcome but no ``booking`` event has no start time and is not counted;
  a deal with no manager counts in the totals and for no manager.
- The bonus's fixed part is added once per report, whatever the period's length.
- A client is the conversation's latest non-null ``phone``; a conversation that never
  left one counts as a client of its own (for ``repeat_client_share`` and ``ltv``).
- ``repeat_client_share`` and ``ltv`` are not broken down by channel.
- ``by_day`` puts a lead on the day of its first message, a booking on the day of the
  deal's first booking event and a visit on the day it starts, all in the business
  timezone; every day of the period is listed, empty ones with zeros.
- ``first_response_histogram`` counts the period's leads by first-response time: under
  60 s is "<1 мин"; every other bucket holds its upper bound, so that "<1 мин" and
  "1–5 мин" together are exactly the leads not missed for a slow reply (at most 300 s).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from business.profile import BusinessProfile, Motivation
from kpi_reports import summary
from kpi_reports.errors import ReportError, TrackerStoreError

logger = logging.getLogger(__name__)

MISSED_AFTER_SECONDS = 300.0

# The first-response buckets in the order shown; _bucket places a wait in one.
RESPONSE_BUCKETS = ("<1 мин", "1–5 мин", "5–15 мин", "15–60 мин", ">1 ч", "без ответа")

Progress = Callable[[int], None]
_Session = summary.Session
_Deal = summary.Deal
SessionKey = summary.SessionKey


@dataclass(frozen=True)
class _Period:
    since: date
    until: date
    timezone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), self.timezone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(), self.timezone)

    def holds_time(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def holds(self, timestamp: float | None) -> bool:
        return timestamp is not None and (
            self.start.timestamp() <= timestamp < self.end.timestamp()
        )


@dataclass
class _Facts:
    """What the summary holds for one period."""

    leads: list[_Session]
    deals: list[_Deal]
    clients: tuple[int, int, int, Decimal]


def compute_report(
    engine_or_url: Engine | str,
    profile: BusinessProfile,
    since: date,
    until: date,
    motivation: Motivation | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The KPI report for the whole days `since`..`until` in the business timezone.

    Brings the summary tables up to date first (kpi_reports.summary), then reads only
    the period's leads and deals from them. Raises ReportError when `since` is after
    `until` and TrackerStoreError when the store cannot be read or holds no events. An
    empty period gives zeros and nulls. `progress`, if given, is called with the number
    of events folded so far while the summary catches up.
    """
    if since > until:
        raise ReportError(f"the period starts ({since}) after it ends ({until})")
    period = _Period(since, until, profile.timezone)
    start, end = period.start.timestamp(), period.end.timestamp()
    with _store(engine_or_url, "cannot read the tracker store") as engine:
        summary.refresh(engine, profile.timezone, progress)
        with engine.connect() as connection:
            facts = _Facts(
                summary.period_sessions(connection, start, end),
                summary.period_deals(connection, start, end),
                summary.client_figures(connection, start, end),
            )
    return _report(facts, period, profile, motivation or profile.motivation)


def refresh_summary(
    engine_or_url: Engine | str,
    profile: BusinessProfile,
    progress: Progress | None = None,
) -> int:
    """Bring the summary up to date without a report; the number of events folded."""
    with _store(engine_or_url, "cannot update the report summary") as engine:
        return summary.refresh(engine, profile.timezone, progress)


@contextmanager
def _store(engine_or_url: Engine | str, what: str) -> Iterator[Engine]:
    """A checked tracker store whose database errors become TrackerStoreError."""
    engine = _engine(engine_or_url)
    try:
        with engine.connect() as connection:
            _check_store(connection)
        yield engine
    except SQLAlchemyError as error:
        raise TrackerStoreError(_one_line(what, error)) from error
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def _engine(engine_or_url: Engine | str) -> Engine:
    if isinstance(engine_or_url, Engine):
        return engine_or_url
    try:
        url = make_url(engine_or_url)
    except ArgumentError as error:
        raise TrackerStoreError(f"not a database URL: {engine_or_url!r}") from error
    if url.get_backend_name() == "sqlite" and url.database not in (
        None,
        "",
        ":memory:",
    ):
        # SQLite would create an empty file; a missing file is a wrong path.
        if not Path(url.database).is_file():
            raise TrackerStoreError(f"no tracker store file at {url.database}")
    try:
        return create_engine(url, future=True)
    except (ArgumentError, ImportError) as error:
        raise TrackerStoreError(
            _one_line("cannot open the tracker store", error)
        ) from error


def _one_line(what: str, error: Exception) -> str:
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{what}: {detail[0]}" if detail else what


def _check_store(connection: Connection) -> None:
    if not inspect(connection).has_table("events"):
        raise TrackerStoreError("the tracker store has no events table")
    if connection.execute(select(summary.EVENTS.c.id).limit(1)).first() is None:
        raise TrackerStoreError("the tracker store holds no events")


# --- the figures ------------------------------------------------------------------


def _report(
    facts: _Facts, period: _Period, profile: BusinessProfile, motivation: Motivation
) -> dict[str, Any]:
    leads = {s.key: s for s in facts.leads}
    booked = [d for d in facts.deals if period.holds(d.first_booked_at)]
    outcomes = [d for d in facts.deals if d.status and period.holds_time(d.starts_at)]

    channels = sorted(
        {s.channel for s in leads.values()} | {d.channel for d in booked + outcomes}
    )
    report: dict[str, Any] = {
        "period": {
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "timezone": profile.timezone.key,
        },
        **_counters(list(leads.values()), booked, outcomes),
        **_clients(*facts.clients),
        "by_channel": {
            channel: _counters(
                [s for s in leads.values() if s.channel == channel],
                [d for d in booked if d.channel == channel],
                [d for d in outcomes if d.channel == channel],
            )
            for channel in channels
        },
        "managers": _managers(leads, booked, outcomes, profile, motivation),
        "by_day": _by_day(list(leads.values()), booked, outcomes, period),
        "first_response_histogram": _histogram(list(leads.values())),
    }
    return report


def _counters(
    leads: list[_Session], booked: list[_Deal], outcomes: list[_Deal]
) -> dict[str, Any]:
    # Known limit: a hand-off not taken within the profile's SLA is not yet a missed
    # lead, nor is manager pick-up timed; lifts when the hand-off events and the SLA
    # setting exist.
    waits = [
        s.first_reply_at - s.first_user_at
        for s in leads
        if s.first_reply_at is not None and s.first_user_at is not None
    ]
    missed = len(leads) - sum(1 for w in waits if w <= MISSED_AFTER_SECONDS)
    attended = [d for d in outcomes if d.status == "attended"]
    visits = len(attended)
    no_shows = sum(1 for d in outcomes if d.status == "no_show")
    revenue = sum((d.revenue for d in attended), Decimal(0))
    return {
        "leads": len(leads),
        "qualified_leads": sum(1 for s in leads if s.has_phone),
        "missed_leads": missed,
        "processed_share": _share(len(leads) - missed, len(leads)),
        "first_response_seconds": {
            "median": _seconds(statistics.median(waits)) if waits else None,
            "p90": _seconds(_percentile(waits, 0.9)) if waits else None,
            "under_5_min_share": _share(
                sum(1 for w in waits if w <= MISSED_AFTER_SECONDS), len(waits)
            ),
        },
        "bookings": len(booked),
        "lead_to_booking": _share(len(booked), len(leads)),
        "visits": visits,
        "no_shows": no_shows,
        "cancellations": sum(1 for d in outcomes if d.status == "cancelled"),
        "show_rate": _share(visits, visits + no_shows),
        "no_show_rate": _share(no_shows, visits + no_shows),
        "revenue": _rubles(revenue),
        "average_check": _rubles(revenue / visits) if visits else None,
    }


def _clients(
    in_period: int, repeat: int, clients: int, revenue: Decimal
) -> dict[str, Any]:
    return {
        "repeat_client_share": _share(repeat, in_period),
        "ltv": _rubles(revenue / clients) if clients else None,
    }


def _by_day(
    leads: list[_Session], booked: list[_Deal], outcomes: list[_Deal], period: _Period
) -> list[dict[str, Any]]:
    zone = period.timezone
    days: dict[date, dict[str, Any]] = {}
    day = period.since
    while day <= period.until:
        days[day] = {"date": day.isoformat(), "leads": 0, "bookings": 0, "visits": 0}
        day += timedelta(days=1)
    for session in leads:
        if session.first_user_at is not None:
            first_message = datetime.fromtimestamp(session.first_user_at, zone)
            days[first_message.date()]["leads"] += 1
    for deal in booked:
        if deal.first_booked_at is not None:
            booked_at = datetime.fromtimestamp(deal.first_booked_at, zone)
            days[booked_at.date()]["bookings"] += 1
    for deal in outcomes:
        if deal.status == "attended" and deal.starts_at is not None:
            days[deal.starts_at.astimezone(zone).date()]["visits"] += 1
    return list(days.values())


def _histogram(leads: list[_Session]) -> list[dict[str, Any]]:
    counts = dict.fromkeys(RESPONSE_BUCKETS, 0)
    for session in leads:
        if session.first_reply_at is None or session.first_user_at is None:
            counts["без ответа"] += 1
        else:
            counts[_bucket(session.first_reply_at - session.first_user_at)] += 1
    return [{"bucket": label, "leads": count} for label, count in counts.items()]


def _bucket(wait: float) -> str:
    if wait < 60:
        return "<1 мин"
    if wait <= MISSED_AFTER_SECONDS:
        return "1–5 мин"
    if wait <= 900:
        return "5–15 мин"
    return "15–60 мин" if wait <= 3600 else ">1 ч"


def _managers(
    leads: dict[SessionKey, _Session],
    booked: list[_Deal],
    outcomes: list[_Deal],
    profile: BusinessProfile,
    motivation: Motivation,
) -> list[dict[str, Any]]:
    names = {m.id: m.name for m in profile.managers}
    seen = {d.manager for d in booked + outcomes if d.manager}
    ids = [m.id for m in profile.managers] + sorted(seen - set(names))
    rows = []
    for manager_id in ids:
        theirs = [d for d in booked if d.manager == manager_id]
        attended = [
            d for d in outcomes if d.manager == manager_id and d.status == "attended"
        ]
        lead_keys = {d.session for d in booked + outcomes if d.manager == manager_id}
        revenue = sum((d.revenue for d in attended), Decimal(0))
        rows.append(
            {
                "id": manager_id,
                "name": names.get(manager_id, manager_id),
                "leads": len(lead_keys & leads.keys()),
                "bookings": len(theirs),
                "visits": len(attended),
                "revenue": _rubles(revenue),
                "bonus": _rubles(motivation.bonus(revenue)),
            }
        )
    return rows


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value: float) -> float:
    return round(value, 1)


def _rubles(amount: Decimal) -> int | float:
    """Rubles for JSON: a whole number when there are no kopecks."""
    rounded = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)
