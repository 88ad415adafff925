"""Booking builders and the worker that races for a slot from another process."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crm_connector import BookingRequest, SlotTakenError, SqlCRM

OMSK = ZoneInfo("Asia/Omsk")
DAY = datetime(2030, 3, 4, tzinfo=OMSK)


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    """A time on the test day, in the business time zone."""
    return DAY + timedelta(days=days, hours=hour, minutes=minute)


def booking(key: str, **changes: Any) -> BookingRequest:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "conversation_id": "conv-1",
        "channel": "telegram",
        "contact_name": "Анна Петрова",
        "phone": "+79991234567",
        "service_id": "haircut",
        "service_name": "Стрижка",
        "staff_id": "olga",
        "starts_at": at(15),
        "duration_minutes": 60,
        "price": Decimal("2500.00"),
    }
    fields.update(changes)
    return BookingRequest(**fields)


def race_for_slot(url: str, key: str, barrier: Any, results: Any) -> None:
    """Book the shared slot once the other processes are ready; report the outcome."""
    crm = SqlCRM(url)
    try:
        crm.deals(conversation_id="warm-up")
        barrier.wait(timeout=60)
        try:
            deal = crm.book(booking(key, starts_at=at(15, 15)))
        except SlotTakenError:
            results.put(("taken", key))
        else:
            results.put(("deal", deal.id))
    except BaseException as exc:  # the parent must hear about anything unexpected
        results.put(("error", repr(exc)))
    finally:
        crm.close()
