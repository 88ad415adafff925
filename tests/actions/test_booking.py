"""The booking form as the action server runs it: validation, questions, booking."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.booking import ActionBookingDone, ActionStopBooking, ValidateBookingForm
from actions.questions import ActionAskConfirmed, ActionAskService, ActionAskSlotKey
from tests.actions.conftest import (
    CONFIRM_STEP,
    FRIDAY_15,
    NOW,
    SENDER,
    Outcome,
    at,
    make_tracker,
    when,
)
from tests.conftest import DEMO_PROFILE

validate = ValidateBookingForm()

# The form after the client picked a time, agreed to the data policy and gave a name.
PHONE_STEP = {
    **CONFIRM_STEP,
    "phone": None,
    "booking_attempt": None,
    "requested_slot": "phone",
}


def test_one_message_fills_every_slot_it_names_and_still_asks_for_consent(run):
    tracker = make_tracker(
        {"requested_slot": None},
        "Запишите на маникюр завтра в 15:00, Анна, 8 913 123-45-67",
        "book",
        {
            "service": "manicure",
            "when": "завтра в 15:00",
            "person": "Анна",
            "phone": "8 913 123-45-67",
        },
    )

    outcome = run(validate, tracker)

    slots = outcome.slots
    assert slots["service"] == "manicure"
    assert slots["when"]["date_from"] == "2026-12-04"
    assert slots["when"]["exact_time"] == "15:00:00"
    assert slots["staff_pref"] == "any"
    assert slots["slot_key"] == FRIDAY_15
    assert slots["client_name"] == "Анна"
    assert slots["phone"] == "+79131234567"
    assert slots["requested_slot"] == "pd_consent"
    assert "pd_consent" not in slots


def test_invalid_phone_is_explained_and_keeps_the_form(run):
    tracker = make_tracker(PHONE_STEP, "8 913 12", "inform", {"phone": "8 913 12"})

    outcome = run(validate, tracker)

    assert outcome.events, "an empty result would reject the form"
    assert "+7 913 123-45-67" in outcome.text
    assert outcome.slots["phone"] is None
    assert outcome.slots["requested_slot"] == "phone"
    unchanged = set(outcome.slots) - {"phone", "requested_slot"}
    assert not unchanged, f"other slots changed: {unchanged}"


def test_unknown_service_is_refused_and_the_list_offered(run):
    tracker = make_tracker({"requested_slot": "service"}, "массаж спины", "inform")

    outcome = run(validate, tracker)
    question = run(ActionAskService(), tracker)

    assert "Такой услуги у нас нет" in outcome.text
    assert outcome.slots["service"] is None
    assert outcome.slots["requested_slot"] == "service"
    assert {b["payload"] for b in question.buttons} >= {
        '/inform{"service": "manicure"}',
        '/inform{"service": "brows"}',
    }
    assert "Маникюр — 1\u00a0500\u00a0₽" in [b["title"] for b in question.buttons]


@pytest.mark.parametrize("intent", ["correct", "deny"])
def test_another_day_at_the_summary_asks_for_a_new_time(run, intent):
    tracker = make_tracker(
        CONFIRM_STEP, "нет, давайте в субботу", intent, {"when": "в субботу"}
    )

    outcome = run(validate, tracker)

    assert outcome.slots["when"]["date_from"] == "2026-12-05"
    assert outcome.slots["slot_key"] is None
    assert outcome.slots.get("confirmed") is None
    assert outcome.slots["requested_slot"] == "slot_key"


def test_another_day_after_a_confirmation_resets_it(run):
    tracker = make_tracker(
        {**CONFIRM_STEP, "confirmed": True},
        "давайте лучше в субботу",
        "correct",
        {"when": "в субботу"},
    )

    outcome = run(validate, tracker)

    assert outcome.slots["confirmed"] is None
    assert outcome.slots["requested_slot"] == "slot_key"


def test_another_phone_at_the_summary_asks_for_it_and_keeps_the_name(run):
    tracker = make_tracker(
        CONFIRM_STEP, "телефон другой", "correct", {"field": "phone"}
    )

    outcome = run(validate, tracker)

    assert "новый номер телефона" in outcome.text
    assert outcome.slots["phone"] is None
    assert outcome.slots["requested_slot"] == "phone"
    assert "client_name" not in outcome.slots


def test_refused_consent_gives_the_phone_and_forgets_personal_data(run, profile):
    tracker = make_tracker(
        {**CONFIRM_STEP, "pd_consent": None, "requested_slot": "pd_consent"},
        "нет, не согласна",
        "deny",
    )

    outcome = run(validate, tracker)

    assert profile.phone in outcome.text
    assert outcome.slots["consent_refused"] is True
    assert outcome.slots["client_name"] is None
    assert outcome.slots["phone"] is None
    assert outcome.slots["requested_slot"] is None


def test_given_consent_is_stored_as_the_time_it_was_given(run):
    tracker = make_tracker(
        {**CONFIRM_STEP, "pd_consent": None, "requested_slot": "pd_consent"},
        "да, согласна",
        "affirm",
    )

    outcome = run(validate, tracker)

    assert datetime.fromisoformat(
        outcome.slots["pd_consent"]
    ) == datetime.fromisoformat(NOW)
    assert outcome.slots["requested_slot"] == "confirmed"


@pytest.mark.parametrize(
    "intent",
    ["ask_prices", "ask_location", "faq", "request_human"],
)
def test_side_question_in_the_form_is_left_to_the_rules(run, intent):
    tracker = make_tracker(PHONE_STEP, "а сколько стоит?", intent)

    assert run(validate, tracker).events == []


# -- why a wanted time is not offered, and what is offered instead ----------------------

SLOT_STEP = {
    "service": "manicure",
    "staff_pref": "any",
    "slot_key": None,
    "requested_slot": "slot_key",
}


@pytest.mark.parametrize(
    ("wanted", "reason", "first_offer"),
    [
        pytest.param(
            when("2026-12-03", "09:00:00"),
            "Это время уже прошло.",
            "сегодня, 3 декабря, 11:00",
            id="past",
        ),
        pytest.param(
            when("2026-12-03", "10:30:00"),
            "не успеем: записываем не позже чем за 1 час до начала",
            "сегодня, 3 декабря, 11:00",
            id="too-soon",
        ),
        pytest.param(
            when("2026-12-06", "12:00:00"),
            "В этот день мы не работаем.",
            "пн, 7 декабря, 09:00",
            id="sunday",
        ),
        pytest.param(
            when("2027-01-10", "12:00:00"),
            "Запись открыта только на 30 дн. вперёд (до сб, 2 января).",
            "сегодня, 3 декабря, 11:00",
            id="beyond-horizon",
        ),
        pytest.param(
            when("2026-12-04", "22:00:00"),
            "Это время вне часов работы (",
            "завтра, 4 декабря, 17:30",
            id="after-closing",
        ),
    ],
)
def test_unavailable_time_is_explained_with_nearest_offers(
    run, wanted, reason, first_offer
):
    tracker = make_tracker({**SLOT_STEP, "when": wanted}, "", "inform")

    outcome = run(ActionAskSlotKey(), tracker)

    assert reason in outcome.text
    assert "Ближайшее свободное время:" in outcome.text
    assert outcome.buttons, "the client needs something to pick"
    assert outcome.buttons[0]["title"].startswith(first_offer)
    for offer in outcome.buttons:
        assert offer["payload"].startswith('/inform{"slot_key": "')


def test_offered_time_is_bookable_as_it_is_pressed(run):
    tracker = make_tracker(
        {**SLOT_STEP, "when": when("2026-12-06", "12:00:00")}, "", "inform"
    )
    pressed = run(ActionAskSlotKey(), tracker).buttons[0]["payload"]
    key = pressed.split('"slot_key": "')[1].rstrip('"}')

    outcome = run(
        validate,
        make_tracker(
            {**SLOT_STEP, "when": when("2026-12-06", "12:00:00")},
            pressed,
            "inform",
            {"slot_key": key},
        ),
    )

    assert outcome.slots["slot_key"] == key
    assert outcome.slots["requested_slot"] == "pd_consent"


# -- booking on "yes" ---------------------------------------------------------------


def test_yes_at_the_summary_books_a_deal(run, crm):
    outcome = run(validate, make_tracker(CONFIRM_STEP, "да", "affirm"))

    [deal] = crm.deals(conversation_id=SENDER)
    assert outcome.slots["confirmed"] is True
    assert outcome.slots["booking_id"] == str(deal.id)
    assert outcome.slots["requested_slot"] is None
    assert deal.status == "booked"
    assert deal.service_id == "manicure"
    assert deal.service_name == "Маникюр"
    assert deal.staff_id == "anna"
    assert deal.starts_at == at(4, 15)
    assert deal.duration_minutes == 90
    assert deal.price == Decimal("1500")
    assert deal.contact_name == "Анна"
    assert deal.phone == "+79131234567"
    assert deal.channel == "rest"
    assert deal.manager_id == "irina"  # the first manager of the profile
    assert outcome.slots["booking"] == {
        "deal_id": deal.id,
        "service_id": "manicure",
        "service_name": "Маникюр",
        "staff_id": "anna",
        "starts_at": "2026-12-04T15:00:00+06:00",
        "duration_minutes": 90,
        "price": 1500.0,
        "manager_id": "irina",
        "moved": False,
    }


def test_managers_take_new_deals_in_turn(run, crm):
    first = run(validate, make_tracker(CONFIRM_STEP, "да", "affirm"))
    other = {**CONFIRM_STEP, "slot_key": "20261204T1700.anna", "booking_attempt": "b2"}
    second = run(validate, make_tracker(other, "да", "affirm", sender="client-2"))
    again = {**CONFIRM_STEP, "slot_key": "20261205T1200.anna", "booking_attempt": "b3"}
    third = run(validate, make_tracker(again, "да", "affirm", sender="client-3"))

    managers = [o.slots["booking"]["manager_id"] for o in (first, second, third)]
    assert managers == ["irina", "dmitry", "irina"]


def test_replayed_confirmation_books_nothing_twice(run, crm):
    tracker = make_tracker(CONFIRM_STEP, "да", "affirm")

    first = run(validate, tracker)
    replay = run(validate, tracker)

    assert len(crm.deals(conversation_id=SENDER)) == 1
    assert replay.slots["booking_id"] == first.slots["booking_id"]
    assert replay.slots["confirmed"] is True


def test_two_clients_confirming_one_time_get_one_deal(domain, crm):
    clients = ["client-1", "client-2"]
    dispatchers = {sender: CollectingDispatcher() for sender in clients}

    async def both_confirm():
        return await asyncio.gather(
            *(
                validate.run(
                    dispatchers[sender],
                    make_tracker(CONFIRM_STEP, "да", "affirm", sender=sender),
                    domain,
                )
                for sender in clients
            )
        )

    results = asyncio.run(both_confirm())

    outcomes = [
        Outcome([dict(e) for e in events], dispatchers[sender].messages)
        for sender, events in zip(clients, results, strict=True)
    ]
    [deal] = crm.deals(status="booked")
    [winner] = [o for o in outcomes if o.slots.get("confirmed")]
    [loser] = [o for o in outcomes if o is not winner]
    assert winner.slots["booking_id"] == str(deal.id)
    assert "успели занять" in loser.text
    assert loser.slots["slot_key"] is None
    assert loser.slots["requested_slot"] == "slot_key"
    assert loser.slots.get("confirmed") is None


def test_loser_of_a_race_is_offered_fresh_times(run, crm):
    run(validate, make_tracker(CONFIRM_STEP, "да", "affirm", sender="client-2"))
    lost = run(validate, make_tracker(CONFIRM_STEP, "да", "affirm"))
    state = {**CONFIRM_STEP, **lost.slots}

    offers = run(ActionAskSlotKey(), make_tracker(state, "", "inform"))

    taken = f'/inform{{"slot_key": "{FRIDAY_15}"}}'
    assert offers.buttons
    assert taken not in [b["payload"] for b in offers.buttons]


def test_crm_down_at_confirmation_is_explained(run, monkeypatch, profile):
    monkeypatch.setenv("CRM_DB_URL", "postgresql://postgres@127.0.0.1:1/test")
    context.crm.cache_clear()

    outcome = run(validate, make_tracker(CONFIRM_STEP, "да", "affirm"))

    assert "технической ошибки" in outcome.text
    assert profile.phone in outcome.text
    assert outcome.slots.get("confirmed") is not True
    assert outcome.slots["requested_slot"] == "confirmed"


def test_crm_down_while_offering_times_is_explained(run, monkeypatch, profile):
    monkeypatch.setenv("CRM_DB_URL", "postgresql://postgres@127.0.0.1:1/test")
    context.crm.cache_clear()
    tracker = make_tracker({**SLOT_STEP, "when": None}, "", "inform")

    outcome = run(ActionAskSlotKey(), tracker)

    assert "технической ошибки" in outcome.text
    assert profile.phone in outcome.text


def test_summary_shows_the_booking_and_starts_one_attempt(run):
    asking = {**CONFIRM_STEP, "booking_attempt": None}

    first = run(ActionAskConfirmed(), make_tracker(asking, "", "inform"))
    again = run(ActionAskConfirmed(), make_tracker(CONFIRM_STEP, "", "inform"))

    assert "Услуга: Маникюр, 1\u00a0500\u00a0₽" in first.text
    assert "Когда: завтра, 4 декабря, 15:00" in first.text
    assert "Мастер: Анна" in first.text
    assert "Телефон: +7 913 123-45-67" in first.text
    assert "/affirm" in [b["payload"] for b in first.buttons]
    assert first.slots["booking_attempt"]
    assert again.events == [], "a second summary keeps the same attempt"


def test_stop_keeps_the_client_but_drops_the_booking(run):
    outcome = run(ActionStopBooking(), make_tracker(CONFIRM_STEP, "стоп", "stop"))

    assert "запись не оформляю" in outcome.text
    assert outcome.slots["service"] is None
    assert outcome.slots["booking_attempt"] is None
    assert "phone" not in outcome.slots


def test_done_confirms_and_forgets_this_bookings_choices(run, profile):
    state = {**CONFIRM_STEP, "confirmed": True, "booking_id": "1"}

    outcome = run(ActionBookingDone(), make_tracker(state, "да", "affirm"))

    assert "Готово, вы записаны!" in outcome.text
    assert "завтра, 4 декабря, 15:00" in outcome.text
    assert profile.address in outcome.text
    assert outcome.slots["slot_key"] is None
    assert outcome.slots["service"] is None
    assert "client_name" not in outcome.slots  # kept for the next booking


# -- what a client can type ----------------------------------------------------------

GARBAGE = [
    pytest.param("", id="empty"),
    pytest.param("😀😀", id="emoji"),
    pytest.param("а" * 10_000, id="10k-chars"),
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param("'; DROP TABLE deals; --", id="sql"),
]


@pytest.mark.parametrize("text", GARBAGE)
@pytest.mark.parametrize(
    "step",
    ["service", "when", "staff_pref", "client_name", "phone", "confirmed"],
)
def test_garbage_in_the_form_raises_nothing(run, crm, text, step):
    slots = {**CONFIRM_STEP, "requested_slot": step}
    if step != "confirmed":
        slots[step] = None

    outcome = run(validate, make_tracker(slots, text, "nlu_fallback"))

    assert all(e["event"] == "slot" for e in outcome.events)
    assert crm.deals() == []


def test_time_that_passed_while_deciding_is_not_booked(run, crm, monkeypatch):
    monkeypatch.setenv("ASSISTANT_NOW", "2026-12-04T15:30:00+06:00")

    outcome = run(validate, make_tracker(CONFIRM_STEP, "да", "affirm"))

    assert crm.deals() == []
    assert "уже недоступно" in outcome.text
    assert outcome.slots.get("confirmed") is None
    assert outcome.slots["slot_key"] is None
    assert outcome.slots["requested_slot"] == "slot_key"


NAME_STEP = {
    **PHONE_STEP,
    "phone": None,
    "client_name": None,
    "requested_slot": "client_name",
}


@pytest.mark.parametrize(
    ("text", "intent", "entities", "name"),
    [
        ("Игорь", "out_of_scope", {"person": "Игорь"}, "Игорь"),
        ("Дмитрий Соколов", "inform", {"person": "Дмитрий"}, "Дмитрий Соколов"),
        ("меня зовут Анна", "inform", {}, "Анна"),
        ("Зульфия", "nlu_fallback", {}, "Зульфия"),
    ],
    ids=[
        "name-taken-for-out-of-scope",
        "surname-kept",
        "lead-in-dropped",
        "unknown-name",
    ],
)
def test_a_name_answer_is_taken_whatever_the_intent(run, text, intent, entities, name):
    outcome = run(validate, make_tracker(NAME_STEP, text, intent, entities))

    assert outcome.slots["client_name"] == name
    assert outcome.slots["requested_slot"] == "phone"


@pytest.mark.parametrize("text", ["спасибо", "привет"], ids=["thanks", "hello"])
def test_small_talk_at_the_name_step_is_left_to_the_rules(run, text):
    intent = "thank" if text == "спасибо" else "greet"

    outcome = run(validate, make_tracker(NAME_STEP, text, intent))

    assert outcome.events == [] and outcome.messages == []


def test_deals_stay_unassigned_when_the_profile_says_so(
    run, crm, monkeypatch, tmp_path
):
    raw = yaml.safe_load(DEMO_PROFILE.read_text(encoding="utf-8"))
    raw["manager_assignment"] = "none"
    path = tmp_path / "business.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("BUSINESS_PROFILE", str(path))
    context.profile.cache_clear()

    outcome = run(validate, make_tracker(CONFIRM_STEP, "да", "affirm"))

    assert outcome.slots["booking"]["manager_id"] is None
    assert crm.deals()[0].manager_id is None
