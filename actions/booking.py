"""The booking form: what the client said becomes slots, free times, and a deal.

`validate_booking_form` replaces rasa-sdk's generic extraction with one pass over the
latest message (entities, intent, the slot being asked for), so that several slots can
be filled from one message and any slot corrected at any step. Returning no events
rejects the form, which lets the rules answer questions and return to the form. The
questions themselves (`action_ask_*`) are in actions/questions.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions import context
from actions.texts import (
    button,
    moment_text,
    money,
    phone_text,
)
from business.profile import BusinessProfile
from crm_connector import BookingRequest, CRMError, Deal, SlotTakenError
from crm_connector.outcomes import booking_value, next_manager
from nlu_ru.phones import normalize_phone
from schedule.slots import (
    Busy,
    Slot,
    earliest_start,
    exact_slot,
    last_day,
    parse_slot_key,
)
from schedule.when import WhenPreference, parse_when

logger = logging.getLogger(__name__)

FORM_SLOTS = (
    "service",
    "when",
    "staff_pref",
    "slot_key",
    "pd_consent",
    "client_name",
    "phone",
    "confirmed",
)
# Slots that only last for one booking; the client's name, phone and consent stay.
BOOKING_ONLY = (
    "service",
    "when",
    "staff_pref",
    "slot_key",
    "confirmed",
    "booking_attempt",
    "moving_deal_id",
    "consent_refused",
)
# Intents the form leaves to the rules: questions, hand-off, leaving the form.
QUESTION_INTENTS = {
    "ask_prices",
    "ask_location",
    "ask_services",
    "faq",
    "request_human",
    "cancel_booking",
    "reschedule_booking",
    "cancel_deal",
    "move_deal",
    "stop",
    "EXTERNAL_reminder",
    "confirm_visit",
    "reminder_cancel",
    "reminder_move",
}
# Small talk, and what the classifier calls out of scope: left to the rules too,
# unless the message answers the question asked (a rare name can look out of scope).
SMALL_TALK_INTENTS = {"greet", "thank", "goodbye", "out_of_scope"}
# Intents whose free text may be taken as a name when a name is asked.
NAME_TEXT_INTENTS = {"inform", "nlu_fallback", "out_of_scope", "book", "correct"}
ANY_STAFF = "any"
ON_FILE = "on_file"
_ASAP = re.compile(r"ближайш|скорее|побыстрее|люб(ое|ой) (время|день)|неважно когда")
_LEAD_IN = re.compile(r"^(меня зовут|зовут|мое имя|моё имя|я|это)\s+", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-zА-Яа-яЁё][A-Za-zА-Яа-яЁё' -]{0,38}$")
_FIELD_SLOTS = {
    "service": ("service", "slot_key"),
    "when": ("when", "slot_key"),
    "staff": ("staff_pref", "slot_key"),
    "client_name": ("client_name",),
    "phone": ("phone",),
}


# -- the client's time preference, kept in a slot as plain JSON ------------------------


def preference_to_slot(preference: WhenPreference | None) -> dict[str, Any]:
    if preference is None:
        return {"text": "ближайшее время"}
    return {
        "text": preference.text,
        "date_from": preference.date_from and preference.date_from.isoformat(),
        "date_to": preference.date_to and preference.date_to.isoformat(),
        "time_from": preference.time_from and preference.time_from.isoformat(),
        "time_to": preference.time_to and preference.time_to.isoformat(),
        "exact_time": preference.exact_time and preference.exact_time.isoformat(),
    }


def preference_from_slot(value: Any) -> WhenPreference | None:
    """The stored preference, or None for "any time" (and for anything unreadable)."""
    if not isinstance(value, dict) or "date_from" not in value:
        return None

    def day(key: str) -> date | None:
        return date.fromisoformat(value[key]) if value.get(key) else None

    def moment(key: str) -> time | None:
        return time.fromisoformat(value[key]) if value.get(key) else None

    text = str(value.get("text") or "")
    return WhenPreference(
        date_from=day("date_from"),
        date_to=day("date_to"),
        time_from=moment("time_from"),
        time_to=moment("time_to"),
        exact_time=moment("exact_time"),
        start=0,
        end=len(text),
        text=text,
    )


def read_preference(text: str, now: datetime) -> dict[str, Any] | None:
    """A slot value for the time the client asked for, or None if the text has none."""
    preference = parse_when(text, now)
    if preference is not None:
        return preference_to_slot(preference)
    if _ASAP.search(text.lower()):
        return preference_to_slot(None)
    return None


# -- the schedule as the CRM sees it -------------------------------------------------


async def busy_times(profile: BusinessProfile, now: datetime) -> Busy:
    start = earliest_start(profile, now) - timedelta(days=1)
    end = datetime.combine(last_day(profile, now) + timedelta(days=1), time(0))
    return await asyncio.to_thread(
        context.crm().busy_intervals, start, end.replace(tzinfo=profile.timezone)
    )


def staff_filter(staff_pref: str | None) -> str | None:
    return None if staff_pref in (None, ANY_STAFF) else staff_pref


def slot_title(slot: Slot, profile: BusinessProfile, today: date, named: bool) -> str:
    title = moment_text(slot.start, today)
    member = profile.staff_member(slot.staff_id)
    return f"{title} · {member.name}" if named and member else title


def slot_buttons(
    slots: list[Slot], profile: BusinessProfile, today: date, named: bool
) -> list[dict[str, str]]:
    return [
        button(slot_title(s, profile, today, named), "inform", slot_key=s.key)
        for s in slots
    ]


# -- validation: one pass over the latest message --------------------------------------


class ValidateBookingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_booking_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        step = _Step(tracker)
        if step.intent in QUESTION_INTENTS and step.requested is not None:
            return []

        step.read_entities()
        step.read_requested_answer()
        if step.intent in SMALL_TALK_INTENTS and step.requested is not None:
            if step.changes.get(step.requested) is None:
                return []
        step.reset_dependants()
        await step.resolve_slot()
        await step.book_if_confirmed()

        if not step.changes and not step.said:
            return []
        for text, buttons in step.said:
            dispatcher.utter_message(text=text, buttons=buttons)
        if step.said and step.requested and step.requested not in step.changes:
            # Something was said about the asked slot: keep the form (a form that sets
            # no slot is rejected, and the rules would answer a second time).
            step.changes[step.requested] = step.value(step.requested)
        events = [SlotSet(name, value) for name, value in step.changes.items()]
        return [*events, SlotSet("requested_slot", step.next_slot())]


class _Step:
    """The state of one validation pass: current slots, changes, and what to say.

    Messages are held until the pass decides to keep the form, so a rejected pass
    says nothing and the rules answer alone.
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.profile = context.profile()
        self.now = context.now()
        message = tracker.latest_message or {}
        self.text: str = message.get("text") or ""
        self.intent: str = (message.get("intent") or {}).get("name") or ""
        self.requested: str | None = tracker.get_slot("requested_slot")
        self.slots = {name: tracker.get_slot(name) for name in FORM_SLOTS}
        self.slots["booking_attempt"] = tracker.get_slot("booking_attempt")
        self.slots["moving_deal_id"] = tracker.get_slot("moving_deal_id")
        self.changes: dict[str, Any] = {}
        self.said: list[tuple[str, list[dict[str, str]]]] = []
        self.entities: dict[str, list[str]] = {}
        for entity in message.get("entities") or []:
            value = entity.get("value")
            if value is not None:
                self.entities.setdefault(entity["entity"], []).append(str(value))

    def say(self, text: str, buttons: list[dict[str, str]] | None = None) -> None:
        self.said.append((text, buttons or []))

    def value(self, name: str) -> Any:
        return self.changes[name] if name in self.changes else self.slots.get(name)

    def change(self, name: str, value: Any) -> None:
        if self.value(name) != value or name in self.changes:
            self.changes[name] = value

    @property
    def moving(self) -> bool:
        return bool(self.slots.get("moving_deal_id"))

    def first(self, entity: str) -> str | None:
        values = self.entities.get(entity)
        return values[0] if values else None

    # -- what the message carries

    def read_entities(self) -> None:
        for field in self.entities.get("field", []):
            for name in _FIELD_SLOTS.get(field, ()):
                if not (self.moving and name in ("service", "staff_pref")):
                    self.change(name, None)
            if field == "phone" and not self.first("phone"):
                self.say("Хорошо, напишите новый номер телефона.")

        self.read_service()
        self.read_when()
        self.read_staff()
        self.read_person()
        self.read_phone()

        key = self.first("slot_key")
        if key:
            self.change("slot_key", key)

    def read_service(self) -> None:
        if self.moving:
            return
        known = [s for s in self.entities.get("service", []) if self.profile.service(s)]
        if known:
            self.change("service", known[0])
        elif self.requested == "service" and self.intent in ("inform", "nlu_fallback"):
            if not any(self.entities.get(e) for e in ("when", "staff", "phone")):
                self.say("Такой услуги у нас нет. Выберите, пожалуйста, из списка.")
                self.change("service", None)

    def read_when(self) -> None:
        said = self.first("when")
        if said and not self.text.startswith("/"):
            # The entity is only the part of the time expression not overlapping
            # other entities ("завтра к Анне в 15"): read the whole message instead.
            said = self.text
        preference = read_preference(said, self.now) if said else None
        if preference is None and self.requested == "when":
            preference = read_preference(self.text, self.now)
            if preference is None and self.intent not in ("affirm", "deny"):
                if not self.entities:
                    self.say(
                        "Не поняла, на какое время. Напишите, например: «завтра "
                        "после 15», «в пятницу утром» или «15.12 в 14:30»."
                    )
                    self.change("when", None)
        if preference is not None:
            self.change("when", preference)

    def read_staff(self) -> None:
        wanted = self.first("staff")
        if wanted is None and self.requested == "staff_pref":
            wanted = self._staff_named(self.first("person") or self.text)
        if wanted is None or self.moving:
            return
        service_id = self.value("service")
        member = self.profile.staff_member(wanted)
        if wanted != ANY_STAFF and member is None:
            return
        if member is not None and service_id and service_id not in member.service_ids:
            service = self.profile.service(service_id)
            doers = ", ".join(s.name for s in self.profile.staff_for(service_id))
            name = service.name.lower() if service else "эту услугу"
            self.say(f"{member.name} не делает {name}. Эту услугу делает: {doers}.")
            self.change("staff_pref", None)
            return
        self.change("staff_pref", wanted)

    def _staff_named(self, text: str) -> str | None:
        lowered = text.lower().replace("ё", "е").strip(" .!")
        if re.search(r"люб|все равно|без разницы|неважно|не важно", lowered):
            return ANY_STAFF
        for member in self.profile.staff:
            names = (member.name, *member.aliases)
            if any(n.lower().replace("ё", "е") in lowered for n in names):
                return member.id
        return None

    def read_person(self) -> None:
        name = self.first("person")
        if name and self.requested == "staff_pref" and self._staff_named(name):
            return
        if self.requested == "client_name" and self.intent in NAME_TEXT_INTENTS:
            # The whole answer is the name when it reads as one ("Дмитрий Соколов"),
            # the entity alone may hold just the first name.
            candidate = _LEAD_IN.sub("", self.text.strip(" .!,")).strip(" ,")
            others = set(self.entities) - {"person"}
            if _NAME.match(candidate) and len(candidate.split()) <= 3 and not others:
                if name is None or name.lower() in candidate.lower():
                    name = candidate
        if name:
            self.change("client_name", " ".join(p.capitalize() for p in name.split()))
        elif self.requested == "client_name" and not self.entities:
            self.say("Напишите, пожалуйста, просто ваше имя, например: Анна.")
            self.change("client_name", None)

    def read_phone(self) -> None:
        raw = self.first("phone")
        if raw is None and self.requested == "phone":
            if re.search(r"\d", self.text):
                raw = self.text
            elif not self.entities and self.intent not in ("affirm", "deny"):
                self.say(
                    "Напишите номер телефона цифрами, например +7 913 123-45-67 "
                    "или 8 913 123-45-67."
                )
                self.change("phone", None)
                return
        if raw is None:
            return
        phone = normalize_phone(raw)
        if phone is None:
            self.say(
                "Это не похоже на номер телефона. Напишите его в формате "
                "+7 913 123-45-67 или 8 913 123-45-67."
            )
            self.change("phone", None)
            return
        self.change("phone", phone)

    def read_requested_answer(self) -> None:
        if self.requested == "pd_consent" and self.slots.get("pd_consent") is None:
            if self.intent == "affirm":
                self.change("pd_consent", self.now.isoformat(timespec="seconds"))
            elif self.intent == "deny":
                self.refuse_consent()
        if self.requested == "confirmed" and self.intent in ("deny", "correct"):
            if not self.changes:
                self.change("confirmed", None)
                self.say("Что изменить?")

    def refuse_consent(self) -> None:
        self.say(
            "Понимаю. Без согласия на обработку данных я не могу оформить запись "
            f"онлайн. Записаться можно по телефону {self.profile.phone} — "
            "будем рады вам!"
        )
        self.change("consent_refused", True)
        self.change("client_name", None)
        self.change("phone", None)

    # -- consequences of a change

    def reset_dependants(self) -> None:
        service_id = self.value("service")
        staff_pref = self.value("staff_pref")
        if "service" in self.changes and staff_pref not in (None, ANY_STAFF):
            member = self.profile.staff_member(staff_pref)
            if member is None or service_id not in member.service_ids:
                self.change("staff_pref", None)
        # The master is optional: unless the client wants to choose one now, any
        # master will do and the offered times name who is free.
        wants_to_choose = "staff" in self.entities.get("field", ())
        if service_id and self.value("staff_pref") is None and not wants_to_choose:
            if self.requested != "staff_pref":
                self.change("staff_pref", ANY_STAFF)
        if {"service", "when", "staff_pref"} & set(self.changes):
            if "slot_key" not in self.changes or self.changes["slot_key"] is None:
                self.change("slot_key", None)
        if {"service", "when", "staff_pref", "slot_key", "client_name", "phone"} & set(
            self.changes
        ):
            if self.slots.get("confirmed") is not None:
                self.change("confirmed", None)

    async def resolve_slot(self) -> None:
        """Take an exact free time at once; re-check a chosen slot against the CRM."""
        service_id = self.value("service")
        staff_pref = self.value("staff_pref")
        if not service_id or staff_pref is None:
            return
        key = self.changes.get("slot_key")
        if key:
            slot = parse_slot_key(key, self.profile, service_id)
            if slot is None or staff_pref not in (ANY_STAFF, slot.staff_id):
                self.say("Это время не подходит, выберите, пожалуйста, из списка.")
                self.change("slot_key", None)
                return
            busy = await busy_times(self.profile, self.now)
            if not _slot_is_open(self.profile, slot, busy, self.now):
                self.say("Это время уже занято или недоступно. Вот что свободно:")
                self.change("slot_key", None)
            return
        if self.value("slot_key") or "when" not in self.changes:
            return
        preference = preference_from_slot(self.value("when"))
        if preference is None or preference.exact_time is None:
            return
        busy = await busy_times(self.profile, self.now)
        slot = exact_slot(
            self.profile,
            service_id,
            busy,
            self.now,
            preference,
            staff_filter(staff_pref),
        )
        if slot is not None:
            self.change("slot_key", slot.key)

    async def book_if_confirmed(self) -> None:
        if self.requested != "confirmed" or self.intent != "affirm" or self.changes:
            return
        if any(self.slots.get(name) is None for name in FORM_SLOTS[:-1]):
            return
        slot = parse_slot_key(
            self.slots["slot_key"], self.profile, self.slots["service"]
        )
        if slot is None:
            self.change("slot_key", None)
            return
        if slot.start < earliest_start(self.profile, self.now):
            # The client took a while to say "yes" and the time is gone or too close.
            self.say("Это время уже недоступно, выберите другое.")
            self.change("slot_key", None)
            return
        try:
            deal = await self._commit(slot)
        except SlotTakenError:
            self.say("Пока мы оформляли запись, это время успели занять. Извините!")
            self.change("slot_key", None)
            self.change("booking_attempt", None)
            return
        except CRMError:
            logger.exception("Booking could not be saved")
            self.say(
                "Не получилось сохранить запись из-за технической ошибки. "
                "Подтвердите ещё раз через минуту или позвоните нам: "
                f"{self.profile.phone}."
            )
            return
        self.change("confirmed", True)
        self.change("booking_id", str(deal.id))
        self.change("booking", booking_value(deal, self.profile.timezone, self.moving))

    async def _commit(self, slot: Slot) -> Deal:
        crm = context.crm()
        if self.moving:
            deal = await asyncio.to_thread(
                crm.reschedule,
                int(self.slots["moving_deal_id"]),
                slot.start,
                slot.staff_id,
            )
            logger.info("Deal %s moved", deal.id)
            return deal
        service = self.profile.service(slot.service_id)
        assert service is not None  # parse_slot_key checked it
        attempt = self.slots.get("booking_attempt") or uuid.uuid4().hex
        consent = self.slots.get("pd_consent")
        managers = [m.id for m in self.profile.managers]
        if self.profile.manager_assignment == "none":
            managers = []
        last = await asyncio.to_thread(crm.last_assigned_manager) if managers else None
        request = BookingRequest(
            idempotency_key=f"{self.tracker.sender_id}:{attempt}",
            conversation_id=self.tracker.sender_id,
            channel=self.tracker.get_latest_input_channel() or "unknown",
            contact_name=self.slots["client_name"],
            phone=self.slots["phone"],
            service_id=service.id,
            service_name=service.name,
            staff_id=slot.staff_id,
            starts_at=slot.start,
            duration_minutes=service.duration_minutes,
            price=service.price,
            consent_at=_consent_time(consent),
            manager_id=next_manager(managers, last),
        )
        deal = await asyncio.to_thread(crm.book, request)
        logger.info("Deal %s booked for conversation", deal.id)
        return deal

    def next_slot(self) -> str | None:
        if self.value("consent_refused") or self.value("confirmed"):
            return None
        return next((n for n in FORM_SLOTS if self.value(n) is None), None)


def _consent_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value and value != ON_FILE else None
    except ValueError:
        return None


def _slot_is_open(profile: BusinessProfile, slot: Slot, busy: Busy, now: datetime):
    """A chosen slot is still bookable: in hours, not too soon, not taken."""
    day = slot.start.date()
    preference = WhenPreference(day, day, None, None, slot.start.time(), 0, 0, "")
    found = exact_slot(profile, slot.service_id, busy, now, preference, slot.staff_id)
    return found == slot


# -- questions the form asks -----------------------------------------------------------


def summary(tracker: Tracker) -> str:
    profile, now = context.profile(), context.now()
    service = profile.service(tracker.get_slot("service") or "")
    slot = parse_slot_key(
        tracker.get_slot("slot_key") or "", profile, service.id if service else ""
    )
    if service is None or slot is None:
        return ""
    member = profile.staff_member(slot.staff_id)
    lines = [
        f"Услуга: {service.name}, {money(service.price)}",
        f"Когда: {moment_text(slot.start, now.date())}",
        f"Мастер: {member.name if member else slot.staff_id}",
        f"Имя: {tracker.get_slot('client_name')}",
        f"Телефон: {phone_text(tracker.get_slot('phone') or '')}",
    ]
    return "\n".join(lines)


class ActionBookingDone(Action):
    """Closes the form: confirms the booking, and forgets this booking's choices."""

    def name(self) -> str:
        return "action_booking_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = context.profile()
        if tracker.get_slot("confirmed") and tracker.get_slot("booking_id"):
            moved = bool(tracker.get_slot("moving_deal_id"))
            head = "Готово, запись перенесена!" if moved else "Готово, вы записаны!"
            dispatcher.utter_message(
                text=(
                    f"{head}\n{summary(tracker)}\nАдрес: {profile.address}.\n"
                    "Если планы изменятся, напишите «перенести запись» или "
                    "«отменить запись»."
                )
            )
        return [SlotSet(name, None) for name in BOOKING_ONLY]


class ActionStopBooking(Action):
    def name(self) -> str:
        return "action_stop_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(
            text="Хорошо, запись не оформляю. Если передумаете, просто напишите.",
            buttons=[button("Записаться", "book")],
        )
        return [SlotSet(name, None) for name in BOOKING_ONLY]
