"""The delivery queue to an external CRM, filled by SqlCRM in each change's transaction.

Errors: database failures are raised as the CRM's own `CRMUnavailableError` or
`CRMError` (see ``crm_connector.base``). A deal's rows are delivered together: the
worker sends the deal's current state once and marks every row up to then as sent.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from crm_connector.base import CRMError, CRMUnavailableError
from crm_connector.sql import (
    _SCHEMA_LOCK_KEY,
    Base,
    OutboxRow,
    _describe,
    write_options,
)

logger = logging.getLogger(__name__)

OUTBOX = OutboxRow.__table__
MAX_BACKOFF = timedelta(minutes=10)
# Engines whose tables exist already, with the extra MetaData made on them.
_SCHEMAS: weakref.WeakKeyDictionary[Engine, set[tuple[int, ...]]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Due:
    """A deal with undelivered changes, up to the row ``upto`` included."""

    deal_id: int
    upto: int
    attempts: int


@dataclass(frozen=True)
class QueuedDeal:
    """One deal's undelivered changes, as the queue command shows them."""

    deal_id: int
    kinds: tuple[str, ...]
    first_at: datetime
    next_attempt_at: datetime
    attempts: int
    last_error: str | None


class Outbox:
    """Reads and settles the ``crm_outbox`` table; one per process."""

    def __init__(self, engine: Engine, backoff_seconds: float = 2.0) -> None:
        self._engine = engine
        self.backoff = backoff_seconds
        self._writer = engine.execution_options(**write_options())
        self._ready = False

    def due(self, limit: int = 50, now: datetime | None = None) -> list[Due]:
        """Deals whose oldest pending change is due, oldest first."""
        now = now or utc_now()
        query = (
            select(
                OUTBOX.c.deal_id,
                func.max(OUTBOX.c.id),
                func.max(OUTBOX.c.attempts),
                func.min(OUTBOX.c.id).label("first"),
            )
            .where(OUTBOX.c.sent_at.is_(None))
            .group_by(OUTBOX.c.deal_id)
            .having(func.max(OUTBOX.c.next_attempt_at) <= now)
            .order_by("first")
            .limit(limit)
        )
        with self._read() as connection:
            return [
                Due(deal_id=row[0], upto=row[1], attempts=row[2] or 0)
                for row in connection.execute(query)
            ]

    def sent(self, due: Due) -> None:
        with self._write() as connection:
            mark_sent(connection, due)

    def failed(
        self, due: Due, error: str, retry_at: datetime | None = None
    ) -> datetime:
        """Keep the deal queued with ``error``; return when it is tried again."""
        attempts = due.attempts + 1
        if retry_at is None:
            wait = timedelta(seconds=self.backoff * 2 ** (attempts - 1))
            retry_at = utc_now() + min(MAX_BACKOFF, wait)
        with self._write() as connection:
            connection.execute(
                _rows_of(due).values(
                    attempts=attempts, last_error=error[:500], next_attempt_at=retry_at
                )
            )
        return retry_at

    def queued(self) -> list[QueuedDeal]:
        query = (
            select(OUTBOX)
            .where(OUTBOX.c.sent_at.is_(None))
            .order_by(OUTBOX.c.deal_id, OUTBOX.c.id)
        )
        deals: dict[int, QueuedDeal] = {}
        with self._read() as connection:
            for row in connection.execute(query):
                seen = deals.get(row.deal_id)
                if seen is None:
                    deals[row.deal_id] = QueuedDeal(
                        row.deal_id,
                        (row.kind,),
                        row.created_at,
                        row.next_attempt_at,
                        row.attempts,
                        row.last_error,
                    )
                    continue
                deals[row.deal_id] = QueuedDeal(
                    row.deal_id,
                    (*seen.kinds, row.kind),
                    seen.first_at,
                    max(seen.next_attempt_at, row.next_attempt_at),
                    max(seen.attempts, row.attempts),
                    row.last_error or seen.last_error,
                )
        return sorted(deals.values(), key=lambda d: d.first_at)

    def retry_now(self, deal_id: int | None = None) -> int:
        """Make queued deliveries due at once; return how many deals that touched."""
        where = [OUTBOX.c.sent_at.is_(None)]
        if deal_id is not None:
            where.append(OUTBOX.c.deal_id == deal_id)
        with self._write() as connection:
            touched = connection.execute(
                select(func.count(func.distinct(OUTBOX.c.deal_id))).where(*where)
            ).scalar_one()
            connection.execute(
                update(OUTBOX).where(*where).values(next_attempt_at=utc_now())
            )
        return int(touched)

    def counts(self) -> tuple[int, int]:
        """(deals waiting, deals delivered)."""
        with self._read() as connection:
            waiting = connection.execute(
                select(func.count(func.distinct(OUTBOX.c.deal_id))).where(
                    OUTBOX.c.sent_at.is_(None)
                )
            ).scalar_one()
            done = connection.execute(
                select(func.count(func.distinct(OUTBOX.c.deal_id))).where(
                    OUTBOX.c.sent_at.isnot(None)
                )
            ).scalar_one()
        return int(waiting), int(done)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        ensure_schema(self._engine)
        with errors(), self._engine.connect() as connection:
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        ensure_schema(self._engine)
        with errors(), self._writer.begin() as connection:
            yield connection


def mark_sent(connection: Connection, due: Due) -> None:
    """Settle ``due`` inside the caller's transaction (with what made it sent)."""
    connection.execute(_rows_of(due).values(sent_at=utc_now(), last_error=None))


def _rows_of(due: Due) -> Any:
    """An UPDATE of the deal's pending rows that ``due`` covers."""
    return update(OUTBOX).where(
        OUTBOX.c.deal_id == due.deal_id,
        OUTBOX.c.id <= due.upto,
        OUTBOX.c.sent_at.is_(None),
    )


def ensure_schema(engine: Engine, *extra: object) -> None:
    """Create the CRM's tables (and any ``extra`` MetaData's) if they are missing."""
    marker = tuple(id(m) for m in extra)
    done = _SCHEMAS.setdefault(engine, set())
    if marker in done:
        return
    with errors(), engine.execution_options(**write_options()).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        Base.metadata.create_all(connection)
        for metadata in extra:
            metadata.create_all(connection)  # type: ignore[attr-defined]
    done.add(marker)


@contextmanager
def errors() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise CRMUnavailableError(_describe(exc)) from exc
    except SQLAlchemyError as exc:
        raise CRMError(f"CRM database error ({type(exc).__name__})") from exc


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
