"""The outbox worker: delivers queued deals to Bitrix24 and applies stage events back.

A separate process (``python -m crm_connector worker``), so a reply to a client never
waits for Bitrix24. Errors of one delivery never stop the loop: they stay on the
queued rows (see ``crm_connector.outbox``) and are tried again with a backoff.
One worker per database: a second one refuses to start (see `SingleWorkerLock`).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from business.profile import BusinessProfile
from conversation_log import ConversationLog, ConversationLogError
from crm_connector.base import CRMError, CRMUnavailableError, DealNotFoundError
from crm_connector.bitrix24.backend import Bitrix24Mirror
from crm_connector.bitrix24.client import (
    Bitrix24Client,
    Bitrix24Error,
    Bitrix24OperationLimit,
    Bitrix24UnavailableError,
)
from crm_connector.bitrix24.inbound import make_app
from crm_connector.bitrix24.store import Bitrix24Store, InboundEvent, Link
from crm_connector.outbox import Due, Outbox, errors, utc_now
from crm_connector.outcomes import OutcomeError, record_outcome
from crm_connector.sql import SqlCRM, open_engine

logger = logging.getLogger(__name__)

# One lock per database schema (the CRM's tables may share a database with others).
_KEY = (0x42323457, func.hashtext(func.current_schema()))  # "B24W"
_ANOTHER_WORKER = "another Bitrix24 worker is running on this CRM database"

# Bitrix24 ends any request after 60 s; a timed-out create is settled by then.
MAX_REQUEST_SECONDS = 60
# The wait after the database or the loop itself failed, so the log is not flooded.
ERROR_PAUSE = 5.0


class SingleWorkerLock:
    """Held while a worker runs: a PostgreSQL advisory lock or an SQLite lock file.

    Two workers would both see a deal due and could both create it; the lock makes
    the second one stop with a clear message instead. A killed worker's lock goes
    with its process (its connection or its file descriptor).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        if self._engine.dialect.name == "postgresql":
            with errors():
                connection = self._engine.connect()
                got = connection.execute(
                    select(func.pg_try_advisory_lock(*_KEY))
                ).scalar()
                connection.commit()
            if not got:
                connection.close()
                raise CRMError(_ANOTHER_WORKER)
            self._connection = connection
            return
        database = self._engine.url.database or "crm.db"
        handle = open(f"{database}.bitrix24-worker.lock", "ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise CRMError(_ANOTHER_WORKER) from exc
        self._file = handle

    def release(self) -> None:
        if self._connection is not None:
            # The pool keeps the session, and a session lock with it: unlock first.
            with errors():
                self._connection.execute(select(func.pg_advisory_unlock(*_KEY)))
                self._connection.commit()
            self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class Stats:
    delivered: int = 0
    failed: int = 0
    events: int = 0
    delivery_seconds: list[float] = field(default_factory=list)


class Worker:
    """One delivery loop and, with an application token, the inbound endpoint."""

    def __init__(
        self,
        *,
        crm_url: str,
        log_url: str,
        profile: BusinessProfile,
        client: Bitrix24Client,
        app_token: str | None = None,
        poll_seconds: float = 0.5,
        backoff_seconds: float = 2.0,
        settle_seconds: float = MAX_REQUEST_SECONDS + 10,
    ) -> None:
        self.crm = SqlCRM(crm_url, outbox=True)
        self.log = ConversationLog(log_url)
        self._engine = open_engine(crm_url)
        self.outbox = Outbox(self._engine, backoff_seconds)
        self.store = Bitrix24Store(self._engine)
        self.client = client
        self.mirror = Bitrix24Mirror(client, profile.crm.bitrix24, profile)
        self.settings = profile.crm.bitrix24
        self.app_token = app_token
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.stats = Stats()
        self.lock = SingleWorkerLock(self._engine)

    async def deliver_due(self, limit: int = 50) -> int:
        """Send every due deal once; return how many were tried."""
        due = await asyncio.to_thread(self.outbox.due, limit)
        for item in due:
            await self.deliver(item)
        return len(due)

    async def deliver(self, due: Due) -> bool:
        started = time.monotonic()
        link: Link | None = None
        try:
            deal = await asyncio.to_thread(self.crm.get_deal, due.deal_id)
            link = await asyncio.to_thread(self.store.link, due.deal_id)
            await self.mirror.sync(deal, link, self._save)
            await asyncio.to_thread(self.store.save_link, link, due)
        except Bitrix24OperationLimit as exc:
            retry_at = datetime.fromtimestamp(exc.reset_at, timezone.utc)
            await self._failed(due, link, str(exc), retry_at)
            return False
        except Bitrix24UnavailableError as exc:
            retry_at = None
            if exc.code == "TIMEOUT" and (
                exc.method == "batch" or ".add" in exc.method
            ):
                # Bitrix24 may still be running the create: look it up only once
                # it must have finished, or the lookup misses it and doubles it.
                retry_at = utc_now() + timedelta(seconds=self.settle_seconds)
            await self._failed(due, link, str(exc), retry_at)
            return False
        except (CRMError, ConversationLogError) as exc:
            await self._failed(due, link, str(exc))
            return False
        self.stats.delivered += 1
        self.stats.delivery_seconds.append(time.monotonic() - started)
        return True

    async def process_inbound(self, limit: int = 20) -> int:
        events = await asyncio.to_thread(self.store.due_inbound, limit)
        for event in events:
            await self.apply(event)
        return len(events)

    async def apply(self, event: InboundEvent) -> None:
        """Record the outcome a Bitrix24 stage means, through record_outcome."""
        try:
            remote = await self.mirror.outcome(event.b24_deal_id)
            if remote is None:
                result = "not a deal of ours (unknown in Bitrix24 or another origin)"
            elif remote.status is None or remote.status == "booked":
                result = "stage is not an outcome; nothing to record"
            else:
                done = await asyncio.to_thread(
                    record_outcome,
                    self.crm,
                    self.log,
                    remote.deal_id,
                    remote.status,
                    amount=remote.amount,
                    source="bitrix24",
                )
                state = "recorded" if done.changed else "already recorded"
                result = f"deal {remote.deal_id}: {remote.status} {state}"
        except (CRMUnavailableError, ConversationLogError, Bitrix24Error) as exc:
            # Our side or Bitrix24 is down: keep the event and try again later.
            logger.warning("Bitrix24 event %s kept for later: %s", event.id, exc)
            await asyncio.to_thread(self.store.inbound_failed, event, str(exc))
            return
        except (DealNotFoundError, OutcomeError, CRMError, ValueError) as exc:
            result = f"refused: {exc}"
        logger.info("Bitrix24 event %s: %s", event.id, result)
        await asyncio.to_thread(self.store.inbound_done, event.id, result)
        self.stats.events += 1

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await asyncio.to_thread(self.lock.acquire)
        except CRMError:
            await self.close()
            raise
        runner = await self._serve_inbound()
        logger.info("Bitrix24 worker started for %s", self.client.masked_url)
        try:
            while not stop.is_set():
                try:
                    busy = await self.deliver_due() + await self.process_inbound()
                    pause = self.poll_seconds
                except CRMError as exc:
                    logger.error("Bitrix24 worker: %s", exc)
                    busy, pause = 0, max(self.poll_seconds, ERROR_PAUSE)
                if not busy:
                    try:
                        await asyncio.wait_for(stop.wait(), pause)
                    except asyncio.TimeoutError:
                        pass
        finally:
            if runner is not None:
                await runner.cleanup()
            await self.close()

    async def close(self) -> None:
        try:
            self.lock.release()
        except CRMError as exc:  # the lock dies with the connection anyway
            logger.warning("Bitrix24 worker lock not released cleanly: %s", exc)
        await self.client.close()
        self.crm.close()
        self.log.close()
        self._engine.dispose()

    async def _serve_inbound(self) -> web.AppRunner | None:
        if not self.app_token:
            logger.warning(
                "BITRIX24_APP_TOKEN is not set: stage changes in Bitrix24 are not"
                " received (deliveries still run)"
            )
            return None
        runner = web.AppRunner(
            make_app(self.app_token, self.store.add_inbound), access_log=None
        )
        await runner.setup()
        site = web.TCPSite(
            runner, self.settings.inbound_host, self.settings.inbound_port
        )
        await site.start()
        logger.info(
            "Bitrix24 events endpoint on %s:%s",
            self.settings.inbound_host,
            self.settings.inbound_port,
        )
        return runner

    async def _save(self, link: Link) -> None:
        # The checkpoint before a create: committed before the request leaves.
        await asyncio.to_thread(self.store.save_link, link)

    async def _failed(
        self,
        due: Due,
        link: Link | None,
        error: str,
        retry_at: datetime | None = None,
    ) -> None:
        self.stats.failed += 1
        if link is not None and link.add_sent:
            # Keep what the failed attempt learnt (a deal id saves a lookup).
            try:
                await asyncio.to_thread(self.store.save_link, link)
            except CRMError as exc:
                logger.warning("Deal %s: link not saved: %s", due.deal_id, exc)
        when = await asyncio.to_thread(self.outbox.failed, due, error, retry_at)
        logger.warning(
            "Deal %s not delivered to Bitrix24 (attempt %s), next at %s: %s",
            due.deal_id,
            due.attempts + 1,
            when.strftime("%H:%M:%S"),
            error,
        )
