"""With real Rasa and action servers: a booking's card, and a hand-off a manager takes,
talks through both ways and gives back to the bot."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import MODELS, make_bot
from tests.e2e.harness import ROOT, Bot, free_port, text_of, train
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


class Recorder:
    """What the capture channel delivered to clients, by recipient."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                recorder.received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self, recipient: str) -> list[str]:
        return [m["text"] for m in self.received if m["recipient_id"] == recipient]


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    yield found
    found.server.shutdown()


@pytest.fixture(scope="module")
def rasa(tmp_path_factory, recorder) -> Iterator[Bot]:
    # The e2e package's model, trained once per distinct training data.
    model = train(ROOT / "business.yml", MODELS / "demo")
    bot = make_bot(model, ROOT / "business.yml", tmp_path_factory.mktemp("mbot"))
    # The project's channels and a test channel that records what clients receive.
    bot.credentials = bot.workdir / "credentials.yml"
    bot.credentials.write_text(
        (ROOT / "credentials.yml").read_text(encoding="utf-8")
        + "\ntests.managers_bot.capture_channel.CaptureInput:\n",
        encoding="utf-8",
    )
    bot.extra_env["CAPTURE_URL"] = recorder.url
    bot.start()
    yield bot
    bot.stop()


def capture_say(bot: Bot, sender: str, text: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{bot.rasa_port}/webhooks/capture/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200


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


def test_a_managers_message_reaches_the_client_through_the_clients_channel(
    rasa, managers, fake_api, recorder
):
    sender = "cap:client-3"
    capture_say(rasa, sender, "позовите администратора")
    managers.tick()
    card = last_card(managers)
    managers.tap(DMITRY, f"take:{card.id}", card.message_id)

    managers.write(DMITRY, "Добрый день! Это Дмитрий, администратор.", card.message_id)

    received = recorder.texts(sender)
    assert "администратор" in received[0]  # the bot's own answer to the request
    assert received[-1] == "Добрый день! Это Дмитрий, администратор."
