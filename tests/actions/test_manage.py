"""Cancelling and moving a booking from the chat, against a real SQLite CRM."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actions.booking import ValidateBookingForm
from actions.manage import (
    ActionCancelBooking,
    ActionCancelDeal,
    ActionRescheduleBooking,
)
from actions.questions import ActionAskSlotKey
from crm_connector import BookingRequest, Deal
from tests.actions.conftest import SENDER, at, make_tracker, when

ANNA_TOMORROW_15 = "20261204T1500.anna"


def book(crm, sender: str, phone: str, hour: int = 15) -> Deal:
    return crm.book(
        BookingRequest(
            idempotency_key=f"{sender}:{hour}",
            conversation_id=sender,
            channel="rest",
            contact_name="Анна",
            phone=phone,
            service_id="manicure",
            service_name="Маникюр",
            staff_id="anna",
            starts_at=at(4, hour),
            duration_minutes=90,
            price=Decimal("1500"),
        )
    )


@pytest.fixture()
def deal(crm) -> Deal:
    """This conversation's manicure with Anna tomorrow at 15:00."""
    return book(crm, SENDER, "+79131234567")


@pytest.fixture()
def strangers_deal(crm) -> Deal:
    """Another conversation's manicure with Anna tomorrow at 12:00."""
    return book(crm, "client-2", "+79997654321", hour=12)


def offers_for_anna_tomorrow_at_15(run) -> list[str]:
    tracker = make_tracker(
        {
            "service": "manicure",
            "staff_pref": "anna",
            "when": when("2026-12-04", "15:00:00"),
            "requested_slot": "slot_key",
        },
        "",
        "inform",
    )
    return [b["payload"] for b in run(ActionAskSlotKey(), tracker).buttons]


def test_cancel_lists_the_booking_with_a_button(run, deal):
    tracker = make_tracker({}, "отменить запись", "cancel_booking", in_form=False)

    outcome = run(ActionCancelBooking(), tracker)

    assert "Отменить эту запись?" in outcome.text
    assert "Маникюр, завтра, 4 декабря, 15:00, мастер Анна" in outcome.text
    assert f'/cancel_deal{{"deal_id": "{deal.id}"}}' in [
        b["payload"] for b in outcome.buttons
    ]


def test_cancel_without_bookings_gives_the_phone(run, profile, strangers_deal):
    tracker = make_tracker({}, "отменить запись", "cancel_booking", in_form=False)

    outcome = run(ActionCancelBooking(), tracker)

    assert "Не нашла предстоящих записей" in outcome.text
    assert profile.phone in outcome.text


def test_pressed_cancel_frees_the_time(run, crm, deal):
    taken = f'/inform{{"slot_key": "{ANNA_TOMORROW_15}"}}'
    assert taken not in offers_for_anna_tomorrow_at_15(run)
    tracker = make_tracker(
        {}, "/cancel_deal", "cancel_deal", {"deal_id": str(deal.id)}, in_form=False
    )

    outcome = run(ActionCancelDeal(), tracker)

    assert "Запись отменена" in outcome.text
    assert crm.get_deal(deal.id).status == "cancelled"
    assert taken in offers_for_anna_tomorrow_at_15(run)
    assert outcome.slots["deal_outcome"] == {
        "deal_id": deal.id,
        "status": "cancelled",
        "amount": None,
        "manager_id": None,
        "source": "chat",
    }


def test_another_conversations_deal_is_not_cancelled(run, crm, deal, strangers_deal):
    tracker = make_tracker(
        {"phone": "+79131234567"},
        "/cancel_deal",
        "cancel_deal",
        {"deal_id": str(strangers_deal.id)},
        in_form=False,
    )

    outcome = run(ActionCancelDeal(), tracker)

    assert "Запись отменена" not in outcome.text
    assert crm.get_deal(strangers_deal.id).status == "booked"
    assert crm.get_deal(deal.id).status == "booked"


def test_move_starts_the_form_with_the_booking_on_file(run, deal):
    tracker = make_tracker({}, "перенести запись", "reschedule_booking", in_form=False)

    outcome = run(ActionRescheduleBooking(), tracker)

    assert "Переносим запись" in outcome.text
    assert outcome.slots == {
        "moving_deal_id": str(deal.id),
        "service": "manicure",
        "staff_pref": "anna",
        "pd_consent": "on_file",
        "client_name": "Анна",
        "phone": "+79131234567",
        "when": None,
        "slot_key": None,
        "confirmed": None,
        "booking_id": None,
    }
    assert {"event": "followup", "name": "booking_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in outcome.events
    ]


def test_moving_then_confirming_moves_the_same_deal(run, crm, deal):
    moved = run(
        ActionRescheduleBooking(),
        make_tracker({}, "перенести запись", "reschedule_booking", in_form=False),
    )
    state = {**moved.slots, "requested_slot": "when"}

    picked = run(
        ValidateBookingForm(),
        make_tracker(
            state, "в субботу в 12:00", "inform", {"when": "в субботу в 12:00"}
        ),
    )
    state = {**state, **picked.slots, "booking_attempt": "move-1"}
    confirmed = run(ValidateBookingForm(), make_tracker(state, "да", "affirm"))

    assert picked.slots["slot_key"] == "20261205T1200.anna"
    assert picked.slots["requested_slot"] == "confirmed"
    assert confirmed.slots["confirmed"] is True
    assert confirmed.slots["booking_id"] == str(deal.id)
    [after] = crm.deals()
    assert after.id == deal.id
    assert after.starts_at == at(5, 12)
    assert after.status == "booked"
    assert confirmed.slots["booking"]["moved"] is True
    assert confirmed.slots["booking"]["starts_at"] == "2026-12-05T12:00:00+06:00"


def test_a_typed_phone_does_not_open_someone_elses_bookings(run, crm, strangers_deal):
    tracker = make_tracker(
        {"phone": "+79997654321"}, "отменить запись", "cancel_booking", in_form=False
    )

    outcome = run(ActionCancelBooking(), tracker)

    assert "Не нашла предстоящих записей" in outcome.text
    assert crm.get_deal(strangers_deal.id).status == "booked"
