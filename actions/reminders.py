"""Reminders in the chat: the reminder itself, and the client's confirm, cancel, move."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.manage import (
    ActionCancelDeal,
    ActionRescheduleBooking,
    client_deals,
    deal_text,
    say_none_found,
    say_unavailable,
)
from actions.texts import button
from business.profile import BusinessProfile
from business.russian import MONTHS_GENITIVE, ON_WEEKDAY, morph
from crm_connector import CRMError, Deal, DealNotFoundError

logger = logging.getLogger(__name__)


def visit_moment(start: datetime, now: datetime) -> str:
    """'сегодня в 15:00', 'завтра, 4 декабря, в 15:00', 'в пятницу, 5 декабря, в 15:00'."""
    days = (start.date() - now.date()).days
    clock = f"в {start:%H:%M}"
    if days == 0:
        return f"сегодня {clock}"
    label = f"{start.day} {MONTHS_GENITIVE[start.month - 1]}"
    if days == 1:
        return f"завтра, {label}, {clock}"
    return f"{ON_WEEKDAY[start.weekday()]}, {label}, {clock}"


def genitive(name: str) -> str:
    """A person's name after 'у': Анна -> Анны, Игорь -> Игоря; unknown words stay."""
    words = []
    for word in name.split():
        parses = [
            p for p in morph().parse(word) if {"Name", "Surn", "Patr"} & p.tag.grammemes
        ]
        inflected = parses[0].inflect({"gent"}) if parses else None
        text = inflected.word if inflected else word
        words.append(text[:1].upper() + text[1:] if word[:1].isupper() else text)
    return " ".join(words)


def reminder_text(deal: Deal, profile: BusinessProfile, now: datetime) -> str:
    start = deal.starts_at.astimezone(profile.timezone)
    service = deal.service_name[:1].lower() + deal.service_name[1:]
    member = profile.staff_member(deal.staff_id)
    who = f" у {genitive(member.name)}" if member else ""
    return (
        f"Напоминаем: {visit_moment(start, now)} {service}{who}.\n"
        f"{profile.name}, {profile.address}.\n"
        "Пожалуйста, подтвердите визит. Если планы изменились, запись можно "
        "отменить или перенести."
    )


def reminder_buttons(deal_id: int) -> list[dict[str, str]]:
    deal = str(deal_id)
    return [
        button("Подтвердить", "confirm_visit", deal_id=deal),
        button("Отменить", "reminder_cancel", deal_id=deal),
        button("Перенести", "reminder_move", deal_id=deal),
    ]


def answer(deal: Deal, reply: str) -> SlotSet:
    """The `reminder_answer` event the KPI reports count (docs/event-log.md)."""
    return SlotSet("reminder_answer", {"deal_id": deal.id, "answer": reply})


def _entity(tracker: Tracker, name: str) -> int | None:
    value = next(tracker.get_latest_entity_values(name), None)
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


async def reminded_deal(tracker: Tracker) -> Deal | None:
    """The upcoming booking of this conversation a reminder answer is about: the
    button's deal, else the deal of the latest reminder."""
    wanted = _entity(tracker, "deal_id")
    if wanted is None:
        latest = tracker.get_slot("reminder") or {}
        wanted = latest.get("deal_id") if isinstance(latest, dict) else None
    deals = await client_deals(tracker)
    return next((d for d in deals if d.id == wanted), None)


class ActionSendReminder(Action):
    """Says the reminder the scheduler triggered, if the booking still stands."""

    def name(self) -> str:
        return "action_send_reminder"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        deal_id = _entity(tracker, "deal_id")
        reminder_id = _entity(tracker, "reminder_id")
        if deal_id is None:
            logger.warning("A reminder came without a deal id")
            return []
        try:
            deal = await asyncio.to_thread(context.crm().get_deal, deal_id)
        except DealNotFoundError:
            logger.warning("Reminder %s names no deal %s", reminder_id, deal_id)
            return []
        except CRMError:
            # Nothing said, no `reminder` slot: the scheduler sees that in Rasa's
            # answer and tries again later.
            logger.exception("Reminder %s: the CRM could not be read", reminder_id)
            return []
        profile, now = context.profile(), context.now()
        if (
            deal.status != "booked"
            or deal.conversation_id != tracker.sender_id
            or deal.starts_at <= now
        ):
            logger.info("Reminder %s dropped: deal %s changed", reminder_id, deal_id)
            return []
        dispatcher.utter_message(
            text=reminder_text(deal, profile, now), buttons=reminder_buttons(deal.id)
        )
        return [
            SlotSet(
                "reminder",
                {
                    "reminder_id": reminder_id,
                    "deal_id": deal.id,
                    "starts_at": deal.starts_at.astimezone(
                        profile.timezone
                    ).isoformat(),
                },
            )
        ]


class ActionConfirmVisit(Action):
    def name(self) -> str:
        return "action_confirm_visit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            deal = await reminded_deal(tracker)
        except CRMError:
            logger.exception("Deals could not be read")
            say_unavailable(dispatcher)
            return []
        if deal is None:
            say_none_found(dispatcher)
            return []
        logger.info("Deal %s confirmed from a reminder", deal.id)
        dispatcher.utter_message(
            text=f"Спасибо, ждём вас: {deal_text(deal)}. До встречи!"
        )
        return [answer(deal, "confirmed")]


class ActionReminderCancel(ActionCancelDeal):
    """Cancels the reminded booking at once: the slot is free for others."""

    source = "reminder"

    def name(self) -> str:
        return "action_reminder_cancel"

    async def find(self, tracker: Tracker) -> Deal | None:
        return await reminded_deal(tracker)

    def also_record(self, deal: Deal) -> list[EventType]:
        return [answer(deal, "cancelled")]


class ActionReminderMove(ActionRescheduleBooking):
    """The chat's own move flow, counted as a reminder's answer when it starts."""

    def name(self) -> str:
        return "action_reminder_move"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        moving = next(
            (e for e in events if e.get("name") == "moving_deal_id" and e["value"]),
            None,
        )
        if moving is None:
            return events
        return [
            SlotSet(
                "reminder_answer", {"deal_id": int(moving["value"]), "answer": "move"}
            ),
            *events,
        ]
