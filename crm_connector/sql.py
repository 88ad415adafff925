"""The built-in SQL CRM: deals, contacts and hand-offs in SQLite or PostgreSQL."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    case,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.types import TypeDecorator

from crm_connector.base import (
    CRM,
    DEAL_STATUSES,
    BookingRequest,
    CRMError,
    CRMUnavailableError,
    Deal,
    DealNotFoundError,
    Handoff,
    InvalidTransitionError,
    SlotTakenError,
    check_outcome,
)

logger = logging.getLogger(__name__)

# Execution option that makes a SQLite transaction take the write lock at BEGIN.
_WRITE = "crm_write"
# Key of the PostgreSQL advisory lock that serialises table creation across processes.
_SCHEMA_LOCK_KEY = 0x43524D  # "CRM"
_CENT = Decimal("0.01")


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored in UTC: timestamptz on PostgreSQL, naive on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Money(TypeDecorator):
    """NUMERIC(12, 2) read back as Decimal on every engine.

    SQLite keeps NUMERIC as a double; two decimals of a 12-digit amount survive the
    round trip, and converting here spares the per-engine Decimal warning.
    """

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(12, 2, asdecimal=False))
        return dialect.type_descriptor(Numeric(12, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Any:
        if value is None:
            return None
        return float(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(_CENT)


Base: Any = declarative_base()  # no SQLAlchemy mypy plugin for 1.4


class ContactRow(Base):
    __tablename__ = "contacts"

    id = Column(Integer, primary_key=True)
    phone = Column(String, nullable=False, unique=True)
    name = Column(String, nullable=False, default="")
    consent_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)


class DealRow(Base):
    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_staff_id_starts_at", "staff_id", "starts_at"),
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in DEAL_STATUSES)),
            name="ck_deals_status",
        ),
    )

    id = Column(Integer, primary_key=True)
    idempotency_key = Column(String, nullable=False, unique=True)
    conversation_id = Column(String, nullable=False, index=True)
    channel = Column(String, nullable=False)
    contact_id = Column(ForeignKey("contacts.id"), nullable=False, index=True)
    service_id = Column(String, nullable=False)
    service_name = Column(String, nullable=False)
    staff_id = Column(String, nullable=False)
    starts_at = Column(UTCDateTime, nullable=False)
    ends_at = Column(UTCDateTime, nullable=False)
    duration_minutes = Column(Integer, nullable=False)
    price = Column(Money, nullable=False)
    status = Column(String, nullable=False)
    manager_id = Column(String)
    amount_paid = Column(Money)
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)


class HandoffRow(Base):
    __tablename__ = "handoffs"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String, nullable=False, index=True)
    channel = Column(String, nullable=False)
    reason = Column(String, nullable=False)
    phone = Column(String)
    created_at = Column(UTCDateTime, nullable=False)
    taken_by = Column(String)
    taken_at = Column(UTCDateTime)


class OutboxRow(Base):
    """A change of a deal still to be mirrored to the external CRM (see outbox.py).

    A row only names the deal and what happened: the worker sends the deal as it is
    when delivering, so late or repeated rows never move it back in time.
    """

    __tablename__ = "crm_outbox"
    __table_args__ = (Index("ix_crm_outbox_pending", "sent_at", "next_attempt_at"),)

    id = Column(Integer, primary_key=True)
    deal_id = Column(Integer, nullable=False, index=True)
    kind = Column(String, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    next_attempt_at = Column(UTCDateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(String)
    sent_at = Column(UTCDateTime)


class StaffLockRow(Base):
    """One row per staff member, locked on PostgreSQL while their schedule changes."""

    __tablename__ = "staff_locks"

    staff_id = Column(String, primary_key=True)


class SqlCRM(CRM):
    """The CRM over SQLAlchemy; safe to share between threads, one per process.

    ``lock_timeout`` (seconds) bounds the wait for another booking's lock; past it
    the call raises CRMUnavailableError. With ``outbox`` every change of a deal also
    queues a delivery to the external CRM, in the same transaction.
    """

    def __init__(
        self, url: str, *, lock_timeout: float = 15.0, outbox: bool = False
    ) -> None:
        try:
            parsed = make_url(url)
            self._engine = _create_engine(parsed, lock_timeout)
        except ArgumentError as exc:
            raise CRMError("invalid CRM database URL") from exc
        except ImportError as exc:
            raise CRMError(
                f"no database driver for CRM URL scheme {parsed.drivername!r}"
            ) from exc
        self._write_engine = self._engine.execution_options(**{_WRITE: True})
        self._postgres = self._engine.dialect.name == "postgresql"
        self._lock_timeout_ms = max(1, int(lock_timeout * 1000))
        self._outbox = outbox
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def book(self, request: BookingRequest) -> Deal:
        starts_at = _utc(request.starts_at, "starts_at")
        consent_at = (
            None
            if request.consent_at is None
            else _utc(request.consent_at, "consent_at")
        )
        if request.duration_minutes <= 0:
            raise ValueError("duration_minutes must be positive")
        price = _money(request.price)
        ends_at = starts_at + timedelta(minutes=request.duration_minutes)

        with self._errors():
            existing = self._deal_by_key(request.idempotency_key)
            if existing is not None:
                return existing
            try:
                deal, created = self._insert_deal(
                    request, starts_at, ends_at, price, consent_at
                )
            except IntegrityError:
                # A concurrent replay with the same key won the unique index.
                existing = self._deal_by_key(request.idempotency_key)
                if existing is None:
                    raise
                return existing

        if created:
            logger.info(
                "Deal %s booked: staff %s, %s for %s min",
                deal.id,
                deal.staff_id,
                deal.starts_at.isoformat(),
                deal.duration_minutes,
            )
        return deal

    def reschedule(self, deal_id: int, starts_at: datetime, staff_id: str) -> Deal:
        starts_at = _utc(starts_at, "starts_at")

        with self._errors(), self._session(write=True) as session:
            row = self._deal_row(session, deal_id, for_update=True)
            if row.status != "booked":
                raise InvalidTransitionError(
                    f"deal {deal_id} is {row.status}; only booked deals can be moved"
                )
            self._lock_staff(session, staff_id)
            ends_at = starts_at + timedelta(minutes=row.duration_minutes)
            self._check_free(session, staff_id, starts_at, ends_at, exclude=row.id)
            row.staff_id = staff_id
            row.starts_at = starts_at
            row.ends_at = ends_at
            row.updated_at = _now()
            self._enqueue(session, row.id, "reschedule")
            session.flush()
            deal = self._to_deal(session, row)

        logger.info(
            "Deal %s rescheduled: staff %s, %s",
            deal.id,
            deal.staff_id,
            deal.starts_at.isoformat(),
        )
        return deal

    def cancel(self, deal_id: int) -> Deal:
        with self._errors(), self._session(write=True) as session:
            row = self._deal_row(session, deal_id, for_update=True)
            if row.status == "cancelled":
                return self._to_deal(session, row)
            if row.status != "booked":
                raise InvalidTransitionError(
                    f"deal {deal_id} is {row.status};"
                    " only booked deals can be cancelled"
                )
            row.status = "cancelled"
            row.updated_at = _now()
            self._enqueue(session, row.id, "cancel")
            session.flush()
            deal = self._to_deal(session, row)

        logger.info("Deal %s cancelled", deal.id)
        return deal

    def mark(self, deal_id: int, status: str, amount: Decimal | None = None) -> Deal:
        with self._errors(), self._session(write=True) as session:
            row = self._deal_row(session, deal_id, for_update=True)
            deal = self._to_deal(session, row)
            if not check_outcome(deal, status, amount):
                return deal
            row.status = status
            row.amount_paid = _money(amount) if amount is not None else None
            row.updated_at = _now()
            self._enqueue(session, row.id, status)
            session.flush()
            deal = self._to_deal(session, row)

        logger.info("Deal %s marked %s", deal.id, status)
        return deal

    def assign(self, deal_id: int, manager_id: str) -> Deal:
        with self._errors(), self._session(write=True) as session:
            row = self._deal_row(session, deal_id, for_update=True)
            if row.manager_id != manager_id:
                row.manager_id = manager_id
                row.updated_at = _now()
                self._enqueue(session, row.id, "assign")
                session.flush()
                logger.info("Deal %s assigned to manager %s", deal_id, manager_id)
            return self._to_deal(session, row)

    def last_assigned_manager(self) -> str | None:
        with self._errors(), self._session(write=False) as session:
            return session.execute(
                select(DealRow.manager_id)
                .where(DealRow.manager_id.isnot(None))
                .order_by(DealRow.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def get_deal(self, deal_id: int) -> Deal:
        with self._errors(), self._session(write=False) as session:
            return self._to_deal(session, self._deal_row(session, deal_id))

    def deals(
        self,
        *,
        conversation_id: str | None = None,
        phone: str | None = None,
        status: str | None = None,
        starts_after: datetime | None = None,
    ) -> list[Deal]:
        if status is not None and status not in DEAL_STATUSES:
            raise ValueError(f"unknown deal status {status!r}")
        query = select(DealRow, ContactRow).join(
            ContactRow, DealRow.contact_id == ContactRow.id
        )
        if conversation_id is not None:
            query = query.where(DealRow.conversation_id == conversation_id)
        if phone is not None:
            query = query.where(ContactRow.phone == phone)
        if status is not None:
            query = query.where(DealRow.status == status)
        if starts_after is not None:
            query = query.where(DealRow.starts_at >= _utc(starts_after, "starts_after"))
        query = query.order_by(DealRow.starts_at, DealRow.id)

        with self._errors(), self._session(write=False) as session:
            return [_deal(row, contact) for row, contact in session.execute(query)]

    def busy_intervals(
        self,
        start: datetime,
        end: datetime,
        staff_ids: Iterable[str] | None = None,
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        start = _utc(start, "start")
        end = _utc(end, "end")
        wanted = None if staff_ids is None else list(dict.fromkeys(staff_ids))
        busy: dict[str, list[tuple[datetime, datetime]]] = {
            staff_id: [] for staff_id in wanted or []
        }
        if wanted == [] or end <= start:
            return busy
        query = select(DealRow.staff_id, DealRow.starts_at, DealRow.ends_at).where(
            DealRow.status != "cancelled",
            DealRow.starts_at < end,
            DealRow.ends_at > start,
        )
        if wanted is not None:
            query = query.where(DealRow.staff_id.in_(wanted))
        query = query.order_by(DealRow.staff_id, DealRow.starts_at, DealRow.ends_at)

        with self._errors(), self._session(write=False) as session:
            for staff_id, starts_at, ends_at in session.execute(query):
                busy.setdefault(staff_id, []).append((starts_at, ends_at))
        return busy

    def record_handoff(
        self,
        conversation_id: str,
        channel: str,
        reason: str,
        phone: str | None = None,
    ) -> int:
        with self._errors(), self._session(write=True) as session:
            row = HandoffRow(
                conversation_id=conversation_id,
                channel=channel,
                reason=reason,
                phone=phone,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            handoff_id = int(row.id)

        logger.info("Hand-off %s recorded from %s", handoff_id, channel)
        return handoff_id

    def handoffs(self, conversation_id: str | None = None) -> list[Handoff]:
        query = select(HandoffRow).order_by(HandoffRow.created_at, HandoffRow.id)
        if conversation_id is not None:
            query = query.where(HandoffRow.conversation_id == conversation_id)

        with self._errors(), self._session(write=False) as session:
            return [
                Handoff(
                    id=row.id,
                    conversation_id=row.conversation_id,
                    channel=row.channel,
                    reason=row.reason,
                    phone=row.phone,
                    created_at=row.created_at,
                    taken_by=row.taken_by,
                    taken_at=row.taken_at,
                )
                for row in session.scalars(query)
            ]

    def close(self) -> None:
        self._engine.dispose()

    # Units of work

    def _insert_deal(
        self,
        request: BookingRequest,
        starts_at: datetime,
        ends_at: datetime,
        price: Decimal,
        consent_at: datetime | None,
    ) -> tuple[Deal, bool]:
        with self._session(write=True) as session:
            self._lock_staff(session, request.staff_id)

            # Under the lock, so a replay that waited for it sees the first booking.
            existing_id = session.scalar(
                select(DealRow.id).where(
                    DealRow.idempotency_key == request.idempotency_key
                )
            )
            if existing_id is not None:
                return self._to_deal(
                    session, self._deal_row(session, existing_id)
                ), False

            self._check_free(session, request.staff_id, starts_at, ends_at)
            now = _now()
            contact = self._upsert_contact(
                session, request.phone, request.contact_name.strip(), consent_at, now
            )
            row = DealRow(
                idempotency_key=request.idempotency_key,
                conversation_id=request.conversation_id,
                channel=request.channel,
                contact_id=contact.id,
                service_id=request.service_id,
                service_name=request.service_name,
                staff_id=request.staff_id,
                starts_at=starts_at,
                ends_at=ends_at,
                duration_minutes=request.duration_minutes,
                price=price,
                status="booked",
                manager_id=request.manager_id,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            self._enqueue(session, row.id, "book")
            return _deal(row, contact), True

    def _deal_by_key(self, key: str) -> Deal | None:
        query = (
            select(DealRow, ContactRow)
            .join(ContactRow, DealRow.contact_id == ContactRow.id)
            .where(DealRow.idempotency_key == key)
        )
        with self._session(write=False) as session:
            found = session.execute(query).first()
            return None if found is None else _deal(*found)

    # Steps inside a unit of work

    def _enqueue(self, session: Session, deal_id: int, kind: str) -> None:
        if not self._outbox:
            return
        now = _now()
        session.add(
            OutboxRow(
                deal_id=deal_id,
                kind=kind,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )

    def _lock_staff(self, session: Session, staff_id: str) -> None:
        # SQLite already holds the database write lock since BEGIN IMMEDIATE.
        if not self._postgres:
            return
        table = StaffLockRow.__table__
        session.execute(
            pg_insert(table).values(staff_id=staff_id).on_conflict_do_nothing()
        )
        session.execute(
            select(table.c.staff_id)
            .where(table.c.staff_id == staff_id)
            .with_for_update()
        )

    def _check_free(
        self,
        session: Session,
        staff_id: str,
        starts_at: datetime,
        ends_at: datetime,
        exclude: int | None = None,
    ) -> None:
        query = select(DealRow.id).where(
            DealRow.staff_id == staff_id,
            DealRow.status != "cancelled",
            DealRow.starts_at < ends_at,
            DealRow.ends_at > starts_at,
        )
        if exclude is not None:
            query = query.where(DealRow.id != exclude)
        if session.execute(query.limit(1)).first() is not None:
            raise SlotTakenError(
                f"staff {staff_id} is busy between {starts_at.isoformat()}"
                f" and {ends_at.isoformat()}"
            )

    def _upsert_contact(
        self,
        session: Session,
        phone: str,
        name: str,
        consent_at: datetime | None,
        now: datetime,
    ) -> ContactRow:
        table = ContactRow.__table__
        insert = pg_insert if self._postgres else sqlite_insert
        stmt = insert(table).values(
            phone=phone,
            name=name,
            consent_at=consent_at,
            created_at=now,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.phone],
            set_={
                "name": case(
                    (stmt.excluded.name != "", stmt.excluded.name), else_=table.c.name
                ),
                "consent_at": func.coalesce(
                    stmt.excluded.consent_at, table.c.consent_at
                ),
                "updated_at": stmt.excluded.updated_at,
            },
        )
        session.execute(stmt)
        return session.scalars(
            select(ContactRow).where(ContactRow.phone == phone)
        ).one()

    def _deal_row(
        self, session: Session, deal_id: int, *, for_update: bool = False
    ) -> DealRow:
        query = select(DealRow).where(DealRow.id == deal_id)
        if for_update:
            query = query.with_for_update()
        row = session.scalars(query).one_or_none()
        if row is None:
            raise DealNotFoundError(f"no deal with id {deal_id}")
        return row

    def _to_deal(self, session: Session, row: DealRow) -> Deal:
        return _deal(row, session.get(ContactRow, row.contact_id))

    # Plumbing

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        self._ensure_schema()
        engine = self._write_engine if write else self._engine
        with Session(engine, future=True) as session, session.begin():
            if write and self._postgres:
                session.execute(
                    text(f"SET LOCAL lock_timeout = {self._lock_timeout_ms}")
                )
            yield session

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            with self._write_engine.begin() as connection:
                if self._postgres:
                    # CREATE TABLE IF NOT EXISTS races between processes on
                    # PostgreSQL; SQLite is serialised by BEGIN IMMEDIATE.
                    connection.execute(
                        select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY))
                    )
                Base.metadata.create_all(connection)
                _add_missing_columns(connection)
            self._schema_ready = True

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (
            OperationalError,
            InterfaceError,
            DisconnectionError,
            PoolTimeoutError,
        ) as exc:
            raise CRMUnavailableError(_describe(exc)) from exc
        except SQLAlchemyError as exc:
            raise CRMError(f"CRM database error ({type(exc).__name__})") from exc


def _add_missing_columns(connection: Any) -> None:
    """Bring a database made by an older version up to date (columns only added).

    Known limit: enough while the schema only grows; lifts with Alembic migrations
    when a column has to change.
    """
    existing = {c["name"] for c in inspect(connection).get_columns("deals")}
    if "amount_paid" not in existing:
        connection.execute(
            text("ALTER TABLE deals ADD COLUMN amount_paid NUMERIC(12, 2)")
        )


def open_engine(url: str, lock_timeout: float = 15.0) -> Engine:
    """An engine set up like the CRM's own (SQLite locking, PostgreSQL timeouts)."""
    try:
        return _create_engine(make_url(url), lock_timeout)
    except ArgumentError as exc:
        raise CRMError("invalid CRM database URL") from exc


def write_options() -> dict[str, Any]:
    """Execution options that make an SQLite transaction take the write lock at once."""
    return {_WRITE: True}


def _create_engine(url: URL, lock_timeout: float) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            # Each pooled connection would see its own empty in-memory database.
            raise CRMError("the CRM needs an SQLite file, not an in-memory database")
        # Known limit: every SQLite write waits for the whole database, not just the
        # staff member's schedule; lifts when the business moves to PostgreSQL.
        engine = create_engine(
            url,
            future=True,
            connect_args={"timeout": lock_timeout, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if url.get_driver_name() == "psycopg2" and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = 10
        return create_engine(
            url, future=True, pool_pre_ping=True, connect_args=connect_args
        )
    raise CRMError(f"unsupported CRM database {backend!r}; use sqlite or postgresql")


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would defer BEGIN; take it over so that
    # _sqlite_begin decides the lock mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Writers take the write lock up front, so the overlap check and the insert
    # cannot interleave with another process; readers stay deferred under WAL.
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _deal(row: DealRow, contact: ContactRow) -> Deal:
    return Deal(
        id=row.id,
        conversation_id=row.conversation_id,
        channel=row.channel,
        contact_id=contact.id,
        contact_name=contact.name,
        phone=contact.phone,
        service_id=row.service_id,
        service_name=row.service_name,
        staff_id=row.staff_id,
        starts_at=row.starts_at,
        duration_minutes=row.duration_minutes,
        price=row.price,
        status=row.status,
        manager_id=row.manager_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        amount_paid=row.amount_paid,
    )


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(timezone.utc)


def _money(value: Decimal) -> Decimal:
    try:
        amount = Decimal(value).quantize(_CENT)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError("price must be a decimal amount") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError("price must be a non-negative amount")
    return amount


def _now() -> datetime:
    return datetime.now(timezone.utc)


_URL_SECRET = re.compile(r"(\w+://[^:/@\s]*:)[^@\s]*@")
_PHONE_LIKE = re.compile(r"\+?\d[\d ()-]{7,}\d")


def _describe(exc: SQLAlchemyError) -> str:
    # The driver error, never SQLAlchemy's text: that one carries the statement's
    # parameters, phones and names included.
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines() if original is not exc else []
    reason = lines[0] if lines else type(original).__name__
    reason = _PHONE_LIKE.sub("***", _URL_SECRET.sub(r"\1***@", reason))
    return f"CRM database unavailable: {reason[:200]}"
