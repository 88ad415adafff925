"""Fixtures for the reminders: a CRM and its reminders table on both engines, a fake
Rasa API, and a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from business.profile import BusinessProfile
from crm_connector import BookingRequest, Deal, SqlCRM
from reminders.delivery import RasaDelivery
from reminders.scheduler import Scheduler
from reminders.store import ReminderStore
from tests.conftest import OMSK
from tests.fakes.rasa_api import FakeRasa


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of December 2026 in Omsk."""
    return datetime(2026, 12, day, hour, minute, tzinfo=OMSK)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def crm(db_url: str) -> Iterator[SqlCRM]:
    crm = SqlCRM(db_url)
    yield crm
    crm.close()


@pytest.fixture
def store(db_url: str) -> Iterator[ReminderStore]:
    store = ReminderStore(db_url)
    yield store
    store.close()


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa()
    yield fake
    fake.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock(at(3, 10))


@pytest.fixture
def scheduler(
    store: ReminderStore, rasa: FakeRasa, profile: BusinessProfile, clock: Clock
) -> Iterator[Scheduler]:
    delivery = RasaDelivery(rasa.url, rasa.token, timeout=5)
    yield Scheduler(store, delivery, profile, clock, worker="test-1")
    delivery.close()


def book(crm: SqlCRM, key: str, starts_at: datetime, **changes: Any) -> Deal:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "conversation_id": f"conv-{key}",
        "channel": "rest",
        "contact_name": "Мария",
        "phone": "+79131000001",
        "service_id": "manicure",
        "service_name": "Маникюр",
        "staff_id": "anna",
        "starts_at": starts_at,
        "duration_minutes": 90,
        "price": Decimal(1500),
    }
    fields.update(changes)
    return crm.book(BookingRequest(**fields))
