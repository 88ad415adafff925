"""The reminder in the chat and the client's answers, against a real SQLite CRM."""

from __future__ import annotations

import pytest

from actions.reminders import (
    ActionConfirmVisit,
    ActionReminderCancel,
    ActionReminderMove,
    ActionSendReminder,
    genitive,
    visit_moment,
)
from tests.actions.conftest import SENDER, at, make_tracker
from tests.actions.test_manage import book


@pytest.fixture()
def deal(crm):
    return book(crm, SENDER, "+79131234567")


def reminder_tracker(deal_id, reminder_id="7", sender=SENDER):
    entities = {"deal_id": str(deal_id), "reminder_id": reminder_id}
    return make_tracker(
        {}, "", "EXTERNAL_reminder", entities, sender=sender, in_form=False
    )


def test_the_reminder_names_the_day_time_service_and_master(run, deal):
    done = run(ActionSendReminder(), reminder_tracker(deal.id))

    assert done.text == (
        "Напоминаем: завтра, 4 декабря, в 15:00 маникюр у Анны.\n"
        "Салон красоты «Лаванда», Омск, ул. Ленина, 18, 2 этаж (вход со двора).\n"
        "Пожалуйста, подтвердите визит. Если планы изменились, запись можно "
        "отменить или перенести."
    )
    assert [(b["title"], b["payload"]) for b in done.buttons] == [
        ("Подтвердить", f'/confirm_visit{{"deal_id": "{deal.id}"}}'),
        ("Отменить", f'/reminder_cancel{{"deal_id": "{deal.id}"}}'),
        ("Перенести", f'/reminder_move{{"deal_id": "{deal.id}"}}'),
    ]
    assert done.slots["reminder"] == {
        "reminder_id": 7,
        "deal_id": deal.id,
        "starts_at": "2026-12-04T15:00:00+06:00",
    }


@pytest.mark.parametrize(
    ("change", "sender"),
    [
        pytest.param("cancel", SENDER, id="cancelled-since"),
        pytest.param(None, "someone-else", id="other-conversation"),
    ],
)
def test_no_reminder_for_a_cancelled_or_foreign_deal(run, crm, deal, change, sender):
    if change == "cancel":
        crm.cancel(deal.id)

    done = run(ActionSendReminder(), reminder_tracker(deal.id, sender=sender))

    assert done.messages == [] and done.events == []


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param(at(3, 15), "сегодня в 15:00", id="today"),
        pytest.param(at(4, 9, 30), "завтра, 4 декабря, в 09:30", id="tomorrow"),
        pytest.param(at(8, 11), "во вторник, 8 декабря, в 11:00", id="weekday"),
    ],
)
def test_visit_moment(start, expected):
    assert visit_moment(start, at(3, 10)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Анна", "Анны"), ("Игорь", "Игоря"), ("Елена", "Елены"), ("Серёжа", "Серёжи")],
)
def test_masters_name_after_u(name, expected):
    assert genitive(name) == expected


def test_confirm_button_records_the_answer(run, deal):
    tracker = make_tracker(
        {}, "", "confirm_visit", {"deal_id": str(deal.id)}, in_form=False
    )

    done = run(ActionConfirmVisit(), tracker)

    assert "Спасибо, ждём вас" in done.text and "15:00" in done.text
    assert done.slots["reminder_answer"] == {"deal_id": deal.id, "answer": "confirmed"}


def test_a_plain_yes_confirms_the_latest_reminder(run, deal):
    tracker = make_tracker(
        {"reminder": {"reminder_id": 7, "deal_id": deal.id}},
        "да",
        "affirm",
        in_form=False,
    )

    done = run(ActionConfirmVisit(), tracker)

    assert done.slots["reminder_answer"]["deal_id"] == deal.id


def test_cancel_frees_the_slot_at_once(run, crm, deal):
    tracker = make_tracker(
        {}, "", "reminder_cancel", {"deal_id": str(deal.id)}, in_form=False
    )

    done = run(ActionReminderCancel(), tracker)

    assert crm.get_deal(deal.id).status == "cancelled"
    assert crm.busy_intervals(at(4, 15), at(4, 16), ["anna"]) == {"anna": []}
    assert "Запись отменена" in done.text
    assert done.slots["deal_outcome"]["source"] == "reminder"
    assert done.slots["reminder_answer"] == {"deal_id": deal.id, "answer": "cancelled"}


def test_a_forged_cancel_of_another_conversations_deal_changes_nothing(run, crm):
    strangers = book(crm, "client-2", "+79997654321", hour=12)
    tracker = make_tracker(
        {}, "", "reminder_cancel", {"deal_id": str(strangers.id)}, in_form=False
    )

    done = run(ActionReminderCancel(), tracker)

    assert crm.get_deal(strangers.id).status == "booked"
    assert "Не нашла предстоящих записей" in done.text
    assert done.events == []


def test_move_starts_the_move_flow_and_records_the_answer(run, deal):
    tracker = make_tracker(
        {}, "", "reminder_move", {"deal_id": str(deal.id)}, in_form=False
    )

    done = run(ActionReminderMove(), tracker)

    assert done.slots["reminder_answer"] == {"deal_id": deal.id, "answer": "move"}
    assert done.slots["moving_deal_id"] == str(deal.id)
    assert (done.events[-1]["event"], done.events[-1]["name"]) == (
        "followup",
        "booking_form",
    )
