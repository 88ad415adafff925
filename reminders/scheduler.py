"""The scheduler: plans reminders from the deals, claims the due ones, delivers them."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from business.profile import BusinessProfile
from reminders.errors import DeliveryError, ReminderError
from reminders.plan import is_quiet
from reminders.store import Reminder, ReminderStore

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# A reminder is still worth sending this long after its time (a restart, a retry).
GRACE = timedelta(minutes=30)
# A claim older than this was left by a worker that died mid-delivery.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5


class Deliverer(Protocol):
    def deliver(self, conversation_id: str, deal_id: int, reminder_id: int) -> None: ...


@dataclass
class PassResult:
    planned: int = 0
    sent: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Scheduler:
    """One worker; any number of them may share a database.

    `delivered` tells whether a reminder already reached the client's conversation;
    with it, a reminder abandoned mid-delivery by a dead worker is not sent twice.
    """

    def __init__(
        self,
        store: ReminderStore,
        deliverer: Deliverer,
        profile: BusinessProfile,
        clock: Clock,
        worker: str | None = None,
        delivered: Callable[[Reminder], bool] | None = None,
    ) -> None:
        self.store = store
        self.delivered = delivered
        self.deliverer = deliverer
        self.profile = profile
        self.clock = clock
        self.worker = worker or worker_name()

    def run_once(self) -> PassResult:
        """One pass: plan, recover abandoned claims, deliver what is due."""
        result = PassResult()
        now = self.clock()
        rules, tz = self.profile.reminders, self.profile.timezone
        result.planned = self.store.sync(rules, tz, now, GRACE)
        self.store.reclaim_stale(now, LEASE, self.delivered)
        if is_quiet(rules, now, tz):
            return result  # never at night; what is due waits or expires
        for reminder in self.store.due(now):
            self._one(reminder, now, result)
        return result

    def _one(self, reminder: Reminder, now: datetime, result: PassResult) -> None:
        if now - reminder.fire_at > GRACE or now >= reminder.starts_at:
            if self.store.skip(reminder.id, "passed", now):
                logger.info("Reminder %s skipped: its time has passed", reminder.id)
                result.skipped.append(reminder.id)
            return
        if not self.store.claim(reminder.id, self.worker, now):
            return  # another worker has it, or the booking changed
        try:
            self.deliverer.deliver(
                reminder.conversation_id, reminder.deal_id, reminder.id
            )
        except DeliveryError as error:
            self._failed(reminder, now, str(error), result)
            return
        self.store.finish(reminder.id, self.worker, "sent", self.clock())
        logger.info(
            "Reminder %s sent for deal %s (%d min ahead)",
            reminder.id,
            reminder.deal_id,
            reminder.before_minutes,
        )
        result.sent.append(reminder.id)

    def _failed(
        self, reminder: Reminder, now: datetime, reason: str, result: PassResult
    ) -> None:
        attempts = reminder.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self.store.finish(reminder.id, self.worker, "failed", now, reason=reason)
            logger.error("Reminder %s failed for good: %s", reminder.id, reason)
            result.failed.append(reminder.id)
            return
        retry_at = now + timedelta(minutes=2 ** (attempts - 1))
        self.store.finish(
            reminder.id, self.worker, "pending", now, reason=reason, retry_at=retry_at
        )
        logger.warning(
            "Reminder %s not delivered (%s); retry %d at %s",
            reminder.id,
            reason,
            attempts,
            retry_at.isoformat(),
        )
        result.retried.append(reminder.id)

    def serve(self, stop: threading.Event, interval: float) -> None:
        """Pass after pass until `stop` is set; a failing pass is logged, not fatal."""
        logger.info("Reminder scheduler %s started", self.worker)
        while not stop.is_set():
            try:
                result = self.run_once()
                if result.sent or result.failed:
                    logger.debug("Pass: %s", result)
            except ReminderError as error:
                logger.error("Reminder pass failed: %s", error)
            stop.wait(interval)
        logger.info("Reminder scheduler %s stopped", self.worker)
