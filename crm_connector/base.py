"""The CRM interface, its records and its errors.

Errors raised by every backend::

    CRMError                    base of everything a backend raises on purpose
    ├── SlotTakenError          the staff member is busy at that time
    ├── DealNotFoundError       no deal with that id
    ├── InvalidTransitionError  the deal's status does not allow the change
    └── CRMUnavailableError     the store is unreachable or locked for too long
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

DEAL_STATUSES = ("booked", "cancelled", "attended", "no_show")


class CRMError(Exception):
    """Base of the errors a CRM backend raises."""


class SlotTakenError(CRMError):
    """The staff member already has a deal overlapping the requested time."""


class DealNotFoundError(CRMError):
    """No deal has the given id."""


class InvalidTransitionError(CRMError):
    """The deal's current status does not allow the requested change."""


class CRMUnavailableError(CRMError):
    """The store could not be reached or stayed locked for too long."""


@dataclass(frozen=True)
class BookingRequest:
    """What the bot knows when a client confirms a slot.

    Sending the same ``idempotency_key`` again returns the deal booked the first time.
    ``starts_at`` and ``consent_at`` must be timezone-aware; ``phone`` is E.164.
    """

    idempotency_key: str
    conversation_id: str
    channel: str
    contact_name: str
    phone: str
    service_id: str
    service_name: str
    staff_id: str
    starts_at: datetime
    duration_minutes: int
    price: Decimal
    consent_at: datetime | None = None
    manager_id: str | None = None


@dataclass(frozen=True)
class Deal:
    """A booking of one service with one staff member, as stored in the CRM."""

    id: int
    conversation_id: str
    channel: str
    contact_id: int
    contact_name: str
    phone: str
    service_id: str
    service_name: str
    staff_id: str
    starts_at: datetime
    duration_minutes: int
    price: Decimal
    status: str
    manager_id: str | None
    created_at: datetime
    updated_at: datetime
    amount_paid: Decimal | None = None

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        """Return a JSON-ready dict with datetimes in ISO 8601 at ``tz``'s offset."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "contact_id": self.contact_id,
            "contact_name": self.contact_name,
            "phone": self.phone,
            "service_id": self.service_id,
            "service_name": self.service_name,
            "staff_id": self.staff_id,
            "starts_at": self.starts_at.astimezone(tz).isoformat(),
            "ends_at": self.ends_at.astimezone(tz).isoformat(),
            "duration_minutes": self.duration_minutes,
            "price": _json_number(self.price),
            "status": self.status,
            "manager_id": self.manager_id,
            "amount_paid": (
                None if self.amount_paid is None else _json_number(self.amount_paid)
            ),
            "created_at": self.created_at.astimezone(tz).isoformat(),
            "updated_at": self.updated_at.astimezone(tz).isoformat(),
        }


@dataclass(frozen=True)
class Handoff:
    """A client's request to talk to a person, waiting for a manager."""

    id: int
    conversation_id: str
    channel: str
    reason: str
    phone: str | None
    created_at: datetime
    taken_by: str | None = None
    taken_at: datetime | None = None


class CRM(ABC):
    """Where deals, contacts and hand-offs live; the bot's schedule reads it."""

    @abstractmethod
    def book(self, request: BookingRequest) -> Deal:
        """Book atomically, or raise SlotTakenError if the staff member is busy."""

    @abstractmethod
    def reschedule(self, deal_id: int, starts_at: datetime, staff_id: str) -> Deal:
        """Move a booked deal atomically, keeping its duration."""

    @abstractmethod
    def cancel(self, deal_id: int) -> Deal:
        """Cancel a booked deal; a cancelled one is returned unchanged."""

    @abstractmethod
    def mark(self, deal_id: int, status: str, amount: Decimal | None = None) -> Deal:
        """Record a deal's outcome (see `check_outcome`); the same mark changes nothing."""

    @abstractmethod
    def assign(self, deal_id: int, manager_id: str) -> Deal:
        """Give the deal to a manager."""

    @abstractmethod
    def last_assigned_manager(self) -> str | None:
        """The manager of the most recently created deal that has one."""

    @abstractmethod
    def get_deal(self, deal_id: int) -> Deal: ...

    @abstractmethod
    def deals(
        self,
        *,
        conversation_id: str | None = None,
        phone: str | None = None,
        status: str | None = None,
        starts_after: datetime | None = None,
    ) -> list[Deal]:
        """Return matching deals ordered by start; ``starts_after`` is inclusive."""

    @abstractmethod
    def busy_intervals(
        self,
        start: datetime,
        end: datetime,
        staff_ids: Iterable[str] | None = None,
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        """Map staff ids to the sorted spans of their live deals touching [start, end).

        Every requested staff id is a key, with an empty list when free; without
        ``staff_ids`` only staff members with deals in the window appear.
        """

    @abstractmethod
    def record_handoff(
        self,
        conversation_id: str,
        channel: str,
        reason: str,
        phone: str | None = None,
    ) -> int:
        """Record that a client asked for a person and return the record's id."""

    @abstractmethod
    def handoffs(self, conversation_id: str | None = None) -> list[Handoff]: ...

    @abstractmethod
    def close(self) -> None: ...


OUTCOMES = ("attended", "no_show", "cancelled")


def check_outcome(deal: Deal, status: str, amount: Decimal | None = None) -> bool:
    """Whether marking `deal` with `status` changes it; raises for a forbidden mark.

    A booked deal can be marked attended, no-show or cancelled. A visit and a no-show
    can be corrected into each other (a client marked absent who came after all); a
    cancelled deal stays cancelled. An amount goes only with a visit.
    """
    if status not in OUTCOMES:
        raise ValueError(
            f"unknown outcome {status!r}; use one of {', '.join(OUTCOMES)}"
        )
    if amount is not None and (status != "attended" or amount < 0):
        raise ValueError("an amount paid goes only with 'attended' and is not negative")
    if deal.status == status:
        return (
            status == "attended" and amount is not None and amount != deal.amount_paid
        )
    if deal.status == "cancelled":
        raise InvalidTransitionError(f"deal {deal.id} is cancelled")
    if status == "cancelled" and deal.status != "booked":
        raise InvalidTransitionError(
            f"deal {deal.id} is {deal.status}; only booked deals can be cancelled"
        )
    return True


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
