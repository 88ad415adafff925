"""With real Rasa and action servers: a booking's card, and a hand-off a manager takes,
talks through both ways and gives back to the bot."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import MODELS, make_bot
from tests.e2e.harness import ROOT, Bot, text_of, train
from tests.e2e.test_kpi_flow import book
from tests.managers_bot.conftest import (
    DMITRY,
    IRINA,
    Running,
    demo_profile,
    serve,
    settings_for,
)
from tests.managers_bot.test_cards import slot_events

pytestmark = pytest.mark.e2e


class RealClock:
    def __call__(self) -> float:
        return time.time()


@pytest.fixture(scope="module")
def rasa(tmp_path_factory) -> Iterator[Bot]:
    # The e2e package's model, trained once per distinct training data.
    model = train(ROOT / "business.yml", MODELS / "demo")
    bot = make_bot(model, ROOT / "business.yml", tmp_path_factory.mktemp("mbot"))
    bot.start()
    yield bot
    bot.stop()


@pytest.fixture()
def managers(rasa, fake_api) -> Iterator[Running]:
    stores = {"tracker": rasa.tracker_url, "crm": rasa.crm_url}
    settings = settings_for(
        fake_api,
        stores,
        rasa_url=f"http://127.0.0.1:{rasa.rasa_port}",
        rasa_token=rasa.api_token,
    )
    running = serve(settings, demo_profile(owner_chat=None), RealClock())
    running.tick()
    yield running
    running.stop()


def last_card(managers: Running):
    cards = [managers.bot.store.card(i) for i in range(1, 50)]
    return [c for c in cards if c is not None][-1]


def test_a_booking_in_the_chat_puts_a_card_in_the_managers_chat(
    rasa, managers, fake_api
):
    book(rasa, "tg:e2e-1", "15:00", "Мария", "8 913 765-43-21")
    managers.tick()

    (card,) = fake_api.of("sendMessage")
    text = card.params["text"]
    assert "Новая запись" in text
    assert "Клиент: Мария" in text and "Телефон: +79137654321" in text
    assert "Время: 4 декабря (пт), 15:00" in text


def test_a_taken_hand_off_is_relayed_both_ways_and_handed_back(
    rasa, managers, fake_api
):
    sender = "tg:e2e-2"
    rasa.say(sender, "Здравствуйте")
    assert "администратор" in text_of(rasa.say(sender, "позовите администратора"))
    managers.tick()
    card = last_card(managers)
    assert card.kind == "handoff"

    managers.tap(IRINA, f"take:{card.id}", card.message_id)
    managers.tap(DMITRY, f"take:{card.id}", card.message_id)

    assert rasa.tracker(sender)["paused"] is True
    assert rasa.say(sender, "Сколько стоит маникюр?") == []  # the bot keeps quiet
    managers.tick()
    relayed = fake_api.of("sendMessage")[-1].params
    assert relayed["text"] == "💬 Клиент: Сколько стоит маникюр?"
    assert relayed["reply_parameters"]["message_id"] == card.message_id

    managers.write(
        IRINA, "Маникюр стоит 1500 ₽. Записать вас на завтра?", card.message_id
    )
    managers.write(DMITRY, "Я тоже тут", card.message_id)  # not theirs: not sent

    events = rasa.tracker(sender)["events"]
    from_manager = [
        e["text"]
        for e in events
        if e["event"] == "bot" and (e.get("metadata") or {}).get("from_manager")
    ]
    assert from_manager == ["Маникюр стоит 1500 ₽. Записать вас на завтра?"]
    (taken,) = slot_events(rasa.tracker_url, sender, "handoff_taken")
    assert taken["manager_id"] == "irina" and taken["handoff_id"] is not None
    assert 0 <= taken["pickup_seconds"] < 60
    (reply,) = slot_events(rasa.tracker_url, sender, "manager_reply")
    assert reply["manager_id"] == "irina" and 0 <= reply["response_seconds"] < 60

    managers.write(IRINA, "/bot", card.message_id)

    assert rasa.tracker(sender)["paused"] is False
    assert "Маникюр — 1\xa0500\xa0₽" in text_of(
        rasa.say(sender, "Сколько стоит маникюр?")
    )
    said = [c.params["text"] for c in fake_api.of("sendMessage")]
    assert "Разговор ведёт Ирина." in said  # Dmitry's reply went nowhere
    assert "Разговор снова ведёт бот." in said
    assert not any("Я тоже тут" in text for text in said)
