"""The reminders table in the CRM database: planned from deals, claimed atomically.

Reminders are derived from the deals table on every scheduler pass rather than
written by each booking, move or cancellation: deals change from the chat, the CRM
command line, the managers' bot and later Bitrix24, and none of them needs to know
about reminders. A reminder row remembers the visit time and master it was planned
for; a claim succeeds only while the deal is still booked at that time with that
master, in the same UPDATE, so a cancelled or moved booking never gets a stale
reminder even between two passes.

States: ``pending`` (waiting for its time), ``sending`` (claimed by one worker),
``sent``, ``skipped`` (its time had passed, see ``reason``), ``obsolete`` (the deal
was cancelled or moved, or the profile's times changed) and ``failed`` (Rasa refused
it too often).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    exists,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, declarative_base

from business.profile import Reminders
from crm_connector.sql import _SCHEMA_LOCK_KEY, DealRow, UTCDateTime
from reminders.errors import ReminderStoreError
from reminders.plan import plan

logger = logging.getLogger(__name__)

STATES = ("pending", "sending", "sent", "skipped", "obsolete", "failed")

Base: Any = declarative_base()  # no SQLAlchemy mypy plugin for 1.4


class ReminderRow(Base):
    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint(
            "deal_id",
            "before_minutes",
            "starts_at",
            "staff_id",
            name="uq_reminders_deal_visit",
        ),
        Index("ix_reminders_state_fire_at", "state", "fire_at"),
    )

    id = Column(Integer, primary_key=True)
    deal_id = Column(Integer, nullable=False, index=True)
    conversation_id = Column(String, nullable=False)
    before_minutes = Column(Integer, nullable=False)
    starts_at = Column(UTCDateTime, nullable=False)
    staff_id = Column(String, nullable=False)
    fire_at = Column(UTCDateTime, nullable=False)
    state = Column(String, nullable=False)
    reason = Column(String)
    attempts = Column(Integer, nullable=False, default=0)
    not_before = Column(UTCDateTime)
    claimed_by = Column(String)
    claimed_at = Column(UTCDateTime)
    sent_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)


@dataclass(frozen=True)
class Reminder:
    id: int
    deal_id: int
    conversation_id: str
    before_minutes: int
    starts_at: datetime
    staff_id: str
    fire_at: datetime
    state: str
    reason: str | None
    attempts: int
    sent_at: datetime | None


class ReminderStore:
    """The reminders of one CRM database; safe to share between threads."""

    def __init__(self, url: str, *, lock_timeout: float = 15.0) -> None:
        try:
            parsed = make_url(url)
            backend = parsed.get_backend_name()
            connect_args: dict[str, Any] = {}
            if backend == "sqlite":
                connect_args = {"timeout": lock_timeout, "check_same_thread": False}
            elif backend == "postgresql" and "connect_timeout" not in parsed.query:
                connect_args = {"connect_timeout": 10}
            self._engine: Engine = create_engine(
                parsed, future=True, pool_pre_ping=True, connect_args=connect_args
            )
        except (ArgumentError, ImportError) as error:
            raise ReminderStoreError(
                f"cannot open the CRM database ({type(error).__name__})"
            ) from error
        self._postgres = backend == "postgresql"
        self._schema_ready = False

    # Planning

    def sync(
        self, rules: Reminders, tz: tzinfo, now: datetime, grace: timedelta
    ) -> int:
        """Plan reminders for every upcoming booked deal; retire stale pending ones.

        A reminder whose time passed more than `grace` ago (the deal was booked late,
        or no scheduler ran) is stored as skipped so it never fires late. Returns the
        number of pending reminders this pass planned (a worker racing another may
        count one the other stored first).
        """
        now = now.astimezone(timezone.utc)
        with self._session() as session:
            retired = session.execute(
                update(ReminderRow)
                .where(
                    ReminderRow.state == "pending",
                    or_(
                        not_(_deal_unchanged()),
                        ReminderRow.before_minutes.not_in(
                            rules.before_minutes or (-1,)
                        ),
                    ),
                )
                .values(state="obsolete", reason="changed", updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            deals = session.execute(
                select(
                    DealRow.id,
                    DealRow.conversation_id,
                    DealRow.starts_at,
                    DealRow.staff_id,
                ).where(DealRow.status == "booked", DealRow.starts_at > now)
            ).all()
            # Only missing rows are inserted: a pass over unchanged deals writes nothing.
            known = {
                (r.deal_id, r.before_minutes, r.starts_at, r.staff_id)
                for r in session.execute(
                    select(
                        ReminderRow.deal_id,
                        ReminderRow.before_minutes,
                        ReminderRow.starts_at,
                        ReminderRow.staff_id,
                    ).where(ReminderRow.starts_at > now)
                )
            }
            rows = []
            for deal in deals:
                for item in plan(rules, deal.starts_at, tz):
                    key = (deal.id, item.before_minutes, deal.starts_at, deal.staff_id)
                    if key in known:
                        continue
                    fire_at = item.fire_at.astimezone(timezone.utc)
                    # Known limit: a deal booked minutes after its reminder's time
                    # still gets it (within `grace`); lifts when the booking time is
                    # read from the same clock as the scheduler's.
                    late = fire_at < now - grace
                    rows.append(
                        {
                            "deal_id": deal.id,
                            "conversation_id": deal.conversation_id,
                            "before_minutes": item.before_minutes,
                            "starts_at": deal.starts_at,
                            "staff_id": deal.staff_id,
                            "fire_at": fire_at,
                            "state": "skipped" if late else "pending",
                            "reason": "passed" if late else None,
                            "attempts": 0,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
            if rows:
                # Several workers may plan the same reminder at once: the first wins,
                # and the others' rows are dropped by the unique key.
                insert = pg_insert if self._postgres else sqlite_insert
                session.execute(
                    insert(ReminderRow.__table__).on_conflict_do_nothing(), rows
                )
            added = sum(1 for row in rows if row["state"] == "pending")
        if retired or added:
            logger.info("Reminders planned: %d new, %d retired", added, retired)
        return added

    # Delivery

    def due(self, now: datetime, limit: int = 100) -> list[Reminder]:
        now = now.astimezone(timezone.utc)
        query = (
            select(ReminderRow)
            .where(
                ReminderRow.state == "pending",
                ReminderRow.fire_at <= now,
                or_(ReminderRow.not_before.is_(None), ReminderRow.not_before <= now),
            )
            .order_by(ReminderRow.fire_at, ReminderRow.id)
            .limit(limit)
        )
        with self._session() as session:
            return [_reminder(row) for row in session.scalars(query)]

    def claim(self, reminder_id: int, worker: str, now: datetime) -> bool:
        """Take a pending reminder for delivery; True for exactly one worker.

        The claim holds only while its deal is still booked at the planned time
        with the planned master.
        """
        now = now.astimezone(timezone.utc)
        with self._session() as session:
            taken = session.execute(
                update(ReminderRow)
                .where(
                    ReminderRow.id == reminder_id,
                    ReminderRow.state == "pending",
                    _deal_unchanged(),
                )
                .values(
                    state="sending",
                    claimed_by=worker,
                    claimed_at=now,
                    attempts=ReminderRow.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        return taken == 1

    def finish(
        self,
        reminder_id: int,
        worker: str,
        state: str,
        now: datetime,
        *,
        reason: str | None = None,
        retry_at: datetime | None = None,
    ) -> bool:
        """Settle a reminder this worker claimed: sent, failed, or back to pending."""
        if state not in STATES:
            raise ValueError(f"unknown reminder state {state!r}")
        now = now.astimezone(timezone.utc)
        values: dict[str, Any] = {"state": state, "reason": reason, "updated_at": now}
        if state == "sent":
            values["sent_at"] = now
        if retry_at is not None:
            values["not_before"] = retry_at.astimezone(timezone.utc)
        with self._session() as session:
            done = session.execute(
                update(ReminderRow)
                .where(
                    ReminderRow.id == reminder_id,
                    ReminderRow.state == "sending",
                    ReminderRow.claimed_by == worker,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
        return done == 1

    def skip(self, reminder_id: int, reason: str, now: datetime) -> bool:
        """Give up a pending reminder whose moment has passed."""
        now = now.astimezone(timezone.utc)
        with self._session() as session:
            done = session.execute(
                update(ReminderRow)
                .where(ReminderRow.id == reminder_id, ReminderRow.state == "pending")
                .values(state="skipped", reason=reason, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
        return done == 1

    def reclaim_stale(
        self,
        now: datetime,
        lease: timedelta,
        delivered: Callable[[Reminder], bool] | None = None,
    ) -> list[Reminder]:
        """Settle reminders claimed longer than `lease` ago by a worker that never
        settled them (it crashed or was killed mid-delivery).

        Those `delivered` finds in the conversation log become sent; the others go
        back to pending (without `delivered`, all of them: a reminder may then reach
        the client twice). Returns the ones made pending again.
        """
        now = now.astimezone(timezone.utc)
        cutoff = now - lease
        with self._session() as session:
            stale = [
                _reminder(row)
                for row in session.scalars(
                    select(ReminderRow).where(
                        ReminderRow.state == "sending",
                        ReminderRow.claimed_at < cutoff,
                    )
                )
            ]
        again = []
        for reminder in stale:
            arrived = delivered is not None and delivered(reminder)
            values: dict[str, Any] = {"claimed_by": None, "updated_at": now}
            if arrived:
                values.update(state="sent", sent_at=now, reason="found in the log")
            else:
                values.update(state="pending")
            with self._session() as session:
                done = session.execute(
                    update(ReminderRow)
                    .where(
                        ReminderRow.id == reminder.id,
                        ReminderRow.state == "sending",
                        ReminderRow.claimed_at < cutoff,
                    )
                    .values(**values)
                    .execution_options(synchronize_session=False)
                ).rowcount
            if done and not arrived:
                again.append(replace(reminder, state="pending"))
        if stale:
            logger.warning(
                "Reminders %s were left unsettled; %d pending again",
                [r.id for r in stale],
                len(again),
            )
        return again

    def reminders(
        self, deal_ids: Sequence[int] | None = None, state: str | None = None
    ) -> list[Reminder]:
        query = select(ReminderRow).order_by(ReminderRow.fire_at, ReminderRow.id)
        if deal_ids is not None:
            query = query.where(ReminderRow.deal_id.in_(list(deal_ids)))
        if state is not None:
            query = query.where(ReminderRow.state == state)
        with self._session() as session:
            return [_reminder(row) for row in session.scalars(query)]

    def close(self) -> None:
        self._engine.dispose()

    # Plumbing

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            self._ensure_schema()
            with Session(self._engine, future=True) as session, session.begin():
                yield session
        except SQLAlchemyError as error:
            detail = str(getattr(error, "orig", None) or type(error).__name__)
            raise ReminderStoreError(
                f"reminders table unavailable: {detail.splitlines()[0][:200]}"
            ) from error

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        for attempt in range(3):
            try:
                with self._engine.begin() as connection:
                    if self._postgres:
                        # The CRM's own lock: both create tables in one database.
                        connection.execute(
                            select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY))
                        )
                    # The deals table too: reminders are planned from it, and a
                    # fresh database may not have met the CRM yet.
                    DealRow.metadata.create_all(connection)
                    Base.metadata.create_all(connection)
                break
            except OperationalError:
                # Another SQLite process created a table between the check and the
                # CREATE; the next attempt sees it.
                if attempt == 2:
                    raise
        self._schema_ready = True


def _deal_unchanged() -> Any:
    """The reminder's deal is still booked at the time and with the master planned."""
    return exists().where(
        DealRow.id == ReminderRow.deal_id,
        DealRow.status == "booked",
        DealRow.starts_at == ReminderRow.starts_at,
        DealRow.staff_id == ReminderRow.staff_id,
    )


def _reminder(row: ReminderRow) -> Reminder:
    return Reminder(
        id=row.id,
        deal_id=row.deal_id,
        conversation_id=row.conversation_id,
        before_minutes=row.before_minutes,
        starts_at=row.starts_at,
        staff_id=row.staff_id,
        fire_at=row.fire_at,
        state=row.state,
        reason=row.reason,
        attempts=row.attempts,
        sent_at=row.sent_at,
    )
