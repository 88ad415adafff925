"""Hot leads and client messages found in the tracker store's ``events`` table.

The bot reads the table from a cursor (the last event id it looked at), so the
client's reply never waits on it and a restart resumes where it stopped. A hot lead
is a booking (``booking`` slot, not a move), a hand-off (``handoff_id`` slot), two
misunderstood client messages in a row, or a client message with one of the
profile's words.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, create_engine, func, or_, select
from sqlalchemy.engine import Connection, Engine

from business.profile import ManagersBotSettings
from conversation_log.append import EVENTS, committed_upper_id

logger = logging.getLogger(__name__)

MISS_INTENTS = ("nlu_fallback", "out_of_scope")
EXTERNAL_PREFIX = "EXTERNAL: "  # Rasa's text of an event from trigger_intent
_BATCH = 500


@dataclass(frozen=True)
class HotLead:
    key: str  # one card per key, ever
    kind: str  # booking | handoff | misunderstood | keywords
    conversation_id: str
    event_id: int
    requested_at: float
    deal_id: int | None = None
    handoff_id: str | None = None
    keyword: str | None = None


@dataclass(frozen=True)
class ClientMessage:
    conversation_id: str
    event_id: int
    at: float
    text: str


@dataclass
class Batch:
    cursor: int
    leads: list[HotLead] = field(default_factory=list)
    messages: list[ClientMessage] = field(default_factory=list)


@dataclass(frozen=True)
class LeadDetails:
    """What a card shows about a lead, read from its conversation."""

    name: str | None = None
    phone: str | None = None
    service: str | None = None
    starts_at: datetime | None = None
    staff_id: str | None = None
    channel: str | None = None
    deal_id: int | None = None
    history: tuple[tuple[str, str], ...] = ()  # ("client" | "bot", text)


def open_events(url: str) -> Engine:
    args = {"timeout": 15} if url.startswith("sqlite") else {}
    return create_engine(url, future=True, connect_args=args)


class LeadFinder:
    def __init__(self, engine: Engine, settings: ManagersBotSettings) -> None:
        self.engine = engine
        self.settings = settings
        self._words = [
            # A profile word is the start of a word: "жалоб" finds "жалобу".
            re.compile(rf"(?<!\w){re.escape(word)}\w*", re.IGNORECASE)
            for word in settings.hot_keywords
        ]

    def latest_id(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.max(EVENTS.c.id))).scalar() or 0)

    def scan(self, cursor: int, watched: Iterable[str] = ()) -> Batch:
        """Hot leads after `cursor`, and the messages of the `watched` conversations."""
        upper = committed_upper_id(self.engine)
        watched_ids = set(watched)
        e = EVENTS.c
        query = (
            select(
                e.id,
                e.sender_id,
                e.type_name,
                e.timestamp,
                e.intent_name,
                e.action_name,
                e.data,
            )
            .where(
                e.id > cursor,
                e.id <= upper,
                or_(
                    e.type_name == "user",
                    and_(
                        e.type_name == "slot",
                        e.action_name.in_(("booking", "handoff_id")),
                    ),
                ),
            )
            .order_by(e.id)
            .limit(_BATCH)
        )
        kinds = set(self.settings.hot_leads)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
            batch = Batch(cursor=rows[-1].id if rows else cursor)
            for row in rows:
                if row.type_name == "slot":
                    lead = _slot_lead(row, kinds)
                    if lead is not None:
                        batch.leads.append(lead)
                    continue
                text = _text(row.data)
                if text.startswith(EXTERNAL_PREFIX):
                    continue  # a reminder or another external event, not the client
                if row.sender_id in watched_ids and text:
                    batch.messages.append(
                        ClientMessage(row.sender_id, row.id, row.timestamp, text)
                    )
                if "misunderstood" in kinds and row.intent_name in MISS_INTENTS:
                    if _second_miss_in_a_row(connection, row):
                        batch.leads.append(
                            HotLead(
                                f"misunderstood:{row.sender_id}:{row.id}",
                                "misunderstood",
                                row.sender_id,
                                row.id,
                                row.timestamp,
                            )
                        )
                if "keywords" in kinds and text:
                    lead = self._keyword_lead(connection, row, text)
                    if lead is not None:
                        batch.leads.append(lead)
        return batch

    def _keyword_lead(
        self, connection: Connection, row: Any, text: str
    ) -> HotLead | None:
        found = next((m for p in self._words if (m := p.search(text))), None)
        if found is None:
            return None
        word = found.group(0).lower()
        # One such card per conversation session: the id of its session start.
        session = connection.execute(
            select(func.max(EVENTS.c.id)).where(
                EVENTS.c.sender_id == row.sender_id,
                EVENTS.c.type_name == "session_started",
                EVENTS.c.id < row.id,
            )
        ).scalar()
        return HotLead(
            f"keywords:{row.sender_id}:{session or 0}",
            "keywords",
            row.sender_id,
            row.id,
            row.timestamp,
            keyword=word,
        )

    def details(self, conversation_id: str, history: int = 6) -> LeadDetails:
        e = EVENTS.c
        query = (
            select(e.type_name, e.action_name, e.data)
            .where(
                e.sender_id == conversation_id,
                or_(
                    e.type_name.in_(("user", "bot")),
                    and_(
                        e.type_name == "slot",
                        e.action_name.in_(
                            ("client_name", "phone", "service", "booking")
                        ),
                    ),
                ),
            )
            .order_by(e.id)
        )
        slots: dict[str, Any] = {}
        lines: list[tuple[str, str]] = []
        channel = None
        with self.engine.connect() as connection:
            for type_name, action_name, data in connection.execute(query):
                try:
                    event = json.loads(data)
                except (TypeError, ValueError):
                    continue
                if type_name == "slot":
                    slots[action_name] = event.get("value")
                    continue
                text = (event.get("text") or "").strip()
                if text.startswith(EXTERNAL_PREFIX):
                    continue
                if type_name == "user":
                    channel = event.get("input_channel") or channel
                    if text and not text.startswith("/"):
                        lines.append(("client", text))
                    elif text:
                        lines.append(("client", "[нажата кнопка]"))
                elif text:
                    lines.append(("bot", text))
        found = slots.get("booking")
        booking: dict[str, Any] = found if isinstance(found, dict) else {}
        starts_at = None
        if booking.get("starts_at"):
            try:
                starts_at = datetime.fromisoformat(booking["starts_at"])
            except ValueError:
                starts_at = None
        return LeadDetails(
            name=slots.get("client_name") or None,
            phone=slots.get("phone") or None,
            service=booking.get("service_name") or slots.get("service") or None,
            starts_at=starts_at,
            staff_id=booking.get("staff_id"),
            channel=channel,
            deal_id=booking.get("deal_id"),
            history=tuple(lines[-history:]),
        )

    def latest_client_message_at(self, conversation_id: str) -> float | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.max(EVENTS.c.timestamp)).where(
                    EVENTS.c.sender_id == conversation_id,
                    EVENTS.c.type_name == "user",
                )
            ).scalar()


def _text(data: str | None) -> str:
    try:
        return (json.loads(data or "{}").get("text") or "").strip()
    except (TypeError, ValueError, AttributeError):
        return ""


def _slot_lead(row: Any, kinds: set[str]) -> HotLead | None:
    try:
        value = json.loads(row.data).get("value")
    except (TypeError, ValueError, AttributeError):
        return None
    if value is None:
        return None
    if row.action_name == "handoff_id" and "handoff" in kinds:
        return HotLead(
            f"handoff:{value}",
            "handoff",
            row.sender_id,
            row.id,
            row.timestamp,
            handoff_id=str(value),
        )
    if row.action_name == "booking" and "booking" in kinds and isinstance(value, dict):
        deal_id = value.get("deal_id")
        if isinstance(deal_id, int) and not value.get("moved"):
            return HotLead(
                f"booking:{deal_id}",
                "booking",
                row.sender_id,
                row.id,
                row.timestamp,
                deal_id=deal_id,
            )
    return None


def _second_miss_in_a_row(connection: Connection, row: Any) -> bool:
    """This miss is the second in a row (not the third): one card per streak."""
    before = (
        connection.execute(
            select(EVENTS.c.intent_name)
            .where(
                EVENTS.c.sender_id == row.sender_id,
                EVENTS.c.type_name == "user",
                EVENTS.c.id < row.id,
            )
            .order_by(EVENTS.c.id.desc())
            .limit(2)
        )
        .scalars()
        .all()
    )
    if not before or before[0] not in MISS_INTENTS:
        return False
    return len(before) == 1 or before[1] not in MISS_INTENTS
