"""The parts together through the real Telegram channel: a client books, the reminder
scheduler reaches them in the same chat through Rasa's API, the client confirms with a
button and the KPI report counts it; a manager takes a chat over and gives it back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from managers_bot.rasa_api import RasaApi
from tests.channels.test_telegram import TelegramBot, new_chat, telegram_bot, texts
from tests.e2e.conftest import deals_json
from tests.e2e.harness import ROOT, Bot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tg(demo_model, tmp_path_factory) -> Iterator[TelegramBot]:
    with telegram_bot(demo_model, tmp_path_factory.mktemp("tg-reminder")) as running:
        yield running


def run(bot: Bot, now: str, *command: str) -> str:
    env = {
        **bot.env,
        "RASA_URL": f"http://127.0.0.1:{bot.rasa_port}",
        "RASA_API_TOKEN": bot.api_token,
        "ASSISTANT_NOW": now,
    }
    done = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_telegram_booking_is_reminded_in_telegram_and_confirmed(tg: TelegramBot):
    chat = new_chat()
    tg.up_to_the_phone(chat, "Запишите на маникюр завтра в 15:00", "Мария")
    summary = tg.share_contact(chat, "79137654321")
    assert "Готово, вы записаны" in texts(tg.press(chat, summary, "Да, всё верно"))
    (deal,) = [d for d in deals_json(tg.bot) if d["conversation_id"] == f"tg:{chat}"]

    # Thursday 15:00 in Omsk: the day-before reminder of Friday 15:00 is due.
    before = len(tg.api.sent(chat))
    assert "sent 1" in run(tg.bot, "2026-12-03T15:00:00+06:00", "reminders", "once")
    reminder = tg.api.sent(chat)[before:]

    assert texts(reminder).startswith("Напоминаем: завтра, 4 декабря, в 15:00 маникюр")
    thanks = tg.press(chat, reminder, "Подтвердить")
    assert "Спасибо, ждём вас" in texts(thanks)
    # Events carry the real clock's time, whatever the pinned one says.
    today = datetime.now(ZoneInfo("Asia/Omsk")).date()
    report = json.loads(
        run(
            tg.bot,
            "2026-12-03T16:00:00+06:00",
            "kpi_reports",
            "--since",
            str(today - timedelta(days=1)),
            "--until",
            str(today + timedelta(days=1)),
            "--format",
            "json",
            "--db",
            tg.bot.tracker_url,
        )
    )
    assert report["by_channel"]["telegram"]["leads"] >= 1
    assert report["by_channel"]["telegram"]["bookings"] >= 1
    assert (report["reminders_sent"], report["reminder_confirmations"]) == (1, 1)
    assert deal["status"] == "booked"


def test_a_manager_takes_over_a_telegram_chat_and_gives_it_back(tg: TelegramBot):
    chat = new_chat()
    sender = f"tg:{chat}"
    assert tg.say(chat, "Здравствуйте, можно поговорить с администратором?")
    api = RasaApi(f"http://127.0.0.1:{tg.bot.rasa_port}", tg.bot.api_token)

    asyncio.run(api.pause(sender))
    quiet = tg.say(chat, "Я подожду, спасибо")
    before = len(tg.api.sent(chat))
    asyncio.run(api.say(sender, "Здравствуйте! Это Ирина, чем могу помочь?"))
    relayed = tg.api.sent(chat)[before:]
    asyncio.run(api.resume(sender))
    answered = tg.say(chat, "Сколько стоит маникюр?")

    assert quiet == []  # the bot keeps quiet while a manager has the chat
    assert texts(relayed) == "Здравствуйте! Это Ирина, чем могу помочь?"
    assert "Маникюр" in texts(answered)
    bot_events = [e for e in tg.bot.tracker(sender)["events"] if e["event"] == "bot"]
    assert any((e.get("metadata") or {}).get("from_manager") for e in bot_events)
