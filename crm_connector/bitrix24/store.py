"""What the worker remembers about Bitrix24: deal links and received stage events.

Errors: database failures surface as `CRMUnavailableError` / `CRMError` (see
``crm_connector.base``), like the rest of the CRM.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from crm_connector.outbox import (
    MAX_BACKOFF,
    Due,
    ensure_schema,
    errors,
    mark_sent,
    utc_now,
)
from crm_connector.sql import UTCDateTime, write_options

METADATA = MetaData()

# One row per local deal once its delivery started.
LINKS = Table(
    "bitrix24_links",
    METADATA,
    Column("deal_id", Integer, primary_key=True),
    # Set before crm.deal.add is sent: a retry must then look the deal up first.
    Column("add_sent", Boolean, nullable=False, default=False),
    Column("b24_deal_id", Integer),
    Column("b24_contact_id", Integer),
    # The fields last sent, so an unchanged deal costs no call.
    Column("synced", String),
    # Set before crm.timeline.comment.add is sent, like add_sent.
    Column("comment_sent", Boolean, nullable=False, default=False),
    Column("comment_posted", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# ONCRMDEALUPDATE calls, stored before they are answered, processed afterwards.
INBOUND = Table(
    "bitrix24_inbound",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("b24_deal_id", Integer, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("processed_at", UTCDateTime, index=True),
    Column("result", String),
    Column("last_error", String),
)


@dataclass
class Link:
    deal_id: int
    add_sent: bool = False
    b24_deal_id: int | None = None
    b24_contact_id: int | None = None
    synced: str | None = None
    comment_sent: bool = False
    comment_posted: bool = False


@dataclass(frozen=True)
class InboundEvent:
    id: int
    b24_deal_id: int
    attempts: int
    received_at: datetime
    processed_at: datetime | None = None
    result: str | None = None
    last_error: str | None = None


class Bitrix24Store:
    """The worker's two tables, next to the CRM's own in the same database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**write_options())

    def link(self, deal_id: int) -> Link:
        with self._read() as connection:
            row = connection.execute(
                select(LINKS).where(LINKS.c.deal_id == deal_id)
            ).first()
        if row is None:
            return Link(deal_id)
        return Link(
            deal_id,
            bool(row.add_sent),
            row.b24_deal_id,
            row.b24_contact_id,
            row.synced,
            bool(row.comment_sent),
            bool(row.comment_posted),
        )

    def save_link(self, link: Link, delivered: Due | None = None) -> None:
        """Store the link; with ``delivered``, settle those outbox rows with it."""
        values = {
            "add_sent": link.add_sent,
            "b24_deal_id": link.b24_deal_id,
            "b24_contact_id": link.b24_contact_id,
            "synced": link.synced,
            "comment_sent": link.comment_sent,
            "comment_posted": link.comment_posted,
            "updated_at": utc_now(),
        }
        with self._write() as connection:
            changed = connection.execute(
                update(LINKS).where(LINKS.c.deal_id == link.deal_id).values(**values)
            ).rowcount
            if not changed:
                connection.execute(insert(LINKS).values(deal_id=link.deal_id, **values))
            if delivered is not None:
                mark_sent(connection, delivered)

    def local_deal_id(self, b24_deal_id: int) -> int | None:
        with self._read() as connection:
            return connection.execute(
                select(LINKS.c.deal_id).where(LINKS.c.b24_deal_id == b24_deal_id)
            ).scalar()

    def add_inbound(self, b24_deal_id: int) -> int:
        now = utc_now()
        with self._write() as connection:
            return int(
                connection.execute(
                    insert(INBOUND).values(
                        b24_deal_id=b24_deal_id,
                        received_at=now,
                        next_attempt_at=now,
                        attempts=0,
                    )
                ).inserted_primary_key[0]
            )

    def due_inbound(self, limit: int = 20) -> list[InboundEvent]:
        query = (
            select(INBOUND)
            .where(INBOUND.c.processed_at.is_(None))
            .where(INBOUND.c.next_attempt_at <= utc_now())
            .order_by(INBOUND.c.id)
            .limit(limit)
        )
        with self._read() as connection:
            return [_event(row) for row in connection.execute(query)]

    def inbound(self, pending_only: bool = False) -> list[InboundEvent]:
        query = select(INBOUND).order_by(INBOUND.c.id)
        if pending_only:
            query = query.where(INBOUND.c.processed_at.is_(None))
        with self._read() as connection:
            return [_event(row) for row in connection.execute(query)]

    def inbound_done(self, event_id: int, result: str) -> None:
        with self._write() as connection:
            connection.execute(
                update(INBOUND)
                .where(INBOUND.c.id == event_id)
                .values(processed_at=utc_now(), result=result[:500], last_error=None)
            )

    def inbound_failed(self, event: InboundEvent, error: str) -> None:
        attempts = event.attempts + 1
        retry_at = utc_now() + min(MAX_BACKOFF, timedelta(seconds=2**attempts))
        with self._write() as connection:
            connection.execute(
                update(INBOUND)
                .where(INBOUND.c.id == event.id)
                .values(
                    attempts=attempts, last_error=error[:500], next_attempt_at=retry_at
                )
            )

    def retry_inbound_now(self) -> int:
        pending = INBOUND.c.processed_at.is_(None)
        with self._write() as connection:
            count = connection.execute(
                select(func.count()).select_from(INBOUND).where(pending)
            ).scalar_one()
            connection.execute(
                update(INBOUND).where(pending).values(next_attempt_at=utc_now())
            )
        return int(count)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        ensure_schema(self._engine, METADATA)
        with errors(), self._engine.connect() as connection:
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        ensure_schema(self._engine, METADATA)
        with errors(), self._writer.begin() as connection:
            yield connection


def _event(row: Any) -> InboundEvent:
    return InboundEvent(
        id=row.id,
        b24_deal_id=row.b24_deal_id,
        attempts=row.attempts,
        received_at=row.received_at,
        processed_at=row.processed_at,
        result=row.result,
        last_error=row.last_error,
    )
