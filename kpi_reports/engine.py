"""The KPI report of one period, computed from Rasa's ``events`` table.

One ordered scan reads the events a report needs: session starts, client messages and
bot replies by their plain columns only, and the JSON of just four slots (``phone``,
``booking``, ``deal_outcome``, ``deal_manager``). Conversations are folded one at a time
into sessions (leads) and deals; the JSON of a lead's first message is read afterwards
only for the leads the report shows, to learn its channel.

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

import json
import logging
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    create_engine,
    inspect,
    null,
    or_,
    select,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from business.profile import BusinessProfile, Motivation
from kpi_reports.errors import ReportError, TrackerStoreError

logger = logging.getLogger(__name__)

MISSED_AFTER_SECONDS = 300.0
UNKNOWN_CHANNEL = "unknown"
_SLOTS = (
    "phone",
    "booking",
    "deal_outcome",
    "deal_manager",
    "reminder",
    "reminder_answer",
)
_REMINDER_ANSWERS = {
    "confirmed": "reminder_confirmations",
    "cancelled": "reminder_cancellations",
    "move": "reminder_moves",
}
EXTERNAL_PREFIX = "EXTERNAL_"
_OUTCOMES = ("attended", "no_show", "cancelled")
_CHUNK = 500
PROGRESS_EVERY = 100_000  # rows between two calls of a report's progress callback

# The first-response buckets in the order shown; _bucket places a wait in one.
RESPONSE_BUCKETS = ("<1 мин", "1–5 мин", "5–15 мин", "15–60 мин", ">1 ч", "без ответа")

Progress = Callable[[int], None]

# Rasa 3.6's tracker store table, as far as the report reads it.
_metadata = MetaData()
EVENTS = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

SessionKey = tuple[str, int]


@dataclass
class _Session:
    sender_id: str
    first_user_id: int | None = None
    first_user_at: float | None = None
    first_reply_at: float | None = None
    has_phone: bool = False
    channel: str = UNKNOWN_CHANNEL
    opened_outside: bool = False


@dataclass
class _Deal:
    deal_id: int
    sender_id: str
    session: SessionKey
    first_booking_id: int
    first_booked_at: float
    booking_id: int = -1
    starts_at: datetime | None = None
    price: Decimal | None = None
    booking_manager: str | None = None
    outcome_id: int = -1
    status: str | None = None
    amount: Decimal | None = None
    manager_event_id: int = -1
    assigned_manager: str | None = None
    client: str = ""

    @property
    def manager(self) -> str | None:
        return self.assigned_manager or self.booking_manager

    @property
    def revenue(self) -> Decimal:
        if self.amount is not None:
            return self.amount
        return self.price if self.price is not None else Decimal(0)


@dataclass
class _Scan:
    """What one pass over the events table leaves: sessions worth keeping and deals."""

    timezone: ZoneInfo
    sessions: dict[SessionKey, _Session] = field(default_factory=dict)
    deals: dict[int, _Deal] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    booked_sessions: set[SessionKey] = field(default_factory=set)
    # reminder id (or event id when it has none) -> when it was delivered
    reminders_sent: dict[Any, float] = field(default_factory=dict)
    # deal id -> (event id, answer, when) of its latest reminder answer
    reminder_answers: dict[int, tuple[int, str, float]] = field(default_factory=dict)
    skipped: int = 0


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


def compute_report(
    engine_or_url: Engine | str,
    profile: BusinessProfile,
    since: date,
    until: date,
    motivation: Motivation | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The KPI report for the whole days `since`..`until` in the business timezone.

    Raises ReportError when `since` is after `until` and TrackerStoreError when the
    store cannot be read or holds no events. An empty period gives zeros and nulls.
    `progress`, if given, is called with the number of events read so far every
    PROGRESS_EVERY events of the scan.
    """
    if since > until:
        raise ReportError(f"the period starts ({since}) after it ends ({until})")
    period = _Period(since, until, profile.timezone)
    engine = _engine(engine_or_url)
    try:
        with engine.connect() as connection:
            _check_store(connection)
            scan = _scan(connection, period, progress)
            _read_channels(connection, scan.sessions.values())
    except SQLAlchemyError as error:
        raise TrackerStoreError(
            _one_line("cannot read the tracker store", error)
        ) from error
    finally:
        if engine is not engine_or_url:
            engine.dispose()
    if scan.skipped:
        logger.warning("Skipped %d malformed deal events", scan.skipped)
    return _report(scan, period, profile, motivation or profile.motivation)


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
    if connection.execute(select(EVENTS.c.id).limit(1)).first() is None:
        raise TrackerStoreError("the tracker store holds no events")


def _rows(connection: Connection) -> Iterator[Any]:
    # Known limit: the whole history is read, sorted by conversation (deals and clients
    # of earlier periods count for ltv and repeat visits), and Rasa indexes only
    # sender_id; lifts with a covering index on (type_name, sender_id, timestamp,
    # action_name) or a per-lead summary table, measured by the benchmark.
    e = EVENTS.c
    query = (
        select(
            e.id,
            e.sender_id,
            e.type_name,
            e.timestamp,
            e.intent_name,
            e.action_name,
            case((e.type_name == "slot", e.data), else_=null()).label("data"),
        )
        .where(
            or_(
                e.type_name.in_(("session_started", "user", "bot")),
                and_(e.type_name == "slot", e.action_name.in_(_SLOTS)),
            )
        )
        .order_by(e.sender_id, e.id)
    )
    result = connection.execution_options(stream_results=True).execute(query)
    yield from result.yield_per(2000)


def _scan(
    connection: Connection, period: _Period, progress: Progress | None = None
) -> _Scan:
    # Known limit: every deal and every client's phone stays in memory (a few hundred
    # bytes each), so memory grows with the number of deals, not of events; lifts
    # with a deals summary table kept by the writers.
    scan = _Scan(timezone=period.timezone)
    sender: str | None = None
    sessions: list[_Session] = []
    for count, row in enumerate(_rows(connection), start=1):
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
        if row.sender_id != sender:
            if sender is not None:
                _keep(scan, sender, sessions, period)
            sender, sessions = row.sender_id, [_Session(row.sender_id)]
        current = sessions[-1]
        if row.type_name == "session_started":
            sessions.append(_Session(row.sender_id))
        elif row.type_name == "user":
            if (row.intent_name or "").startswith(EXTERNAL_PREFIX):
                current.opened_outside |= current.first_user_id is None
            elif current.first_user_id is None:
                current.first_user_id = row.id
                current.first_user_at = row.timestamp
        elif row.type_name == "bot":
            if current.first_user_id is not None and current.first_reply_at is None:
                current.first_reply_at = row.timestamp
        else:
            _slot(scan, row, (row.sender_id, len(sessions) - 1), current)
    if sender is not None:
        _keep(scan, sender, sessions, period)

    for deal in scan.deals.values():
        deal.client = scan.phones.get(deal.sender_id, f"conversation:{deal.sender_id}")
    return scan


def _keep(scan: _Scan, sender: str, sessions: list[_Session], period: _Period) -> None:
    """Keep the sender's sessions that are leads of the period or hold a first booking."""
    for number, session in enumerate(sessions):
        key = (sender, number)
        if key in scan.booked_sessions or period.holds(session.first_user_at):
            scan.sessions[key] = session


def _slot(scan: _Scan, row: Any, key: SessionKey, session: _Session) -> None:
    try:
        value = json.loads(row.data).get("value")
    except (TypeError, ValueError, AttributeError):
        scan.skipped += 1
        return
    if row.action_name == "phone":
        if isinstance(value, str) and value.strip():
            # Rasa copies slots into a new session before its first message: only a
            # phone set after the lead wrote was left in this session.
            session.has_phone |= session.first_user_id is not None
            scan.phones[row.sender_id] = value.strip()
        return
    if value is None:
        return  # a slot reset, not a deal event
    if row.action_name in ("reminder", "reminder_answer"):
        _reminder_event(scan, row, value)
        return
    try:
        _deal_event(scan, row, key, value)
    except (TypeError, ValueError, KeyError, InvalidOperation, AttributeError):
        scan.skipped += 1


def _deal_event(scan: _Scan, row: Any, key: SessionKey, value: Any) -> None:
    # Every field is read before the deal changes: a malformed event changes nothing.
    deal_id = int(value["deal_id"])
    deal = scan.deals.get(deal_id)
    if row.action_name == "booking":
        starts_at = datetime.fromisoformat(value["starts_at"])
        if starts_at.tzinfo is None:  # the contract asks for an offset; be lenient
            starts_at = starts_at.replace(tzinfo=scan.timezone)
        price = _money(value.get("price"))
        if deal is None:
            deal = _Deal(deal_id, row.sender_id, key, row.id, row.timestamp)
            scan.deals[deal_id] = deal
            scan.booked_sessions.add(key)
        elif row.id < deal.first_booking_id:
            deal.first_booking_id, deal.first_booked_at = row.id, row.timestamp
            deal.session = key
            scan.booked_sessions.add(key)
        if row.id > deal.booking_id:
            deal.booking_id, deal.sender_id = row.id, row.sender_id
            deal.starts_at, deal.price = starts_at, price
            deal.booking_manager = value.get("manager_id") or None
        return

    if row.action_name == "deal_outcome":
        status = value["status"]
        if status not in _OUTCOMES:
            raise ValueError(status)
        amount = _money(value.get("amount"))
    else:
        manager_id = value.get("manager_id") or None
    if deal is None:
        # An outcome or assignment before (or without) its booking: keep it so that a
        # booking event read later still finds it.
        deal = _Deal(deal_id, row.sender_id, key, 1 << 62, float("inf"))
        scan.deals[deal_id] = deal
    if row.action_name == "deal_outcome":
        if row.id > deal.outcome_id:
            deal.outcome_id, deal.status, deal.amount = row.id, status, amount
    elif row.id > deal.manager_event_id:
        deal.manager_event_id, deal.assigned_manager = row.id, manager_id


def _reminder_event(scan: _Scan, row: Any, value: Any) -> None:
    if not isinstance(value, dict):
        scan.skipped += 1
        return
    if row.action_name == "reminder":
        key = value.get("reminder_id")
        scan.reminders_sent.setdefault(row.id if key is None else key, row.timestamp)
        return
    try:
        deal_id = int(value["deal_id"])
        reply = str(value["answer"])
    except (TypeError, ValueError, KeyError):
        scan.skipped += 1
        return
    latest = scan.reminder_answers.get(deal_id)
    if latest is None or row.id > latest[0]:
        scan.reminder_answers[deal_id] = (row.id, reply, row.timestamp)


def _money(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0:
        raise ValueError(value)
    return amount


def _read_channels(connection: Connection, sessions: Iterable[_Session]) -> None:
    by_event = {s.first_user_id: s for s in sessions if s.first_user_id is not None}
    ids = sorted(by_event)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = select(EVENTS.c.id, EVENTS.c.data).where(EVENTS.c.id.in_(chunk))
        for event_id, data in connection.execute(query):
            try:
                channel = json.loads(data).get("input_channel")
            except (TypeError, ValueError, AttributeError):
                channel = None
            by_event[event_id].channel = channel or UNKNOWN_CHANNEL


# --- the figures ------------------------------------------------------------------


def _report(
    scan: _Scan, period: _Period, profile: BusinessProfile, motivation: Motivation
) -> dict[str, Any]:
    leads = {
        k: s
        for k, s in scan.sessions.items()
        if period.holds(s.first_user_at) and not s.opened_outside
    }
    deals = [d for d in scan.deals.values() if d.starts_at is not None]
    booked = [d for d in deals if period.holds(d.first_booked_at)]
    outcomes = [d for d in deals if d.status and period.holds_time(d.starts_at)]

    def channel_of(deal: _Deal) -> str:
        session = scan.sessions.get(deal.session)
        return session.channel if session else UNKNOWN_CHANNEL

    channels = sorted(
        {s.channel for s in leads.values()} | {channel_of(d) for d in booked + outcomes}
    )
    report: dict[str, Any] = {
        "period": {
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "timezone": profile.timezone.key,
        },
        **_counters(list(leads.values()), booked, outcomes),
        **_clients(deals, period),
        **_reminders(scan, period),
        "by_channel": {
            channel: _counters(
                [s for s in leads.values() if s.channel == channel],
                [d for d in booked if channel_of(d) == channel],
                [d for d in outcomes if channel_of(d) == channel],
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


def _reminders(scan: _Scan, period: _Period) -> dict[str, int]:
    counts = {
        "reminders_sent": sum(
            1 for t in scan.reminders_sent.values() if period.holds(t)
        )
    }
    counts.update(dict.fromkeys(_REMINDER_ANSWERS.values(), 0))
    for _, reply, at in scan.reminder_answers.values():
        if reply in _REMINDER_ANSWERS and period.holds(at):
            counts[_REMINDER_ANSWERS[reply]] += 1
    return counts


def _clients(deals: list[_Deal], period: _Period) -> dict[str, Any]:
    visits = [
        (d.starts_at, d)
        for d in deals
        if d.status == "attended" and d.starts_at is not None
    ]
    before = {d.client for at, d in visits if at < period.start}
    during = {d.client for at, d in visits if period.holds_time(at)}
    to_end = [d for at, d in visits if at < period.end]
    clients = {d.client for d in to_end}
    revenue = sum((d.revenue for d in to_end), Decimal(0))
    return {
        "repeat_client_share": _share(len(during & before), len(during)),
        "ltv": _rubles(revenue / len(clients)) if clients else None,
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
        days[datetime.fromtimestamp(deal.first_booked_at, zone).date()]["bookings"] += 1
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
