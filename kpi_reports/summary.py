"""Per-lead and per-deal summary tables, kept up to date from Rasa's ``events`` table.

The report never reads the whole event history: it reads these tables, which
:func:`refresh` brings up to date by folding only the events written since the last
refresh (a watermark on the event id). Each chunk of events is folded in its own
transaction together with the watermark, so a refresh that stops half-way resumes where
it stopped and never counts an event twice.

Tables, all beside Rasa's own in the tracker store (Rasa never reads them):

- ``kpi_state``: the watermark and the version of the fold rules; a new version
  rebuilds the summary from the first event;
- ``kpi_conversations``: per conversation, its current session number and the client's
  latest phone;
- ``kpi_sessions``: per conversation session, its first client message, first reply,
  whether a phone was left and the channel;
- ``kpi_deals``: per deal, its first and latest booking, outcome and manager events
  (latest per deal by event id wins, as docs/event-log.md says);
- ``kpi_handoffs``: per hand-off, when the client asked for a person and when a manager
  first took it; ``kpi_manager_replies``: managers' response times in taken-over
  conversations;
- ``kpi_reminders`` and ``kpi_reminder_answers``: reminders delivered, and each deal's
  latest answer to one.

A user event whose intent starts with ``EXTERNAL_`` is a trigger sent through Rasa's
API (a reminder, a manager's message), not a client's message: a session it opens is
marked ``opened_outside`` and is not a lead.

On PostgreSQL a writer may commit a lower event id after a higher one; the refresh folds
only up to the highest id whose writers have all committed
(``conversation_log.append.committed_upper_id``).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    insert,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from conversation_log.append import EVENTS, committed_upper_id

logger = logging.getLogger(__name__)

# Bump when the fold rules change: the summary is then rebuilt from the first event.
FOLD_VERSION = 1
CHUNK = 20_000  # events folded per transaction
_IN_CHUNK = 500  # keys per IN (...) list
UNKNOWN_CHANNEL = "unknown"
DEAL_SLOTS = ("booking", "deal_outcome", "deal_manager")
SLOTS = (
    "phone",
    *DEAL_SLOTS,
    "handoff_id",
    "handoff_taken",
    "manager_reply",
    "reminder",
    "reminder_answer",
)
EXTERNAL_PREFIX = "EXTERNAL_"
OUTCOMES = ("attended", "no_show", "cancelled")
NO_BOOKING_YET = 1 << 62  # first_booking_id of a deal whose booking event is unseen

Progress = Callable[[int], None]
SessionKey = tuple[str, int]

metadata = MetaData()
STATE = Table(
    "kpi_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("watermark", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
)
CONVERSATIONS = Table(
    "kpi_conversations",
    metadata,
    Column("sender_id", String(255), primary_key=True),
    Column("session_no", Integer, nullable=False),
    Column("phone", String(64)),
)
SESSIONS = Table(
    "kpi_sessions",
    metadata,
    Column("sender_id", String(255), primary_key=True),
    Column("session_no", Integer, primary_key=True, autoincrement=False),
    Column("first_user_id", BigInteger),
    Column("first_user_at", Float),
    Column("first_reply_at", Float),
    Column("has_phone", Boolean, nullable=False),
    Column("channel", String(64)),
    Column("opened_outside", Boolean, nullable=False),
    Index("kpi_sessions_first_user_at", "first_user_at"),
)
DEALS = Table(
    "kpi_deals",
    metadata,
    Column("deal_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sender_id", String(255), nullable=False),
    Column("session_no", Integer, nullable=False),
    Column("first_booking_id", BigInteger, nullable=False),
    Column("first_booked_at", Float),
    Column("booking_id", BigInteger, nullable=False),
    Column("starts_at", String(40)),
    Column("starts_ts", Float),
    Column("price", String(32)),
    Column("booking_manager", String(255)),
    Column("outcome_id", BigInteger, nullable=False),
    Column("status", String(16)),
    Column("amount", String(32)),
    Column("revenue_kop", BigInteger, nullable=False),
    Column("manager_event_id", BigInteger, nullable=False),
    Column("assigned_manager", String(255)),
    Index("kpi_deals_first_booked_at", "first_booked_at"),
    Index("kpi_deals_starts_ts", "starts_ts"),
)


HANDOFFS = Table(
    "kpi_handoffs",
    metadata,
    Column("handoff_id", String(64), primary_key=True),
    Column("sender_id", String(255)),
    Column("session_no", Integer),
    Column("requested_id", BigInteger),
    Column("requested_at", Float),
    Column("taken_at", Float),
    Index("kpi_handoffs_requested_at", "requested_at"),
)
MANAGER_REPLIES = Table(
    "kpi_manager_replies",
    metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False, index=True),
    Column("seconds", Float, nullable=False),
)
REMINDERS = Table(
    "kpi_reminders",
    metadata,
    Column("reminder_key", String(64), primary_key=True),
    Column("sent_id", BigInteger, nullable=False),
    Column("sent_at", Float, nullable=False, index=True),
)
REMINDER_ANSWERS = Table(
    "kpi_reminder_answers",
    metadata,
    Column("deal_id", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", BigInteger, nullable=False),
    Column("answer", String(16), nullable=False),
    Column("at", Float, nullable=False, index=True),
)


@dataclass
class Session:
    """One conversation session: a lead once the client wrote in it."""

    sender_id: str
    number: int = 0
    first_user_id: int | None = None
    first_user_at: float | None = None
    first_reply_at: float | None = None
    has_phone: bool = False
    channel: str = UNKNOWN_CHANNEL
    opened_outside: bool = False

    @property
    def key(self) -> SessionKey:
        return (self.sender_id, self.number)


@dataclass
class Deal:
    """A deal as its events tell it; ``session`` is where it was first booked."""

    deal_id: int
    sender_id: str
    session: SessionKey
    first_booking_id: int
    first_booked_at: float | None
    booking_id: int = -1
    starts_at: datetime | None = None
    price: Decimal | None = None
    booking_manager: str | None = None
    outcome_id: int = -1
    status: str | None = None
    amount: Decimal | None = None
    manager_event_id: int = -1
    assigned_manager: str | None = None
    channel: str = UNKNOWN_CHANNEL

    @property
    def manager(self) -> str | None:
        return self.assigned_manager or self.booking_manager

    @property
    def revenue(self) -> Decimal:
        if self.amount is not None:
            return self.amount
        return self.price if self.price is not None else Decimal(0)


def refresh(
    engine: Engine,
    zone: ZoneInfo,
    progress: Progress | None = None,
    upper: int | None = None,
) -> int:
    """Fold the events written since the last refresh; the number of events folded.

    `zone` is the business timezone, for booking times written without an offset;
    `upper`, if given, stops the fold at that event id (the benchmark uses it to leave
    the last day for a later refresh).
    """
    _prepare(engine)
    last_id = committed_upper_id(engine)
    upper = last_id if upper is None else min(upper, last_id)

    folded = 0
    while True:
        with engine.begin() as connection:
            watermark = connection.execute(select(STATE.c.watermark)).scalar_one()
            if watermark >= upper:
                return folded
            rows = list(connection.execute(_new_events(watermark, upper)))
            last = rows[-1].id if len(rows) == CHUNK else upper
            if rows:
                _Chunk(connection, zone).fold(rows)
            connection.execute(update(STATE).values(watermark=last))
        folded += len(rows)
        if progress is not None and rows:
            progress(folded)


def _prepare(engine: Engine) -> None:
    """Create the tables, or empty them when the fold rules changed."""
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as connection:
        version = connection.execute(select(STATE.c.version)).scalar()
        if version == FOLD_VERSION:
            return
        if version is not None:
            logger.info("KPI summary rules changed: rebuilding it from the first event")
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))
        connection.execute(
            insert(STATE).values(id=1, watermark=0, version=FOLD_VERSION)
        )


def _new_events(watermark: int, upper: int) -> Any:
    e = EVENTS.c
    return (
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
            e.id > watermark,
            e.id <= upper,
            or_(
                e.type_name.in_(("session_started", "user", "bot")),
                and_(e.type_name == "slot", e.action_name.in_(SLOTS)),
            ),
        )
        .order_by(e.id)
        .limit(CHUNK)
    )


class _Chunk:
    """Folds one chunk of events into the summary rows they touch."""

    def __init__(self, connection: Connection, zone: ZoneInfo) -> None:
        self.connection = connection
        self.zone = zone
        self.skipped = 0

    def fold(self, rows: list[Any]) -> None:
        by_sender: dict[str, list[Any]] = defaultdict(list)
        values: dict[int, Any] = {}
        for row in rows:
            by_sender[row.sender_id].append(row)
            if row.type_name == "slot":
                values[row.id] = _value(row.data)
        self.phones, numbers = self._conversations(by_sender)
        self.deals = self._deals(_keys(rows, values, DEAL_SLOTS, _deal_key))
        self.handoffs = self._keyed(
            HANDOFFS, _keys(rows, values, ("handoff_id", "handoff_taken"), _handoff_key)
        )
        self.reminders = self._keyed(
            REMINDERS, _keys(rows, values, ("reminder",), _reminder_key)
        )
        self.answers = self._keyed(
            REMINDER_ANSWERS, _keys(rows, values, ("reminder_answer",), _deal_key)
        )
        self.replies: list[dict[str, Any]] = []
        self.new_sessions: list[Session] = []

        for sender, events in by_sender.items():
            current = self.sessions.get((sender, numbers[sender])) or Session(
                sender, numbers[sender]
            )
            self.sessions[current.key] = current
            for row in events:
                if row.type_name == "session_started":
                    current = Session(sender, current.number + 1)
                    self.sessions[current.key] = current
                elif row.type_name == "user":
                    if (row.intent_name or "").startswith(EXTERNAL_PREFIX):
                        current.opened_outside |= current.first_user_id is None
                    elif current.first_user_id is None:
                        current.first_user_id = row.id
                        current.first_user_at = row.timestamp
                        self.new_sessions.append(current)
                elif row.type_name == "bot":
                    if (
                        current.first_user_id is not None
                        and current.first_reply_at is None
                    ):
                        current.first_reply_at = row.timestamp
                else:
                    self._slot(row, values.get(row.id, _MALFORMED), current)
            numbers[sender] = current.number

        self._read_channels()
        self._write(numbers)
        if self.skipped:
            logger.warning("Skipped %d malformed deal events", self.skipped)

    # -- reading the rows a chunk touches ----------------------------------------

    def _conversations(
        self, by_sender: dict[str, list[Any]]
    ) -> tuple[dict[str, str | None], dict[str, int]]:
        """The phones and current session numbers of the chunk's conversations, and
        their current sessions into ``self.sessions``."""
        phones: dict[str, str | None] = {}
        numbers = dict.fromkeys(by_sender, 0)
        self.sessions: dict[SessionKey, Session] = {}
        c, s = CONVERSATIONS.c, SESSIONS.c
        current = CONVERSATIONS.outerjoin(
            SESSIONS, and_(s.sender_id == c.sender_id, s.session_no == c.session_no)
        )
        for keys in _chunks(sorted(by_sender)):
            query = (
                select(c.sender_id, c.session_no, c.phone, *list(SESSIONS.c)[2:])
                .select_from(current)
                .where(c.sender_id.in_(keys))
            )
            for row in self.connection.execute(query):
                numbers[row.sender_id], phones[row.sender_id] = (
                    row.session_no,
                    row.phone,
                )
                if row.has_phone is not None:  # the session row exists
                    session = session_from_row(row)
                    self.sessions[session.key] = session
        return phones, numbers

    def _keyed(self, table: Table, keys: set[Any]) -> dict[Any, dict[str, Any]]:
        """The rows of `table` with those primary keys, as plain dicts."""
        key = table.primary_key.columns[0]
        found: dict[Any, dict[str, Any]] = {}
        for part in _chunks(sorted(keys)):
            for row in self.connection.execute(select(table).where(key.in_(part))):
                found[row[key.name]] = dict(row._mapping)
        return found

    def _deals(self, deal_ids: set[int]) -> dict[int, Deal]:
        found: dict[int, Deal] = {}
        for part in _chunks(sorted(deal_ids)):
            query = select(DEALS).where(DEALS.c.deal_id.in_(part))
            for row in self.connection.execute(query):
                found[row.deal_id] = deal_from_row(row)
        return found

    def _read_channels(self) -> None:
        by_event = {s.first_user_id: s for s in self.new_sessions}
        for part in _chunks(sorted(by_event)):
            query = select(EVENTS.c.id, EVENTS.c.data).where(EVENTS.c.id.in_(part))
            for event_id, data in self.connection.execute(query):
                channel = _value_of(data, "input_channel")
                by_event[event_id].channel = channel or UNKNOWN_CHANNEL

    # -- folding -------------------------------------------------------------------

    def _slot(self, row: Any, value: Any, session: Session) -> None:
        if value is _MALFORMED:
            self.skipped += 1
            return
        if row.action_name == "phone":
            if isinstance(value, str) and value.strip():
                # Rasa copies slots into a new session before its first message:
                # only a phone set after the lead wrote was left in this session.
                session.has_phone |= session.first_user_id is not None
                self.phones[row.sender_id] = value.strip()
            return
        if value is None:
            return  # a slot reset, not an event of ours
        try:
            if row.action_name in DEAL_SLOTS:
                self._deal_event(row, session.key, value)
            elif row.action_name in ("handoff_id", "handoff_taken"):
                self._handoff_event(row, session.key, value)
            elif row.action_name == "manager_reply":
                self._manager_reply(row, value)
            else:
                self._reminder_event(row, value)
        except (TypeError, ValueError, KeyError, InvalidOperation, AttributeError):
            self.skipped += 1

    def _handoff_event(self, row: Any, key: SessionKey, value: Any) -> None:
        handoff_id = _handoff_key(row, value)
        if handoff_id is None:
            return  # a lead taken that was not a hand-off (a booking card)
        handoff = self.handoffs.setdefault(
            handoff_id,
            {c.name: None for c in HANDOFFS.c} | {"handoff_id": handoff_id},
        )
        if row.action_name == "handoff_id":
            if handoff["requested_id"] is None or row.id < handoff["requested_id"]:
                handoff.update(
                    sender_id=key[0],
                    session_no=key[1],
                    requested_id=row.id,
                    requested_at=row.timestamp,
                )
        elif handoff["taken_at"] is None or row.timestamp < handoff["taken_at"]:
            handoff["taken_at"] = row.timestamp

    def _manager_reply(self, row: Any, value: Any) -> None:
        seconds = value.get("response_seconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            self.replies.append(
                {"event_id": row.id, "at": row.timestamp, "seconds": float(seconds)}
            )

    def _reminder_event(self, row: Any, value: Any) -> None:
        if row.action_name == "reminder":
            key = _reminder_key(row, value)
            known = self.reminders.get(key)
            if known is None or row.id < known["sent_id"]:
                self.reminders[key] = {
                    "reminder_key": key,
                    "sent_id": row.id,
                    "sent_at": row.timestamp,
                }
            return
        deal_id, answer = int(value["deal_id"]), str(value["answer"])
        latest = self.answers.get(deal_id)
        if latest is None or row.id > latest["event_id"]:
            self.answers[deal_id] = {
                "deal_id": deal_id,
                "event_id": row.id,
                "answer": answer,
                "at": row.timestamp,
            }

    def _deal_event(self, row: Any, key: SessionKey, value: Any) -> None:
        # Every field is read before the deal changes: a malformed event changes
        # nothing.
        deal_id = int(value["deal_id"])
        deal = self.deals.get(deal_id)
        if row.action_name == "booking":
            starts_at = datetime.fromisoformat(value["starts_at"])
            if starts_at.tzinfo is None:  # the contract asks for an offset; be lenient
                starts_at = starts_at.replace(tzinfo=self.zone)
            price = money(value.get("price"))
            if deal is None:
                deal = Deal(deal_id, row.sender_id, key, row.id, row.timestamp)
                self.deals[deal_id] = deal
            elif row.id < deal.first_booking_id:
                deal.first_booking_id, deal.first_booked_at = row.id, row.timestamp
                deal.session = key
            if row.id > deal.booking_id:
                deal.booking_id, deal.sender_id = row.id, row.sender_id
                deal.starts_at, deal.price = starts_at, price
                deal.booking_manager = value.get("manager_id") or None
            return

        if row.action_name == "deal_outcome":
            status = value["status"]
            if status not in OUTCOMES:
                raise ValueError(status)
            amount = money(value.get("amount"))
        else:
            manager_id = value.get("manager_id") or None
        if deal is None:
            # An outcome or assignment before (or without) its booking: kept so that
            # a booking event read later still finds it.
            deal = Deal(deal_id, row.sender_id, key, NO_BOOKING_YET, None)
            self.deals[deal_id] = deal
        if row.action_name == "deal_outcome":
            if row.id > deal.outcome_id:
                deal.outcome_id, deal.status, deal.amount = row.id, status, amount
        elif row.id > deal.manager_event_id:
            deal.manager_event_id, deal.assigned_manager = row.id, manager_id

    # -- writing -------------------------------------------------------------------

    def _write(self, numbers: dict[str, int]) -> None:
        self._upsert(
            CONVERSATIONS,
            [
                {"sender_id": k, "session_no": n, "phone": self.phones.get(k)}
                for k, n in numbers.items()
            ],
        )
        self._upsert(SESSIONS, [_session_row(x) for x in self.sessions.values()])
        self._upsert(DEALS, [_deal_row(x) for x in self.deals.values()])
        self._upsert(HANDOFFS, list(self.handoffs.values()))
        self._upsert(MANAGER_REPLIES, self.replies)
        self._upsert(REMINDERS, list(self.reminders.values()))
        self._upsert(REMINDER_ANSWERS, list(self.answers.values()))

    def _upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        keys = [column.name for column in table.primary_key]
        dialect = self.connection.dialect.name
        if dialect not in ("sqlite", "postgresql"):  # no ON CONFLICT: replace rows
            key = tuple_(*table.primary_key.columns)
            for part in _chunks([tuple(row[k] for k in keys) for row in rows]):
                self.connection.execute(delete(table).where(key.in_(part)))
            self.connection.execute(insert(table), rows)
            return
        upsert = sqlite_insert(table) if dialect == "sqlite" else pg_insert(table)
        changes = {
            c.name: upsert.excluded[c.name] for c in table.c if c.name not in keys
        }
        self.connection.execute(
            upsert.on_conflict_do_update(index_elements=keys, set_=changes), rows
        )


def session_from_row(row: Any) -> Session:
    return Session(
        row.sender_id,
        row.session_no,
        row.first_user_id,
        row.first_user_at,
        row.first_reply_at,
        bool(row.has_phone),
        row.channel or UNKNOWN_CHANNEL,
        bool(row.opened_outside),
    )


def deal_from_row(row: Any) -> Deal:
    starts_at = datetime.fromisoformat(row.starts_at) if row.starts_at else None
    return Deal(
        deal_id=row.deal_id,
        sender_id=row.sender_id,
        session=(row.sender_id, row.session_no),
        first_booking_id=row.first_booking_id,
        first_booked_at=row.first_booked_at,
        booking_id=row.booking_id,
        starts_at=starts_at,
        price=money(row.price),
        booking_manager=row.booking_manager,
        outcome_id=row.outcome_id,
        status=row.status,
        amount=money(row.amount),
        manager_event_id=row.manager_event_id,
        assigned_manager=row.assigned_manager,
    )


def _session_row(session: Session) -> dict[str, Any]:
    return {
        "sender_id": session.sender_id,
        "session_no": session.number,
        "first_user_id": session.first_user_id,
        "first_user_at": session.first_user_at,
        "first_reply_at": session.first_reply_at,
        "has_phone": session.has_phone,
        "channel": session.channel,
        "opened_outside": session.opened_outside,
    }


def _deal_row(deal: Deal) -> dict[str, Any]:
    starts = deal.starts_at
    return {
        "deal_id": deal.deal_id,
        "sender_id": deal.sender_id,
        "session_no": deal.session[1],
        "first_booking_id": deal.first_booking_id,
        "first_booked_at": deal.first_booked_at,
        "booking_id": deal.booking_id,
        "starts_at": starts.isoformat() if starts else None,
        "starts_ts": starts.timestamp() if starts else None,
        "price": _text(deal.price),
        "booking_manager": deal.booking_manager,
        "outcome_id": deal.outcome_id,
        "status": deal.status,
        "amount": _text(deal.amount),
        "revenue_kop": int(
            (deal.revenue * 100).to_integral_value(rounding=ROUND_HALF_UP)
        ),
        "manager_event_id": deal.manager_event_id,
        "assigned_manager": deal.assigned_manager,
    }


def money(value: Any) -> Decimal | None:
    """A non-negative amount of rubles, or None; raises ValueError on anything else."""
    if value is None or isinstance(value, bool):
        return None
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0:
        raise ValueError(value)
    return amount


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


_MALFORMED = object()


def _value(data: str | None) -> Any:
    try:
        return json.loads(data or "").get("value")
    except (TypeError, ValueError, AttributeError):
        return _MALFORMED


def _value_of(data: str | None, key: str) -> Any:
    try:
        return json.loads(data or "").get(key)
    except (TypeError, ValueError, AttributeError):
        return None


def _keys(
    rows: list[Any],
    values: dict[int, Any],
    slots: Sequence[str],
    key_of: Callable[[Any, Any], Any],
) -> set[Any]:
    """The keys that the chunk's well-formed events of `slots` name."""
    found = set()
    for row in rows:
        if row.type_name == "slot" and row.action_name in slots:
            try:
                key = key_of(row, values.get(row.id))
            except (TypeError, ValueError, KeyError, AttributeError):
                continue
            if key is not None:
                found.add(key)
    return found


def _deal_key(row: Any, value: Any) -> int | None:
    if not isinstance(value, dict) or not _is_int(value.get("deal_id")):
        return None
    return int(value["deal_id"])


def _handoff_key(row: Any, value: Any) -> str | None:
    if row.action_name == "handoff_id":
        return None if value is None else str(value)
    handoff_id = value.get("handoff_id") if isinstance(value, dict) else None
    return None if handoff_id is None else str(handoff_id)


def _reminder_key(row: Any, value: Any) -> str:
    reminder_id = value.get("reminder_id") if isinstance(value, dict) else None
    return f"event:{row.id}" if reminder_id is None else str(reminder_id)


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)


def _chunks(items: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(items)
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]
