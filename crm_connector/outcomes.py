"""What happened to a deal after the chat, written to the CRM and to the lead's log.

One code path for every writer: the CRM command line now, the managers' bot and
Bitrix24 stage changes later. The event goes to the conversation log first and the
CRM second: if the CRM write then fails, running the same mark again writes both, and
the KPI reports count a deal's latest outcome once however often it was logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from decimal import Decimal
from typing import Any

from conversation_log import ConversationLog
from crm_connector.base import CRM, CRMError, Deal, check_outcome

logger = logging.getLogger(__name__)


class OutcomeError(CRMError):
    """The outcome cannot be recorded (no conversation for the deal, unknown manager)."""


@dataclass(frozen=True)
class Recorded:
    deal: Deal
    changed: bool


def next_manager(manager_ids: Sequence[str], last: str | None) -> str | None:
    """Round robin: the manager after the one who got the latest deal."""
    if not manager_ids:
        return None
    if last is None or last not in manager_ids:
        return manager_ids[0]
    return manager_ids[(list(manager_ids).index(last) + 1) % len(manager_ids)]


def booking_value(deal: Deal, tz: tzinfo, moved: bool = False) -> dict[str, Any]:
    """The `booking` slot value for the deal as it is now (docs/event-log.md)."""
    return {
        "deal_id": deal.id,
        "service_id": deal.service_id,
        "service_name": deal.service_name,
        "staff_id": deal.staff_id,
        "starts_at": deal.starts_at.astimezone(tz).isoformat(),
        "duration_minutes": deal.duration_minutes,
        "price": float(deal.price),
        "manager_id": deal.manager_id,
        "moved": moved,
    }


def outcome_value(deal: Deal, source: str) -> dict[str, Any]:
    """The `deal_outcome` slot value for the deal as it is now (docs/event-log.md)."""
    amount = deal.amount_paid
    return {
        "deal_id": deal.id,
        "status": deal.status,
        "amount": None if amount is None else float(amount),
        "manager_id": deal.manager_id,
        "source": source,
    }


def record_outcome(
    crm: CRM,
    log: ConversationLog,
    deal_id: int,
    status: str,
    *,
    amount: Decimal | None = None,
    manager_id: str | None = None,
    source: str = "cli",
) -> Recorded:
    """Mark the deal (and give it to `manager_id`); the same mark again changes nothing."""
    deal = crm.get_deal(deal_id)
    changes_outcome = check_outcome(deal, status, amount)
    reassigns = manager_id is not None and manager_id != deal.manager_id
    if not changes_outcome and not reassigns:
        return Recorded(deal, changed=False)
    if not log.has_conversation(deal.conversation_id):
        raise OutcomeError(f"deal {deal_id} has no conversation in the log")

    final_manager = manager_id if reassigns else deal.manager_id
    expected = replace(
        deal,
        status=status,
        manager_id=final_manager,
        amount_paid=amount if status == "attended" else None,
    )
    slots: list[tuple[str, Any]] = []
    if reassigns:
        slots.append(("deal_manager", {"deal_id": deal.id, "manager_id": manager_id}))
    if changes_outcome:
        slots.append(("deal_outcome", outcome_value(expected, source)))
    log.append_slots(deal.conversation_id, slots)

    if reassigns and manager_id is not None:
        deal = crm.assign(deal_id, manager_id)
    if changes_outcome:
        deal = crm.mark(deal_id, status, amount)
    logger.info("Deal %s: outcome %s recorded from %s", deal_id, status, source)
    return Recorded(deal, changed=True)


def reassign(crm: CRM, log: ConversationLog, deal_id: int, manager_id: str) -> Recorded:
    """Give the deal to another manager, in the CRM and in the lead's log."""
    deal = crm.get_deal(deal_id)
    if deal.manager_id == manager_id:
        return Recorded(deal, changed=False)
    if not log.has_conversation(deal.conversation_id):
        raise OutcomeError(f"deal {deal_id} has no conversation in the log")
    log.append_slots(
        deal.conversation_id,
        [("deal_manager", {"deal_id": deal.id, "manager_id": manager_id})],
    )
    return Recorded(crm.assign(deal_id, manager_id), changed=True)
