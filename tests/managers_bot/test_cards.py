"""Lead cards, taps and marks against a fake Bot API, on hand-written lead logs."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime

import pytest
from sqlalchemy import create_engine, select

from conversation_log.append import EVENTS
from crm_connector import SqlCRM
from kpi_reports import compute_report
from managers_bot.service import REFUSAL
from tests.conftest import OMSK
from tests.managers_bot.conftest import (
    DMITRY,
    IRINA,
    MANAGERS_CHAT,
    STRANGER,
    Lead,
    demo_profile,
    serve,
    settings_for,
)

VISIT = datetime(2026, 12, 4, 15, 0, tzinfo=OMSK)


def slot_events(tracker_url: str, sender: str, name: str) -> list:
    engine = create_engine(tracker_url, future=True)
    with engine.connect() as connection:
        rows = (
            connection.execute(
                select(EVENTS.c.data)
                .where(EVENTS.c.sender_id == sender, EVENTS.c.action_name == name)
                .order_by(EVENTS.c.id)
            )
            .scalars()
            .all()
        )
    engine.dispose()
    return [json.loads(r)["value"] for r in rows]


def booked_card(running, stores, clock, sender: str = "tg:501") -> tuple[int, int]:
    lead = Lead(stores, sender)
    lead.says("Хочу на маникюр завтра в 15", clock() - 60)
    lead.bot_says("Выберите удобное время:", clock() - 59)
    deal_id = lead.books(clock() - 30, VISIT)
    running.tick()
    card_message = running.bot.store.card(1).message_id
    return deal_id, card_message


def test_a_booking_posts_one_card_with_the_leads_story(
    running, stores, clock, fake_api
):
    booked_card(running, stores, clock)
    running.tick()

    (sent,) = fake_api.of("sendMessage")
    assert sent.params["chat_id"] in (MANAGERS_CHAT, str(MANAGERS_CHAT))
    text = sent.params["text"]
    for part in (
        "Новая запись",
        "Клиент: Мария",
        "Телефон: +79137654321",
        "Услуга: Маникюр",
        "Время: 4 декабря (пт), 15:00, мастер Анна",
        "Канал: Telegram",
        "Клиент: Хочу на маникюр завтра в 15",
        "Бот: Выберите удобное время:",
    ):
        assert part in text
    buttons = [
        b["text"] for row in sent.params["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert buttons == ["Взять", "Пришёл", "Не пришёл", "Отменить"]


def test_a_card_is_posted_once_even_after_a_restart(fake_api, stores, clock):
    first = serve(settings_for(fake_api, stores), demo_profile(owner_chat=None), clock)
    try:
        Lead(stores, "tg:502").books(clock(), VISIT)
        first.tick()
    finally:
        first.stop()
    second = serve(settings_for(fake_api, stores), demo_profile(owner_chat=None), clock)
    try:
        second.tick()
        Lead(stores, "tg:502").books(clock(), VISIT)  # the same deal, written again
        second.tick()
    finally:
        second.stop()

    assert len(fake_api.of("sendMessage")) == 1


def test_the_history_before_the_first_start_gets_no_cards(fake_api, stores, clock):
    Lead(stores, "tg:old").books(clock() - 3600, VISIT)
    bot = serve(settings_for(fake_api, stores), demo_profile(owner_chat=None), clock)
    try:
        bot.tick()
    finally:
        bot.stop()

    assert fake_api.of("sendMessage") == []


def test_a_card_waits_while_telegram_is_down_and_is_posted_once_after(
    running, stores, clock, fake_api
):
    fake_api.failing.add("sendMessage")
    Lead(stores, "tg:503").books(clock(), VISIT)
    running.tick()
    running.tick()
    fake_api.failing.clear()
    running.tick()
    running.tick()

    assert len(fake_api.of("sendMessage")) == 3  # two refused, one delivered
    assert running.bot.store.card(1).message_id is not None


@pytest.mark.parametrize(
    ("user", "chat"),
    [
        pytest.param(STRANGER, MANAGERS_CHAT, id="unknown-user"),
        pytest.param(IRINA, -100999, id="manager-in-another-chat"),
    ],
)
def test_a_tap_from_outside_is_refused_and_changes_nothing(
    running, stores, clock, fake_api, user, chat
):
    deal_id, message_id = booked_card(running, stores, clock)

    for data in ("take:1", "came:1"):
        assert running.tap(user, data, message_id, chat_id=chat) == 200

    answers = fake_api.of("answerCallbackQuery")
    assert [a.params["text"] for a in answers] == [REFUSAL, REFUSAL]
    assert all(str(a.params["show_alert"]).lower() == "true" for a in answers)
    assert fake_api.of("editMessageText") == []
    card = running.bot.store.card(1)
    assert (card.taken_by, card.outcome) == (None, None)
    crm = SqlCRM(stores["crm"])
    assert crm.get_deal(deal_id).status == "booked"
    crm.close()
    assert slot_events(stores["tracker"], "tg:501", "handoff_taken") == []


def test_two_managers_tap_take_at_once_and_one_gets_the_lead(
    running, stores, clock, fake_api
):
    deal_id, message_id = booked_card(running, stores, clock)
    start = threading.Barrier(2)
    codes = []

    def tap(user: int) -> None:
        start.wait(5)
        codes.append(running.tap(user, "take:1", message_id))

    threads = [threading.Thread(target=tap, args=(u,)) for u in (IRINA, DMITRY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert codes == [200, 200]
    owner = running.bot.store.card(1).taken_by
    assert owner in ("irina", "dmitry")
    other = "Дмитрий" if owner == "irina" else "Ирина"
    texts = sorted(a.params["text"] for a in fake_api.of("answerCallbackQuery"))
    assert texts == sorted(
        [
            "Заявка ваша.",
            f"Эту заявку уже взял(а) {dict(irina='Ирина', dmitry='Дмитрий')[owner]}.",
        ]
    )
    assert other not in fake_api.of("editMessageText")[-1].params["text"]
    taken = slot_events(stores["tracker"], "tg:501", "handoff_taken")
    assert [t["manager_id"] for t in taken] == [owner]
    assert taken[0]["pickup_seconds"] == 30.0
    crm = SqlCRM(stores["crm"])
    assert crm.get_deal(deal_id).manager_id == owner
    crm.close()
    edited = fake_api.of("editMessageText")
    assert len(edited) == 1
    assert "✅ Ведёт: " in edited[0].params["text"]
    rows = edited[0].params["reply_markup"]["inline_keyboard"]
    assert [b["text"] for row in rows for b in row] == [
        "Пришёл",
        "Не пришёл",
        "Отменить",
    ]


@pytest.mark.parametrize(
    ("button", "status", "visits", "no_shows"),
    [
        pytest.param("came", "attended", 1, 0, id="came"),
        pytest.param("noshow", "no_show", 0, 1, id="did-not-come"),
        pytest.param("cancel", "cancelled", 0, 0, id="cancelled"),
    ],
)
def test_an_outcome_button_marks_the_deal_and_changes_the_kpi_report(
    running, stores, clock, fake_api, button, status, visits, no_shows
):
    deal_id, message_id = booked_card(running, stores, clock)
    profile = demo_profile()
    before = compute_report(
        stores["tracker"], profile, date(2026, 12, 1), date(2026, 12, 7)
    )

    running.tap(IRINA, f"{button}:1", message_id)
    running.tap(IRINA, f"{button}:1", message_id)  # a second tap changes nothing

    after = compute_report(
        stores["tracker"], profile, date(2026, 12, 1), date(2026, 12, 7)
    )
    assert (before["visits"], before["no_shows"]) == (0, 0)
    assert (after["visits"], after["no_shows"]) == (visits, no_shows)
    assert after["revenue"] == (1500 if visits else 0)
    crm = SqlCRM(stores["crm"])
    assert crm.get_deal(deal_id).status == status
    crm.close()
    outcomes = slot_events(stores["tracker"], "tg:501", "deal_outcome")
    assert [(o["status"], o["source"]) for o in outcomes] == [(status, "managers_bot")]
    answers = [a.params["text"] for a in fake_api.of("answerCallbackQuery")]
    assert answers[1] == "Уже отмечено."
    assert "Итог: " in fake_api.of("editMessageText")[0].params["text"]


def test_a_cancelled_deal_cannot_be_marked_as_a_visit(running, stores, clock, fake_api):
    _, message_id = booked_card(running, stores, clock)
    running.tap(IRINA, "cancel:1", message_id)
    running.tap(IRINA, "came:1", message_id)

    answers = [a.params["text"] for a in fake_api.of("answerCallbackQuery")]
    assert answers[-1] == "Отменённую запись отметить нельзя."


@pytest.mark.parametrize(
    ("secret", "body", "status"),
    [
        pytest.param(None, None, 403, id="no-secret"),
        pytest.param("forged", None, 403, id="wrong-secret"),
        pytest.param("s3cret-webhook-token", b"not json", 400, id="garbage"),
        pytest.param("s3cret-webhook-token", b"[1, 2]", 400, id="not-an-update"),
        pytest.param(
            "s3cret-webhook-token",
            b'{"update_id": 5, "callback_query": {"data": "take:1"}}',
            400,
            id="callback-without-user",
        ),
    ],
)
def test_bad_webhook_calls_are_refused_and_change_nothing(
    running, stores, clock, fake_api, secret, body, status
):
    _, message_id = booked_card(running, stores, clock)
    forged = json.dumps(
        {
            "update_id": 99,
            "callback_query": {
                "id": "x",
                "from": {"id": IRINA, "is_bot": False, "first_name": "I"},
                "chat_instance": "c",
                "data": "take:1",
                "message": {
                    "message_id": message_id,
                    "date": 1,
                    "chat": {"id": MANAGERS_CHAT, "type": "supergroup"},
                },
            },
        }
    ).encode()

    assert running.post({}, secret=secret, raw=body or forged) == status

    assert running.bot.store.card(1).taken_by is None
    assert fake_api.of("answerCallbackQuery") == []


@pytest.mark.parametrize(
    ("intents", "cards"),
    [
        pytest.param(["nlu_fallback", "nlu_fallback"], 1, id="two-misses"),
        pytest.param(
            ["nlu_fallback", "out_of_scope", "nlu_fallback"], 1, id="three-misses"
        ),
        pytest.param(["nlu_fallback", "book", "nlu_fallback"], 0, id="not-in-a-row"),
    ],
)
def test_two_misunderstood_messages_in_a_row_make_one_card(
    running, stores, clock, fake_api, intents, cards
):
    lead = Lead(stores, "wa:77")
    for n, intent in enumerate(intents):
        lead.says(f"сообщение {n}", clock() + n, intent=intent, channel="whatsapp")
        running.tick()

    sent = fake_api.of("sendMessage")
    assert len(sent) == cards
    if cards:
        assert "Бот дважды не понял клиента" in sent[0].params["text"]
        assert "Канал: WhatsApp" in sent[0].params["text"]


def test_a_message_with_a_profile_word_makes_a_card_once_per_session(
    running, stores, clock, fake_api
):
    lead = Lead(stores, "tg:88")
    lead.says("Хочу оставить ЖАЛОБУ на мастера", clock(), intent="nlu_fallback")
    lead.says("Это уже вторая жалоба", clock() + 5, intent="faq")
    running.tick()

    (sent,) = fake_api.of("sendMessage")
    assert "Сообщение требует внимания («жалобу»)" in sent.params["text"]


def test_client_messages_wait_while_telegram_is_down_and_arrive_once(
    running, stores, clock, fake_api
):
    # A taken-over conversation (the pause itself is Rasa's: see the e2e test).
    booked_card(running, stores, clock)
    running.bot.store.set_takeover(1, True)
    lead = Lead(stores, "tg:501")
    fake_api.failing.add("sendMessage")
    lead.says("Можно перенести на 16:00?", clock() + 1)
    lead.says("Или на 17:00", clock() + 2)
    running.tick()
    fake_api.failing.clear()
    running.tick()
    running.tick()

    delivered = [
        c.params["text"]
        for c in fake_api.of("sendMessage")
        if c.params["text"].startswith("💬")
    ]
    assert delivered == [
        "💬 Клиент: Можно перенести на 16:00?",  # refused while Telegram was down
        "💬 Клиент: Можно перенести на 16:00?",
        "💬 Клиент: Или на 17:00",
    ]
