"""Hand-built tracker stores: Rasa's events table and a writer of the events it holds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    create_engine,
)

from tests.conftest import OMSK

UTC = timezone.utc


def rasa_events_table(metadata: MetaData) -> Table:
    """The table as Rasa 3.6's SQLTrackerStore declares it."""
    return Table(
        "events",
        metadata,
        Column("id", Integer, Sequence("events_seq"), primary_key=True),
        Column("sender_id", String(255), nullable=False, index=True),
        Column("type_name", String(255), nullable=False),
        Column("timestamp", Float),
        Column("intent_name", String(255)),
        Column("action_name", String(255)),
        Column("data", Text),
    )


def omsk(day: date | tuple[int, int, int], hh: int, mm: int, ss: int = 0) -> datetime:
    year, month, dd = day if isinstance(day, tuple) else (day.year, day.month, day.day)
    return datetime(year, month, dd, hh, mm, ss, tzinfo=OMSK)


@dataclass
class EventLog:
    """Events in the order Rasa (or a later append) wrote them: the order is the id."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        sender: str,
        at: datetime,
        type_name: str,
        data: dict[str, Any],
        action_name: str | None = None,
        intent_name: str | None = None,
    ) -> None:
        stamp = at.timestamp()
        self.rows.append(
            {
                "id": len(self.rows) + 1,
                "sender_id": sender,
                "type_name": type_name,
                "timestamp": stamp,
                "intent_name": intent_name,
                "action_name": action_name,
                "data": json.dumps({"event": type_name, "timestamp": stamp, **data}),
            }
        )

    def session(self, sender: str, at: datetime) -> None:
        self.add(
            sender,
            at,
            "action",
            {"name": "action_session_start"},
            action_name="action_session_start",
        )
        self.add(sender, at, "session_started", {"metadata": {}})

    def user(self, sender: str, at: datetime, channel: str = "telegram") -> None:
        self.add(
            sender,
            at,
            "user",
            {
                "text": "Здравствуйте, хочу записаться",
                "input_channel": channel,
                "parse_data": {"intent": {"name": "book", "confidence": 0.98}},
            },
            intent_name="book",
        )

    def bot(self, sender: str, at: datetime) -> None:
        self.add(sender, at, "bot", {"text": "На какую услугу вас записать?"})
        self.add(
            sender, at, "action", {"name": "action_listen"}, action_name="action_listen"
        )

    def slot(self, sender: str, at: datetime, name: str, value: Any) -> None:
        self.add(sender, at, "slot", {"name": name, "value": value}, action_name=name)

    def booking(
        self,
        sender: str,
        at: datetime,
        deal_id: int,
        starts_at: datetime,
        price: float | int | None,
        manager_id: str | None = None,
        moved: bool = False,
    ) -> None:
        self.slot(
            sender,
            at,
            "booking",
            {
                "deal_id": deal_id,
                "service_id": "manicure",
                "service_name": "Маникюр",
                "staff_id": "anna",
                "starts_at": starts_at.isoformat(),
                "duration_minutes": 90,
                "price": price,
                "manager_id": manager_id,
                "moved": moved,
            },
        )

    def outcome(
        self,
        sender: str,
        at: datetime,
        deal_id: int,
        status: str,
        amount: float | int | None = None,
    ) -> None:
        self.slot(
            sender,
            at,
            "deal_outcome",
            {
                "deal_id": deal_id,
                "status": status,
                "amount": amount,
                "manager_id": None,
                "source": "cli",
            },
        )

    def assign(self, sender: str, at: datetime, deal_id: int, manager_id: str) -> None:
        self.slot(
            sender,
            at,
            "deal_manager",
            {"deal_id": deal_id, "manager_id": manager_id},
        )

    def write(self, url: str) -> None:
        engine = create_engine(url, future=True)
        metadata = MetaData()
        table = rasa_events_table(metadata)
        metadata.create_all(engine)
        with engine.begin() as connection:
            if self.rows:
                connection.execute(table.insert(), self.rows)
        engine.dispose()


def lavanda_week() -> EventLog:
    """The week 2026-12-01..07 of a salon; tests/kpi_reports/test_engine.py works out
    every figure of it by hand."""
    log = EventLog()
    nov30, dec1, dec2, dec3, dec4, dec5, dec6, dec8 = (
        (2026, 11, 30),
        (2026, 12, 1),
        (2026, 12, 2),
        (2026, 12, 3),
        (2026, 12, 4),
        (2026, 12, 5),
        (2026, 12, 6),
        (2026, 12, 8),
    )

    # A, Telegram: the session starts before the week, the first message inside it.
    log.session("tg-a", omsk(nov30, 23, 58))
    log.user("tg-a", omsk(dec1, 0, 1))
    log.bot("tg-a", omsk(dec1, 0, 1, 20))
    log.slot("tg-a", omsk(dec1, 0, 3), "phone", "+79990000001")
    log.booking("tg-a", omsk(dec1, 0, 5), 1, omsk(dec3, 12, 0), 1500, "dmitry")

    # B, WhatsApp: a lead of the week before, booked one minute into this week.
    log.session("wa-b", omsk(nov30, 23, 49))
    log.user("wa-b", omsk(nov30, 23, 50), channel="whatsapp")
    log.bot("wa-b", omsk(nov30, 23, 50, 10))
    log.slot("wa-b", omsk(nov30, 23, 51), "phone", "+79990000002")
    log.booking("wa-b", omsk(dec1, 0, 10), 2, omsk(dec2, 10, 0), 2000)
    log.assign("wa-b", omsk(dec1, 0, 11), 2, "dmitry")

    # C, Telegram: came in November (deal 3), writes again in a second session.
    log.session("tg-c", omsk((2026, 11, 20), 10, 0))
    log.user("tg-c", omsk((2026, 11, 20), 10, 0, 5))
    log.bot("tg-c", omsk((2026, 11, 20), 10, 0, 35))
    log.slot("tg-c", omsk((2026, 11, 20), 10, 1), "phone", "+79990000003")
    log.booking(
        "tg-c",
        omsk((2026, 11, 20), 10, 2),
        3,
        omsk((2026, 11, 22), 11, 0),
        1200,
        "dmitry",
    )
    log.outcome("tg-c", omsk((2026, 11, 22), 13, 0), 3, "attended", 1200)
    # Rasa carries the slots over into the new session before its first message.
    log.session("tg-c", omsk(dec4, 9, 0))
    log.slot("tg-c", omsk(dec4, 9, 0), "phone", "+79990000003")
    log.booking(
        "tg-c", omsk(dec4, 9, 0), 3, omsk((2026, 11, 22), 11, 0), 1200, "dmitry"
    )
    log.outcome("tg-c", omsk(dec4, 9, 0), 3, "attended", 1200)
    log.user("tg-c", omsk(dec4, 9, 0, 10))
    log.bot("tg-c", omsk(dec4, 9, 7, 10))  # 7 minutes: a missed lead
    log.booking("tg-c", omsk(dec4, 9, 10), 4, omsk((2026, 12, 9), 12, 0), 800, "dmitry")

    # D, widget: 18:30 UTC on 30 November is already 1 December in Omsk. No reply.
    log.session("web-d", datetime(2026, 11, 30, 18, 29, tzinfo=UTC))
    log.user("web-d", datetime(2026, 11, 30, 18, 30, tzinfo=UTC), channel="widget")

    # G, Telegram: answered at exactly 5 minutes; the client cancels in the chat.
    log.session("tg-g", omsk(dec2, 12, 0))
    log.user("tg-g", omsk(dec2, 12, 0))
    log.bot("tg-g", omsk(dec2, 12, 5))
    log.slot("tg-g", omsk(dec2, 12, 5, 30), "phone", "+79990000007")
    log.booking("tg-g", omsk(dec2, 12, 6), 7, omsk(dec4, 18, 0), 3500, "irina")
    log.outcome("tg-g", omsk(dec3, 9, 0), 7, "cancelled")

    # H, WhatsApp: a manager outside the profile; the client does not come.
    log.session("wa-h", omsk(dec5, 10, 0))
    log.user("wa-h", omsk(dec5, 10, 0), channel="whatsapp")
    log.bot("wa-h", omsk(dec5, 10, 1))
    log.slot("wa-h", omsk(dec5, 10, 2), "phone", "+79990000008")
    log.booking("wa-h", omsk(dec5, 10, 3), 8, omsk(dec6, 10, 0), 700, "pavel")

    # F, widget: 18:30 UTC on 7 December is 8 December in Omsk: next week's lead.
    log.session("web-f", datetime(2026, 12, 7, 18, 29, tzinfo=UTC))
    log.user("web-f", datetime(2026, 12, 7, 18, 30, tzinfo=UTC), channel="widget")
    log.bot("web-f", datetime(2026, 12, 7, 18, 30, 30, tzinfo=UTC))
    log.booking("web-f", omsk(dec8, 0, 35), 9, omsk((2026, 12, 10), 10, 0), 1500)

    # Appended after the chats by `crm_connector mark` and reassignments.
    log.assign("tg-a", omsk(dec1, 9, 0), 1, "irina")
    log.outcome("tg-a", omsk(dec3, 13, 0), 1, "no_show")
    log.outcome("tg-a", omsk(dec3, 14, 0), 1, "attended", 1800)  # came late after all
    log.booking(
        "tg-c", omsk(dec5, 10, 0), 4, omsk(dec6, 15, 0), 800, "dmitry", moved=True
    )
    log.outcome("tg-c", omsk(dec6, 16, 0), 4, "attended", 800)
    log.outcome("tg-c", omsk(dec6, 16, 0, 5), 4, "attended", 800)  # a retried mark
    log.outcome("wa-h", omsk(dec6, 11, 0), 8, "no_show")
    log.outcome("wa-b", omsk(dec2, 11, 0), 2, "attended")  # paid the list price
    return log


@pytest.fixture()
def week_url(db_url: str) -> str:
    lavanda_week().write(db_url)
    return db_url
