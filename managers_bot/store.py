"""The bot's own tables: lead cards, the messages that belong to them, cursors.

They live in the CRM's database by default (``mbot_`` tables). Every write that must
happen once (a card posted, a lead taken, a weekly report sent) is decided by the
database: a unique key or a conditional UPDATE, so that two taps, two processes or a
restart never do it twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from managers_bot.errors import StoreError

_metadata = MetaData()
CARDS = Table(
    "mbot_cards",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("conversation_id", String(255), nullable=False),
    Column("deal_id", Integer),
    Column("handoff_id", String(64)),
    Column("event_id", Integer, nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("chat_id", BigInteger),
    Column("message_id", BigInteger),
    Column("taken_by", String(64)),
    Column("taken_at", Float),
    Column("takeover", Boolean, nullable=False, default=False),
    Column("outcome", String(32)),
    Column("last_reply_at", Float),
    Column("text", Text),
)
MESSAGES = Table(
    "mbot_messages",
    _metadata,
    Column("chat_id", BigInteger, primary_key=True),
    Column("message_id", BigInteger, primary_key=True),
    Column("card_id", Integer, nullable=False),
)
STATE = Table(
    "mbot_state",
    _metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)
SENT_REPORTS = Table(
    "mbot_sent_reports",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("period", String(64), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("sent_at", Float, nullable=False),
    UniqueConstraint("period", "chat_id"),
)


@dataclass(frozen=True)
class Card:
    id: int
    key: str
    kind: str
    conversation_id: str
    deal_id: int | None
    handoff_id: str | None
    event_id: int
    requested_at: float
    chat_id: int | None
    message_id: int | None
    taken_by: str | None
    taken_at: float | None
    takeover: bool
    outcome: str | None
    last_reply_at: float | None
    text: str | None


@dataclass(frozen=True)
class Take:
    """The result of a tap on «Взять»: who holds the card now, and if this tap won."""

    won: bool
    card: Card


class Store:
    def __init__(self, url: str) -> None:
        try:
            # SQLite: wait for another writer (Rasa, the CRM) instead of failing.
            args = {"timeout": 15} if url.startswith("sqlite") else {}
            self._engine: Engine = create_engine(url, future=True, connect_args=args)
            _metadata.create_all(self._engine)
        except (SQLAlchemyError, ImportError) as error:
            raise StoreError(
                f"cannot open the managers' bot tables ({type(error).__name__})"
            ) from error

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as connection:
                yield connection
        except SQLAlchemyError as error:
            raise StoreError(f"managers' bot tables: {type(error).__name__}") from error

    # Cards

    def add_card(self, **fields: Any) -> Card | None:
        """Insert a card with a new key; None when a card with that key exists."""
        try:
            with self._engine.begin() as connection:
                card_id = connection.execute(
                    insert(CARDS).values(takeover=False, **fields)
                ).inserted_primary_key[0]
        except IntegrityError:
            return None
        except SQLAlchemyError as error:
            raise StoreError(f"cannot add a card ({type(error).__name__})") from error
        return self.card(card_id)

    def card(self, card_id: int) -> Card | None:
        with self._begin() as connection:
            row = connection.execute(select(CARDS).where(CARDS.c.id == card_id)).first()
        return None if row is None else Card(**row._mapping)

    def unposted_cards(self) -> list[Card]:
        with self._begin() as connection:
            rows = connection.execute(
                select(CARDS).where(CARDS.c.message_id.is_(None)).order_by(CARDS.c.id)
            ).all()
        return [Card(**row._mapping) for row in rows]

    def takeovers(self) -> list[Card]:
        with self._begin() as connection:
            rows = connection.execute(
                select(CARDS).where(CARDS.c.takeover.is_(True)).order_by(CARDS.c.id)
            ).all()
        return [Card(**row._mapping) for row in rows]

    def card_of_message(self, chat_id: int, message_id: int) -> Card | None:
        with self._begin() as connection:
            card_id = connection.execute(
                select(MESSAGES.c.card_id).where(
                    MESSAGES.c.chat_id == chat_id, MESSAGES.c.message_id == message_id
                )
            ).scalar()
        return None if card_id is None else self.card(card_id)

    def remember_message(
        self, card_id: int, chat_id: int, message_id: int, is_card: bool = False
    ) -> None:
        with self._begin() as connection:
            # A chat's message ids are unique; a stale row (a chat re-created) yields.
            connection.execute(
                MESSAGES.delete().where(
                    MESSAGES.c.chat_id == chat_id, MESSAGES.c.message_id == message_id
                )
            )
            connection.execute(
                insert(MESSAGES).values(
                    chat_id=chat_id, message_id=message_id, card_id=card_id
                )
            )
            if is_card:
                connection.execute(
                    update(CARDS)
                    .where(CARDS.c.id == card_id)
                    .values(chat_id=chat_id, message_id=message_id)
                )

    def take(self, card_id: int, manager_id: str, at: float) -> Take | None:
        """The first tap wins: one conditional UPDATE decides it in the database."""
        with self._begin() as connection:
            won = connection.execute(
                update(CARDS)
                .where(CARDS.c.id == card_id, CARDS.c.taken_by.is_(None))
                .values(taken_by=manager_id, taken_at=at)
            ).rowcount
        card = self.card(card_id)
        return None if card is None else Take(won=won == 1, card=card)

    def set_takeover(self, card_id: int, on: bool) -> bool:
        """Start or end the manager's conversation; False when it already was so."""
        with self._begin() as connection:
            return (
                connection.execute(
                    update(CARDS)
                    .where(CARDS.c.id == card_id, CARDS.c.takeover.is_(not on))
                    .values(takeover=on)
                ).rowcount
                == 1
            )

    def update_card(self, card_id: int, **values: Any) -> None:
        with self._begin() as connection:
            connection.execute(
                update(CARDS).where(CARDS.c.id == card_id).values(**values)
            )

    # Cursors and reports

    def get_state(self, name: str) -> str | None:
        with self._begin() as connection:
            return connection.execute(
                select(STATE.c.value).where(STATE.c.name == name)
            ).scalar()

    def set_state(self, name: str, value: str) -> None:
        with self._begin() as connection:
            changed = connection.execute(
                update(STATE).where(STATE.c.name == name).values(value=value)
            ).rowcount
            if not changed:
                connection.execute(insert(STATE).values(name=name, value=value))

    def claim_report(self, period: str, chat_id: int) -> bool:
        """Claim the sending of one period's report; False when it is claimed already."""
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(SENT_REPORTS).values(
                        period=period, chat_id=chat_id, sent_at=time.time()
                    )
                )
        except IntegrityError:
            return False
        except SQLAlchemyError as error:
            raise StoreError(
                f"cannot record a sent report ({type(error).__name__})"
            ) from error
        return True

    def release_report(self, period: str, chat_id: int) -> None:
        """Forget a claim whose sending failed, so that the next attempt sends it."""
        with self._begin() as connection:
            connection.execute(
                SENT_REPORTS.delete().where(
                    SENT_REPORTS.c.period == period, SENT_REPORTS.c.chat_id == chat_id
                )
            )

    def close(self) -> None:
        self._engine.dispose()
