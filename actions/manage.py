"""Cancelling and moving a booking the same client made earlier."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.booking import ANY_STAFF, ON_FILE
from actions.texts import button, moment_text
from crm_connector import CRMError, Deal
from crm_connector.outcomes import outcome_value

logger = logging.getLogger(__name__)


async def client_deals(tracker: Tracker) -> list[Deal]:
    """Upcoming booked deals made in this conversation.

    Known limit: a booking made in another channel is not found, since a typed phone
    number proves nothing about who types it; lifts when the client can confirm the
    phone (a code by SMS, or a contact shared by the messenger).
    """
    crm, now = context.crm(), context.now()
    found = await asyncio.to_thread(
        crm.deals, conversation_id=tracker.sender_id, status="booked", starts_after=now
    )
    return sorted(found, key=lambda d: d.starts_at)


async def deals_or_explain(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[Deal]:
    """The client's upcoming deals; when there are none, or no CRM, say so."""
    try:
        deals = await client_deals(tracker)
    except CRMError:
        logger.exception("Deals could not be read")
        say_unavailable(dispatcher)
        return []
    if not deals:
        say_none_found(dispatcher)
    return deals


def deal_text(deal: Deal) -> str:
    profile, now = context.profile(), context.now()
    start = deal.starts_at.astimezone(profile.timezone)
    member = profile.staff_member(deal.staff_id)
    who = f", мастер {member.name}" if member else ""
    return f"{deal.service_name}, {moment_text(start, now.date())}{who}"


def chosen(tracker: Tracker, deals: list[Deal]) -> Deal | None:
    wanted = next(tracker.get_latest_entity_values("deal_id"), None)
    if wanted is None:
        return deals[0] if len(deals) == 1 else None
    return next((d for d in deals if str(d.id) == str(wanted)), None)


def say_none_found(dispatcher: CollectingDispatcher) -> None:
    profile = context.profile()
    dispatcher.utter_message(
        text=(
            "Не нашла предстоящих записей в этом чате. Если вы записывались по "
            f"телефону или из другого мессенджера, позвоните нам: {profile.phone}."
        ),
        buttons=[button("Записаться", "book")],
    )


def say_unavailable(dispatcher: CollectingDispatcher) -> None:
    dispatcher.utter_message(
        text=(
            "Не получается открыть ваши записи из-за технической ошибки. Попробуйте "
            f"через минуту или позвоните нам: {context.profile().phone}."
        )
    )


class ActionCancelBooking(Action):
    """Shows the client's upcoming bookings with a button to cancel each."""

    def name(self) -> str:
        return "action_cancel_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        deals = await deals_or_explain(dispatcher, tracker)
        if not deals:
            return []
        head = "Какую запись отменить?" if len(deals) > 1 else "Отменить эту запись?"
        dispatcher.utter_message(
            text="\n".join([head, *(f"• {deal_text(d)}" for d in deals)]),
            buttons=[
                *(
                    button(
                        f"Отменить: {deal_text(d)}", "cancel_deal", deal_id=str(d.id)
                    )
                    for d in deals[:5]
                ),
                button("Не отменять", "thank"),
            ],
        )
        return []


class ActionCancelDeal(Action):
    """Cancels the chosen booking at once; subclasses say where the request came from."""

    source = "chat"

    def name(self) -> str:
        return "action_cancel_deal"

    async def find(self, tracker: Tracker) -> Deal | None:
        return chosen(tracker, await client_deals(tracker))

    def also_record(self, deal: Deal) -> list[EventType]:
        return []

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            deal = await self.find(tracker)
            if deal is None:
                say_none_found(dispatcher)
                return []
            deal = await asyncio.to_thread(context.crm().cancel, deal.id)
        except CRMError:
            logger.exception("A deal could not be cancelled")
            say_unavailable(dispatcher)
            return []
        logger.info("Deal %s cancelled by the client (%s)", deal.id, self.source)
        dispatcher.utter_message(
            text=f"Запись отменена: {deal_text(deal)}. Будем рады видеть вас в другой раз!",
            buttons=[button("Записаться снова", "book")],
        )
        return [
            SlotSet("deal_outcome", outcome_value(deal, self.source)),
            *self.also_record(deal),
        ]


class ActionRescheduleBooking(Action):
    """Starts the booking form in moving mode for the chosen (or only) booking."""

    def name(self) -> str:
        return "action_reschedule_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        deals = await deals_or_explain(dispatcher, tracker)
        if not deals:
            return []
        deal = chosen(tracker, deals)
        if deal is None:
            dispatcher.utter_message(
                text="Какую запись перенести?",
                buttons=[
                    button(deal_text(d), "move_deal", deal_id=str(d.id))
                    for d in deals[:5]
                ],
            )
            return []
        dispatcher.utter_message(text=f"Переносим запись: {deal_text(deal)}.")
        member = context.profile().staff_member(deal.staff_id)
        return [
            SlotSet("moving_deal_id", str(deal.id)),
            SlotSet("service", deal.service_id),
            SlotSet("staff_pref", member.id if member else ANY_STAFF),
            SlotSet("pd_consent", tracker.get_slot("pd_consent") or ON_FILE),
            SlotSet("client_name", deal.contact_name),
            SlotSet("phone", deal.phone),
            SlotSet("when", None),
            SlotSet("slot_key", None),
            SlotSet("confirmed", None),
            SlotSet("booking_id", None),
            FollowupAction("booking_form"),
        ]
