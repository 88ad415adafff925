"""Answers outside the booking form: greeting, prices, address, FAQ, hand-off, misses."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.texts import (
    button,
    main_menu,
    minutes_text,
    money,
    service_buttons,
)
from business.faq import best_answer
from crm_connector import CRMError

logger = logging.getLogger(__name__)

MISS_INTENTS = {"nlu_fallback", "out_of_scope"}


def _service_entities(tracker: Tracker) -> list[str]:
    found = tracker.get_latest_entity_values("service")
    profile = context.profile()
    return [s for s in dict.fromkeys(found) if profile.service(s) is not None]


class ActionGreet(Action):
    def name(self) -> str:
        return "action_greet"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        dispatcher.utter_message(
            text=(
                f"Здравствуйте! Это {profile.name}. Я помогу записаться на удобное "
                "время, подскажу цены, адрес и часы работы. Чем могу помочь?"
            ),
            buttons=main_menu(),
        )
        return []


class ActionPrices(Action):
    def name(self) -> str:
        return "action_prices"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        asked = _service_entities(tracker)
        services = [profile.service(s) for s in asked] or list(profile.services)
        lines = [
            f"• {s.name} — {money(s.price)} ({minutes_text(s.duration_minutes)})"
            for s in services
            if s is not None
        ]
        head = "Стоимость:" if asked else "Наши цены:"
        buttons = [
            button(f"Записаться: {s.name}", "book", service=s.id)
            for s in services[:5]
            if s is not None and not tracker.active_loop_name
        ]
        dispatcher.utter_message(text="\n".join([head, *lines]), buttons=buttons)
        return []


class ActionLocation(Action):
    def name(self) -> str:
        return "action_location"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        dispatcher.utter_message(
            text=(
                f"Адрес: {profile.address}.\n"
                f"Часы работы: {profile.hours_text()}.\n"
                f"Телефон: {profile.phone}."
            ),
            buttons=[button("Записаться", "book")],
        )
        return []


class ActionServices(Action):
    def name(self) -> str:
        return "action_services"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        dispatcher.utter_message(
            text="Вот что мы делаем. Выберите услугу, чтобы записаться:",
            buttons=service_buttons(profile.services, "book"),
        )
        return []


class ActionFaq(Action):
    def name(self) -> str:
        return "action_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        entry = best_answer(tracker.latest_message.get("text") or "", profile.faq)
        if entry is not None:
            dispatcher.utter_message(text=entry.answer)
            return []
        dispatcher.utter_message(
            text=(
                "Точного ответа на этот вопрос у меня нет. Могу передать его "
                f"администратору, или позвоните нам: {profile.phone}."
            ),
            buttons=main_menu(),
        )
        return []


class ActionHandoff(Action):
    """Records that the client asked for a person and answers honestly how to get one."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        # The latest message is the request itself; the misses are the ones before it.
        misses = _misses(tracker, skip_latest=True)
        reason = "misunderstood" if misses >= 2 else "client_request"
        try:
            handoff_id = await asyncio.to_thread(
                context.crm().record_handoff,
                tracker.sender_id,
                tracker.get_latest_input_channel() or "unknown",
                reason,
                tracker.get_slot("phone"),
            )
        except CRMError:
            logger.exception("Could not record a hand-off")
            handoff_id = None
        dispatcher.utter_message(
            text=(
                "Передала ваш запрос администратору, он свяжется с вами в рабочее "
                f"время ({profile.hours_text()}). Если вопрос срочный, позвоните: "
                f"{profile.phone}."
            ),
        )
        if handoff_id is None:
            return []
        return [SlotSet("handoff_id", str(handoff_id))]


def _misses(tracker: Tracker, skip_latest: bool = False) -> int:
    """How many of the latest client messages in a row were not understood."""
    count = 0
    messages = (e for e in reversed(tracker.events) if e.get("event") == "user")
    if skip_latest:
        next(messages, None)
    for event in messages:
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name") not in MISS_INTENTS:
            break
        count += 1
    return count


class ActionFallback(Action):
    """Answers a message that was not understood; after two in a row offers a person."""

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if not tracker.active_loop_name and _service_entities(tracker):
            # Unsure of the intent, but a service was named ("на педикюр послезавтра
            # в 12"): that is a booking; the form reads the rest of the message.
            return [FollowupAction("booking_form")]
        if tracker.active_loop_name:
            dispatcher.utter_message(text="Извините, не поняла ответ.")
            if _misses(tracker) >= 2:
                dispatcher.utter_message(
                    text="Если удобнее, подключу администратора.",
                    buttons=[button("Связаться с администратором", "request_human")],
                )
            return []
        if _misses(tracker) >= 2:
            dispatcher.utter_message(
                text=(
                    "Кажется, я вас не понимаю. Давайте подключу администратора — "
                    "он ответит на любой вопрос."
                ),
                buttons=[
                    button("Связаться с администратором", "request_human"),
                    button("Записаться", "book"),
                ],
            )
            return []
        dispatcher.utter_message(
            text=(
                "Извините, не совсем поняла. Я могу записать вас, подсказать цены, "
                "адрес и часы работы."
            ),
            buttons=main_menu(),
        )
        return []
