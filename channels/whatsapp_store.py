"""What the WhatsApp channel must remember across restarts and workers, in SQL.

Three small tables, by default in the tracker store's database: message ids already
handled (Meta delivers a webhook again when it is unsure it arrived), each client's
last inbound time (the 24-hour customer window), and the short reply ids that stand
for Rasa button payloads too long for WhatsApp. Every failure is a
`WhatsAppStoreError`, wrapping the SQLAlchemy error with `from`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

logger = logging.getLogger(__name__)

# Meta retries an unacknowledged webhook for up to 7 days; keep ids a day longer.
SEEN_RETENTION_SECONDS = 8 * 24 * 3600
# A button can be pressed long after it was sent (an old reminder); keep 60 days.
REPLY_ID_RETENTION_SECONDS = 60 * 24 * 3600
PRUNE_EVERY_SECONDS = 3600
REPLY_ID_PREFIX = "wa~"

_metadata = MetaData()
SEEN_MESSAGES = Table(
    "whatsapp_seen_messages",
    _metadata,
    Column("message_id", String(191), primary_key=True),
    Column("seen_at", Float, nullable=False, index=True),
)
CONTACTS = Table(
    "whatsapp_contacts",
    _metadata,
    Column("wa_id", String(32), primary_key=True),
    Column("last_inbound_at", Float, nullable=False),
)
REPLY_IDS = Table(
    "whatsapp_reply_ids",
    _metadata,
    Column("reply_id", String(64), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("used_at", Float, nullable=False, index=True),
)


class WhatsAppStoreError(Exception):
    """The channel's tables cannot be read or written."""


def reply_id_for(payload: str) -> str:
    """The short id that stands for `payload`: the same payload, the same id."""
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:40]
    return f"{REPLY_ID_PREFIX}{digest}"


class WhatsAppStore:
    """The channel's memory; every method is one short transaction (blocking)."""

    def __init__(self, url: str) -> None:
        try:
            self._engine: Engine = create_engine(url, future=True)
        except (ArgumentError, SQLAlchemyError, ImportError) as error:
            raise WhatsAppStoreError(
                f"cannot open the WhatsApp store ({type(error).__name__})"
            ) from error
        self._ready = False
        self._lock = threading.Lock()
        self._pruned_at = 0.0

    def _ensure_tables(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                _metadata.create_all(self._engine, checkfirst=True)
                self._ready = True

    def first_sighting(self, message_id: str, at: float | None = None) -> bool:
        """Record `message_id`; False when it was recorded before (a redelivery).

        The primary key decides, so two workers given the same message at once
        cannot both see it as new.
        """
        now = time.time() if at is None else at
        try:
            self._ensure_tables()
            with self._engine.begin() as connection:
                connection.execute(
                    SEEN_MESSAGES.insert().values(message_id=message_id, seen_at=now)
                )
        except IntegrityError:
            return False
        except SQLAlchemyError as error:
            raise WhatsAppStoreError(
                f"cannot record a message id ({type(error).__name__})"
            ) from error
        self._prune_now_and_then(now)
        return True

    def take_message(
        self, message_id: str, wa_id: str, sent_at: float, at: float | None = None
    ) -> bool:
        """Record a client message and its time in one transaction; False if seen.

        The message id's primary key decides, so two workers given the same message
        at once cannot both take it, and a message is never half-recorded.
        """
        now = time.time() if at is None else at
        stage = "message"
        try:
            self._ensure_tables()
            with self._engine.begin() as connection:
                connection.execute(
                    SEEN_MESSAGES.insert().values(message_id=message_id, seen_at=now)
                )
                stage = "contact"
                self._touch_contact(connection, wa_id, sent_at)
        except IntegrityError:
            if stage == "message":
                return False
            # Another worker added this client's row first; it exists now.
            return self.take_message(message_id, wa_id, sent_at, now)
        except SQLAlchemyError as error:
            raise WhatsAppStoreError(
                f"cannot record a message ({type(error).__name__})"
            ) from error
        self._prune_now_and_then(now)
        return True

    def record_inbound(self, wa_id: str, at: float) -> None:
        """The client wrote at `at`: their 24-hour window runs from the latest time."""
        try:
            self._ensure_tables()
            with self._engine.begin() as connection:
                self._touch_contact(connection, wa_id, at)
        except IntegrityError:
            self.record_inbound(wa_id, at)  # another worker added the row first
        except SQLAlchemyError as error:
            raise WhatsAppStoreError(
                f"cannot record an inbound time ({type(error).__name__})"
            ) from error

    @staticmethod
    def _touch_contact(connection: Any, wa_id: str, at: float) -> None:
        changed = connection.execute(
            update(CONTACTS)
            .where(CONTACTS.c.wa_id == wa_id)
            .where(CONTACTS.c.last_inbound_at < at)
            .values(last_inbound_at=at)
        ).rowcount
        if changed:
            return
        known = connection.execute(
            select(CONTACTS.c.wa_id).where(CONTACTS.c.wa_id == wa_id)
        ).first()
        if known is None:
            connection.execute(
                CONTACTS.insert().values(wa_id=wa_id, last_inbound_at=at)
            )

    def last_inbound(self, wa_id: str) -> float | None:
        query = select(CONTACTS.c.last_inbound_at).where(CONTACTS.c.wa_id == wa_id)
        return self._scalar(query, "an inbound time")

    def remember_payload(self, payload: str, at: float | None = None) -> str:
        """A short reply id for a long button payload, kept for later presses."""
        now = time.time() if at is None else at
        reply_id = reply_id_for(payload)
        try:
            self._ensure_tables()
            with self._engine.begin() as connection:
                changed = connection.execute(
                    update(REPLY_IDS)
                    .where(REPLY_IDS.c.reply_id == reply_id)
                    .values(used_at=now)
                ).rowcount
                if not changed:
                    connection.execute(
                        REPLY_IDS.insert().values(
                            reply_id=reply_id, payload=payload, used_at=now
                        )
                    )
        except IntegrityError:
            pass  # another worker stored the same payload under the same id
        except SQLAlchemyError as error:
            raise WhatsAppStoreError(
                f"cannot store a reply id ({type(error).__name__})"
            ) from error
        return reply_id

    def payload_for(self, reply_id: str) -> str | None:
        query = select(REPLY_IDS.c.payload).where(REPLY_IDS.c.reply_id == reply_id)
        return self._scalar(query, "a reply id")

    def _scalar(self, query: Any, what: str) -> Any:
        try:
            self._ensure_tables()
            with self._engine.connect() as connection:
                return connection.execute(query).scalar()
        except SQLAlchemyError as error:
            raise WhatsAppStoreError(
                f"cannot read {what} ({type(error).__name__})"
            ) from error

    def prune(self, now: float | None = None) -> int:
        """Delete message ids and reply ids past their retention; how many went."""
        at = time.time() if now is None else now
        self._ensure_tables()
        with self._engine.begin() as connection:
            seen = connection.execute(
                delete(SEEN_MESSAGES).where(
                    SEEN_MESSAGES.c.seen_at < at - SEEN_RETENTION_SECONDS
                )
            ).rowcount
            replies = connection.execute(
                delete(REPLY_IDS).where(
                    REPLY_IDS.c.used_at < at - REPLY_ID_RETENTION_SECONDS
                )
            ).rowcount
        return seen + replies

    def _prune_now_and_then(self, now: float) -> None:
        if now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        try:
            removed = self.prune(now)
        except SQLAlchemyError as error:
            # Pruning is housekeeping: the next hour tries again.
            logger.warning("WhatsApp store pruning failed (%s)", type(error).__name__)
            return
        if removed:
            logger.debug("WhatsApp store pruned %d old rows", removed)

    def close(self) -> None:
        self._engine.dispose()
