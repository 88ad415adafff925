"""Reminders end to end: the real Rasa and action servers, the scheduler as its own
process under a pinned clock, restarted between passes and run twice at once.

It lives with the other end-to-end tests to share their trained model (the unit tests
of the package are in tests/reminders/)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import deals_json, make_bot
from tests.e2e.harness import ROOT, Bot, text_of
from tests.e2e.test_rest_booking import book_manicure, pick

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bot(demo_model, tmp_path_factory) -> Iterator[Bot]:
    bot = make_bot(demo_model, ROOT / "business.yml", tmp_path_factory.mktemp("rem"))
    bot.start()
    yield bot
    bot.stop()


def scheduler_env(bot: Bot, now: str) -> dict[str, str]:
    return {
        **bot.env,
        "RASA_URL": f"http://127.0.0.1:{bot.rasa_port}",
        "RASA_API_TOKEN": bot.api_token,
        "ASSISTANT_NOW": now,
    }


def once(bot: Bot, now: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "reminders", "once"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=scheduler_env(bot, now),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def reminders_in(bot: Bot, sender: str) -> list[dict]:
    """The reminders the client got: the bot's messages in the conversation's log."""
    return [
        e
        for e in bot.tracker(sender)["events"]
        if e["event"] == "bot" and (e.get("text") or "").startswith("Напоминаем")
    ]


def reply_buttons(event: dict) -> list[dict]:
    return event.get("data", {}).get("buttons") or []


def test_reminders_fire_once_at_their_times_and_answers_work(bot: Bot):
    book_manicure(bot, "rem-1", "Мария", "8 913 200-00-01", at="15:00")
    book_manicure(bot, "rem-2", "Ольга", "8 913 200-00-02", at="16:30")
    cancel = bot.say("rem-2", "Хочу отменить запись")
    assert "Запись отменена" in text_of(bot.say("rem-2", pick(cancel, "Отменить:")))

    # Thursday 14:00: the day-before reminder of Friday 15:00 is not due yet.
    assert once(bot, "2026-12-03T14:00:00+06:00").startswith("planned 2, sent 0")
    assert reminders_in(bot, "rem-1") == []

    # 15:00: two schedulers at once, each passing every 0.2 s; one reminder goes out.
    env = scheduler_env(bot, "2026-12-03T15:00:00+06:00")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "reminders", "serve", "--interval", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while not reminders_in(bot, "rem-1") and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)  # ten more passes of each worker
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            assert worker.wait(timeout=20) == 0

    first = reminders_in(bot, "rem-1")
    assert len(first) == 1
    assert first[0]["text"].startswith(
        "Напоминаем: завтра, 4 декабря, в 15:00 маникюр у Анны."
    )
    titles = [b["title"] for b in reply_buttons(first[0])]
    assert titles == ["Подтвердить", "Отменить", "Перенести"]
    confirmed = bot.say("rem-1", reply_buttons(first[0])[0]["payload"])
    assert "Спасибо, ждём вас" in text_of(confirmed)

    # A restarted scheduler later that evening sends nothing again.
    assert "sent 0" in once(bot, "2026-12-03T19:00:00+06:00")
    # Friday 13:00, two hours before: the second reminder; the client cancels.
    assert "sent 1" in once(bot, "2026-12-04T13:00:00+06:00")
    second = reminders_in(bot, "rem-1")
    assert len(second) == 2 and reminders_in(bot, "rem-2") == []
    cancel_payload = reply_buttons(second[1])[1]["payload"]
    assert "Запись отменена" in text_of(bot.say("rem-1", cancel_payload))

    # The freed slot: Anna's 15:00 is offered and booked by another client.
    deals = {d["conversation_id"]: d for d in deals_json(bot)}
    assert deals["rem-1"]["status"] == "cancelled"
    done = book_manicure(bot, "rem-3", "Ирина", "8 913 200-00-03", at="15:00")
    assert "Готово" in text_of(done)
    taker = {d["conversation_id"]: d for d in deals_json(bot)}["rem-3"]
    assert (taker["staff_id"], taker["starts_at"]) == (
        deals["rem-1"]["staff_id"],
        "2026-12-04T15:00:00+06:00",
    )

    report = json.loads(
        subprocess.run(
            [sys.executable, "-m", "kpi_reports", "--since", "2026-12-01"]
            + ["--until", "2030-01-01", "--format", "json", "--db", bot.tracker_url],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=bot.env,
            check=True,
        ).stdout
    )
    assert report["reminders_sent"] == 2
    # rem-1 confirmed, then cancelled: its latest answer counts.
    assert (report["reminder_confirmations"], report["reminder_cancellations"]) == (
        0,
        1,
    )
    assert report["leads"] == 3  # the reminders made no lead of their own
