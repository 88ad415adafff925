"""The booking form's questions: each `action_ask_*` asks for the next slot, with
buttons built from the profile and the free slots, and explains a time that cannot be
had before offering the nearest ones."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.booking import (
    ANY_STAFF,
    busy_times,
    preference_from_slot,
    slot_buttons,
    staff_filter,
    summary,
)
from actions.texts import (
    button,
    day_text,
    minutes_text,
    service_buttons,
)
from business.profile import BusinessProfile
from crm_connector import CRMError
from schedule.slots import (
    Busy,
    Slot,
    Unavailable,
    free_slots,
    last_day,
    why_unavailable,
)
from schedule.when import WhenPreference

logger = logging.getLogger(__name__)


class _Ask(Action):
    slot = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"


class ActionAskService(_Ask):
    slot = "service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        dispatcher.utter_message(
            text="На какую услугу вас записать?",
            buttons=service_buttons(profile.services, "inform"),
        )
        return []


class ActionAskWhen(_Ask):
    slot = "when"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(
            text=(
                "Когда вам удобно? Напишите день и время, например: «завтра после 15» "
                "или «в пятницу утром»."
            ),
            buttons=[
                button("Сегодня", "inform", when="сегодня"),
                button("Завтра", "inform", when="завтра"),
                button("Ближайшее свободное", "inform", when="ближайшее время"),
            ],
        )
        return []


class ActionAskStaffPref(_Ask):
    slot = "staff_pref"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        staff = profile.staff_for(tracker.get_slot("service") or "")
        dispatcher.utter_message(
            text="К какому мастеру вас записать?",
            buttons=[
                *(button(s.name, "inform", staff=s.id) for s in staff),
                button("Любой мастер", "inform", staff=ANY_STAFF),
            ],
        )
        return []


class ActionAskSlotKey(_Ask):
    """Offers up to five nearest free slots that fit the preference, saying why not."""

    slot = "slot_key"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile, now = context.profile(), context.now()
        service_id = tracker.get_slot("service")
        staff_id = staff_filter(tracker.get_slot("staff_pref"))
        preference = preference_from_slot(tracker.get_slot("when"))
        try:
            busy = await busy_times(profile, now)
        except CRMError:
            logger.exception("Free slots could not be read")
            dispatcher.utter_message(
                text=(
                    "Не получается открыть расписание из-за технической ошибки. "
                    f"Попробуйте через минуту или позвоните нам: {profile.phone}."
                )
            )
            return []

        slots = free_slots(
            profile, service_id, busy, now, staff_id=staff_id, preference=preference
        )
        reason = (
            why_unavailable(
                profile, service_id, busy, now, preference, staff_id=staff_id
            )
            if preference is not None
            else None
        )
        intro = "Выберите удобное время:"
        if reason is not None or not slots:
            slots = _alternatives(profile, service_id, busy, now, staff_id, preference)
            intro = _explain(reason, profile, preference, staff_id, now)
            intro += " Ближайшее свободное время:" if slots else ""
        if not slots:
            dispatcher.utter_message(
                text=(
                    f"{intro} К сожалению, свободного времени на ближайшие "
                    f"{profile.horizon_days} дн. нет. Оставьте заявку администратору "
                    f"или позвоните: {profile.phone}."
                ).strip(),
                buttons=[button("Связаться с администратором", "request_human")],
            )
            return []
        named = staff_id is None and len(profile.staff_for(service_id)) > 1
        dispatcher.utter_message(
            text=intro,
            buttons=slot_buttons(slots, profile, now.date(), named),
        )
        return []


def _alternatives(
    profile: BusinessProfile,
    service_id: str,
    busy: Busy,
    now: datetime,
    staff_id: str | None,
    preference: WhenPreference | None,
) -> list[Slot]:
    """Nearest free slots when the preference cannot be met: same days, then later."""
    if preference is not None and preference.date_from is not None:
        today = now.astimezone(profile.timezone).date()
        same_days = WhenPreference(
            max(preference.date_from, today),
            preference.date_to,
            None,
            None,
            preference.exact_time,
            0,
            0,
            "",
        )
        slots = free_slots(
            profile, service_id, busy, now, staff_id=staff_id, preference=same_days
        )
        if slots:
            return slots
        onwards = WhenPreference(
            max(preference.date_from, today), None, None, None, None, 0, 0, ""
        )
        slots = free_slots(
            profile, service_id, busy, now, staff_id=staff_id, preference=onwards
        )
        if slots:
            return slots
    return free_slots(profile, service_id, busy, now, staff_id=staff_id)


def _explain(
    reason: Unavailable | None,
    profile: BusinessProfile,
    preference: WhenPreference | None,
    staff_id: str | None,
    now: datetime,
) -> str:
    member = profile.staff_member(staff_id) if staff_id else None
    if reason is Unavailable.PAST:
        return "Это время уже прошло."
    if reason is Unavailable.TOO_SOON:
        return (
            "На это время уже не успеем: записываем не позже чем за "
            f"{minutes_text(profile.min_lead_minutes)} до начала."
        )
    if reason is Unavailable.BEYOND_HORIZON:
        return (
            f"Запись открыта только на {profile.horizon_days} дн. вперёд "
            f"(до {day_text(last_day(profile, now))})."
        )
    if reason is Unavailable.CLOSED:
        if member is not None:
            return f"{member.name} в этот день не работает."
        return "В этот день мы не работаем."
    if reason is Unavailable.OUTSIDE_HOURS:
        return f"Это время вне часов работы ({profile.hours_text()})."
    if reason is Unavailable.TAKEN:
        return "На это время всё занято."
    return "Подходящего свободного времени нет."


class ActionAskPdConsent(_Ask):
    slot = "pd_consent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        dispatcher.utter_message(
            text=(
                "Чтобы оформить запись, мне нужны ваши имя и телефон. Нужно ваше "
                "согласие на обработку персональных данных (152-ФЗ), условия: "
                f"{profile.privacy_policy_url}. Согласны?"
            ),
            buttons=[
                button("Согласен(на)", "affirm"),
                button("Не согласен(на)", "deny"),
            ],
        )
        return []


class ActionAskClientName(_Ask):
    slot = "client_name"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text="Как вас зовут?")
        return []


class ActionAskPhone(_Ask):
    slot = "phone"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        # `request_phone` rides in the message's metadata: messengers show a "share
        # my phone" button for it, the REST and socket.io channels ignore it.
        dispatcher.utter_message(
            text="Напишите, пожалуйста, номер телефона для связи, например +7 913 123-45-67.",
            request_phone=True,
        )
        return []


class ActionAskConfirmed(_Ask):
    slot = "confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        moving = bool(tracker.get_slot("moving_deal_id"))
        head = "Переносим запись. Проверьте:" if moving else "Проверьте, всё ли верно:"
        buttons = [
            button("Да, всё верно", "affirm"),
            button("Другое время", "correct", field="when"),
        ]
        if not moving:
            buttons += [
                button("Другой мастер", "correct", field="staff"),
                button("Другой телефон", "correct", field="phone"),
            ]
        dispatcher.utter_message(text=f"{head}\n{summary(tracker)}", buttons=buttons)
        if tracker.get_slot("booking_attempt"):
            return []
        return [SlotSet("booking_attempt", uuid.uuid4().hex)]
