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
- A hand-off is a ``handoff_id`` slot (the client asked for a person); it is picked
  up by the first ``handoff_taken`` slot naming it (written by the managers' bot).
  ``handoffs.pickup_seconds`` median and p90 are over the hand-offs of the period that
  were taken; ``under_sla_share`` is over all of them (one never taken is not within
  the SLA, the profile's ``managers_bot.handoff_sla_minutes``). A lead of the period
  is also missed when a hand-off in its session asked for in the period was not taken
  within the SLA. ``handoffs.manager_response_seconds`` (median, p90) is over the
  period's ``manager_reply`` events that answered a client's message.
- A user event of an intent named ``EXTERNAL_...`` is an outside trigger (a reminder
  sent through Rasa's API), not a client's message: a session it opens is not a lead,
  and the client's reply in that session is not a first message either.
- ``reminders_sent`` counts the distinct reminders delivered in the period; the
  ``reminder_*`` answers count deals by their latest reminder answer, on the day it
  was given.
- ``first_response_histogram`` counts the period's leads by first-response time: under
  60 s is "<1 мин"; every other bucket holds its upper bound, so that "<1 мин" and
  "1–5 мин" together are exactly the leads not missed for a slow reply (at most 300 s).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
from kpi_reports import figures, summary
from kpi_reports.errors import ReportError, TrackerStoreError

logger = logging.getLogger(__name__)

MISSED_AFTER_SECONDS = figures.MISSED_AFTER_SECONDS
RESPONSE_BUCKETS = figures.RESPONSE_BUCKETS
# The report's top-level keys in the order JSON and CSV show them.
KEY_ORDER = (
    "period",
    "leads",
    "qualified_leads",
    "missed_leads",
    "processed_share",
    "first_response_seconds",
    "bookings",
    "lead_to_booking",
    "visits",
    "no_shows",
    "cancellations",
    "show_rate",
    "no_show_rate",
    "revenue",
    "average_check",
    "repeat_client_share",
    "ltv",
    "reminders_sent",
    "reminder_confirmations",
    "reminder_cancellations",
    "reminder_moves",
    "by_channel",
    "handoffs",
    "managers",
    "by_day",
    "first_response_histogram",
)
Progress = summary.Progress


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

    def days(self) -> list[date]:
        return [
            self.since + timedelta(days=n)
            for n in range((self.until - self.since).days + 1)
        ]

    def bounds(self) -> list[float]:
        """The timestamps of every local midnight from the start to the end."""
        midnights = [*self.days(), self.until + timedelta(days=1)]
        return [
            datetime.combine(d, time(), self.timezone).timestamp() for d in midnights
        ]


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
    bounds = period.bounds()
    sla = profile.managers_bot.handoff_sla_minutes * 60.0
    with _store(engine_or_url, "cannot read the tracker store") as engine:
        summary.refresh(engine, profile.timezone, progress)
        with engine.connect() as connection:
            found = figures.period_figures(connection, bounds, sla)
            clients = figures.client_counts(connection, bounds)
            handoffs = figures.handoff_counts(connection, bounds, sla)
            reminders = figures.reminder_counts(connection, bounds)
    report = _report(found, clients, period, profile, motivation or profile.motivation)
    report.update(reminders)
    report["handoffs"] = _handoffs(handoffs, sla)
    return _ordered(report)


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
    found: figures.PeriodFigures,
    clients: figures.ClientCounts,
    period: _Period,
    profile: BusinessProfile,
    motivation: Motivation,
) -> dict[str, Any]:
    return {
        "period": {
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "timezone": profile.timezone.key,
        },
        **_counters(found.all_leads, found.deals_of()),
        "repeat_client_share": _share(clients.repeat, clients.in_period),
        "ltv": _rubles(figures.rubles(clients.revenue_kop) / clients.up_to_end)
        if clients.up_to_end
        else None,
        "by_channel": {
            channel: _counters(
                found.leads.get(channel, figures.LeadCounts()),
                found.deals_of(channel=channel),
            )
            for channel in found.channels
        },
        "managers": _managers(found, profile, motivation),
        "by_day": [
            {
                "date": day.isoformat(),
                "leads": leads,
                "bookings": booked,
                "visits": came,
            }
            for day, leads, booked, came in zip(
                period.days(),
                found.leads_by_day,
                found.bookings_by_day,
                found.visits_by_day,
                strict=True,
            )
        ],
        "first_response_histogram": [
            {"bucket": bucket, "leads": n}
            for bucket, n in found.all_leads.buckets.items()
        ],
    }


def _ordered(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in KEY_ORDER}


def _handoffs(found: figures.HandoffCounts, sla: float) -> dict[str, Any]:
    def seconds(value: float | None) -> float | None:
        return None if value is None else _seconds(value)

    return {
        "count": found.count,
        "taken": found.taken,
        "missed": found.count - found.in_time,
        "sla_seconds": _seconds(sla),
        "pickup_seconds": {
            "median": seconds(found.pickup_median),
            "p90": seconds(found.pickup_p90),
            "under_sla_share": _share(found.in_time, found.count),
        },
        "manager_response_seconds": {
            "median": seconds(found.reply_median),
            "p90": seconds(found.reply_p90),
        },
    }


def _counters(leads: figures.LeadCounts, deals: figures.DealCounts) -> dict[str, Any]:
    missed = leads.missed
    visits, no_shows = deals.visits, deals.no_shows
    revenue = figures.rubles(deals.revenue_kop)
    return {
        "leads": leads.leads,
        "qualified_leads": leads.qualified,
        "missed_leads": missed,
        "processed_share": _share(leads.leads - missed, leads.leads),
        "first_response_seconds": {
            "median": None if leads.median is None else _seconds(leads.median),
            "p90": None if leads.p90 is None else _seconds(leads.p90),
            "under_5_min_share": _share(leads.in_time, leads.replied),
        },
        "bookings": deals.bookings,
        "lead_to_booking": _share(deals.bookings, leads.leads),
        "visits": visits,
        "no_shows": no_shows,
        "cancellations": deals.cancellations,
        "show_rate": _share(visits, visits + no_shows),
        "no_show_rate": _share(no_shows, visits + no_shows),
        "revenue": _rubles(revenue),
        "average_check": _rubles(revenue / visits) if visits else None,
    }


def _managers(
    found: figures.PeriodFigures, profile: BusinessProfile, motivation: Motivation
) -> list[dict[str, Any]]:
    names = {m.id: m.name for m in profile.managers}
    ids = [m.id for m in profile.managers] + [
        m for m in found.managers if m not in names
    ]
    rows = []
    for manager_id in ids:
        deals = found.deals_of(manager=manager_id)
        revenue = figures.rubles(deals.revenue_kop)
        rows.append(
            {
                "id": manager_id,
                "name": names.get(manager_id, manager_id),
                "leads": found.manager_leads.get(manager_id, 0),
                "bookings": deals.bookings,
                "visits": deals.visits,
                "revenue": _rubles(revenue),
                "bonus": _rubles(motivation.bonus(revenue)),
            }
        )
    return rows


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value: float) -> float:
    return round(value, 1)


def _rubles(amount: Decimal) -> int | float:
    """Rubles for JSON: a whole number when there are no kopecks."""
    rounded = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)
