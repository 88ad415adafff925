"""Answers outside the form: misunderstood messages and asking for a person."""

from __future__ import annotations

import pytest

from actions.info import ActionFallback, ActionHandoff
from tests.actions.conftest import SENDER, make_tracker, user_event

MISSED = user_event("ыыы", "nlu_fallback")
UNDERSTOOD = user_event("привет", "greet")


@pytest.mark.parametrize(
    "history",
    [
        pytest.param([], id="first-message"),
        pytest.param([UNDERSTOOD], id="after-a-greeting"),
        pytest.param([MISSED, UNDERSTOOD], id="miss-then-understood"),
    ],
)
def test_one_miss_offers_the_menu(run, history):
    tracker = make_tracker({}, "ыыы", "nlu_fallback", events=history, in_form=False)

    outcome = run(ActionFallback(), tracker)

    assert "не совсем поняла" in outcome.text
    assert [b["payload"] for b in outcome.buttons] == [
        "/book",
        "/ask_prices",
        "/ask_location",
        "/request_human",
    ]


def test_two_misses_in_a_row_offer_a_person(run):
    tracker = make_tracker(
        {}, "ыыы", "nlu_fallback", events=[UNDERSTOOD, MISSED], in_form=False
    )

    outcome = run(ActionFallback(), tracker)

    assert "подключу администратора" in outcome.text
    assert "/request_human" in [b["payload"] for b in outcome.buttons]


def test_two_misses_in_the_form_offer_a_person_and_keep_the_form(run):
    tracker = make_tracker(
        {"requested_slot": "phone"}, "ыыы", "nlu_fallback", events=[MISSED]
    )

    outcome = run(ActionFallback(), tracker)

    assert "/request_human" in [b["payload"] for b in outcome.buttons]
    assert outcome.events == []


def test_handoff_is_recorded_and_the_client_told_how_to_reach_us(run, crm, profile):
    tracker = make_tracker(
        {"phone": "+79131234567"}, "позовите человека", "request_human", in_form=False
    )

    outcome = run(ActionHandoff(), tracker)

    [handoff] = crm.handoffs(SENDER)
    assert outcome.slots == {"handoff_id": str(handoff.id)}
    assert handoff.channel == "rest"
    assert handoff.reason == "client_request"
    assert handoff.phone == "+79131234567"
    assert profile.phone in outcome.text
    assert profile.hours_text() in outcome.text


@pytest.mark.parametrize(
    ("history", "reason"),
    [
        pytest.param([UNDERSTOOD], "client_request", id="asked-straight-away"),
        pytest.param([UNDERSTOOD, MISSED], "client_request", id="after-one-miss"),
        pytest.param([MISSED, MISSED], "misunderstood", id="after-two-misses"),
    ],
)
def test_handoff_records_why_the_client_asked(run, crm, history, reason):
    tracker = make_tracker(
        {},
        "/request_human",
        "request_human",
        events=history,
        in_form=False,
    )

    run(ActionHandoff(), tracker)

    [handoff] = crm.handoffs(SENDER)
    assert handoff.reason == reason


def test_unsure_intent_with_a_service_named_starts_the_booking(run):
    tracker = make_tracker(
        {},
        "Хочу на педикюр послезавтра в 12:00",
        "nlu_fallback",
        {"service": "pedicure"},
        in_form=False,
    )

    outcome = run(ActionFallback(), tracker)

    assert outcome.events == [
        {"event": "followup", "name": "booking_form", "timestamp": None}
    ]
    assert outcome.messages == []
