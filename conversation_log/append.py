"""Rasa's events table for readers and writers outside Rasa: appending outcomes and
assignments, and reading new events behind a cursor safely.

The rows are the ones Rasa's SQL tracker store writes itself (see docs/event-log.md),
so Rasa and the KPI reports read them like any other event. It needs no Rasa import,
which keeps the CRM command line fast.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

# Rasa 3.6's `events` table, column for column.
_metadata = MetaData()
EVENTS = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


def committed_upper_id(engine: Engine) -> int:
    """The highest event id below which every writer has committed.

    A reader that follows the log by id (a cursor, a watermark) must not read past it:
    on PostgreSQL a transaction can commit id 11 after another committed id 12, so a
    reader that saw 12 would skip 11 for ever. A SHARE lock on the table waits for the
    writers in flight and is held for one query only. SQLite has one writer at a time.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("LOCK TABLE events IN SHARE MODE")
        return int(connection.execute(select(func.max(EVENTS.c.id))).scalar() or 0)


class ConversationLogError(Exception):
    """The conversation log cannot be read or written, or has no such conversation."""


class ConversationLog:
    """The tracker store's events table, for writers other than Rasa."""

    def __init__(self, url: str) -> None:
        try:
            self._engine: Engine = create_engine(url, future=True)
        except (ArgumentError, SQLAlchemyError, ImportError) as error:
            raise ConversationLogError(
                f"cannot open the conversation log ({type(error).__name__})"
            ) from error

    def has_conversation(self, sender_id: str) -> bool:
        try:
            with self._engine.connect() as connection:
                found = connection.execute(
                    select(func.count())
                    .select_from(EVENTS)
                    .where(EVENTS.c.sender_id == sender_id)
                ).scalar_one()
        except SQLAlchemyError as error:
            raise ConversationLogError(
                f"cannot read the conversation log ({type(error).__name__})"
            ) from error
        return found > 0

    def append_slots(
        self, sender_id: str, slots: Iterable[tuple[str, Any]], at: float | None = None
    ) -> None:
        """Append slot events to the conversation, all in one transaction."""
        stamp = time.time() if at is None else at
        rows = [
            {
                "sender_id": sender_id,
                "type_name": "slot",
                "timestamp": stamp,
                "intent_name": None,
                "action_name": name,
                "data": json.dumps(
                    {
                        "event": "slot",
                        "timestamp": stamp,
                        "metadata": {},
                        "name": name,
                        "value": value,
                    },
                    ensure_ascii=False,
                ),
            }
            for name, value in slots
        ]
        if not rows:
            return
        try:
            with self._engine.begin() as connection:
                connection.execute(EVENTS.insert(), rows)
        except SQLAlchemyError as error:
            raise ConversationLogError(
                f"cannot write to the conversation log ({type(error).__name__})"
            ) from error

    def close(self) -> None:
        self._engine.dispose()
