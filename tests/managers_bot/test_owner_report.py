"""The owner's weekly report: on schedule once per week across restarts, and /report."""

from __future__ import annotations

from datetime import datetime

import pytest

from managers_bot.owner_report import due_week
from managers_bot.service import REFUSAL
from tests.conftest import OMSK
from tests.managers_bot.conftest import (
    IRINA,
    MANAGERS_CHAT,
    OWNER_CHAT,
    STRANGER,
    Lead,
    demo_profile,
    serve,
    settings_for,
)


def omsk(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=OMSK)


def to_chat(calls, chat_id: int) -> list:
    return [c for c in calls if int(c.params["chat_id"]) == chat_id]


@pytest.mark.parametrize(
    ("now", "week"),
    [
        pytest.param(
            omsk(7, 8, 59), ("2026-11-23", "2026-11-29"), id="monday-before-9"
        ),
        pytest.param(omsk(7, 9, 0), ("2026-11-30", "2026-12-06"), id="monday-at-9"),
        pytest.param(omsk(13, 23, 0), ("2026-11-30", "2026-12-06"), id="sunday-after"),
    ],
)
def test_the_week_due_follows_the_schedule(now, week):
    schedule = demo_profile().managers_bot.owner_report

    since, until = due_week(schedule, now)

    assert (since.isoformat(), until.isoformat()) == week


def test_the_weekly_report_arrives_once_per_week_even_across_restarts(
    fake_api, stores, clock
):
    lead = Lead(stores, "tg:1")
    lead.says("Здравствуйте", omsk(2, 10).timestamp())
    lead.bot_says("Здравствуйте! Чем помочь?", omsk(2, 10).timestamp() + 20)
    clock.set(omsk(7, 8, 59))
    settings = settings_for(fake_api, stores)

    first = serve(settings, demo_profile(), clock)
    try:
        first.tick()  # the week before: due, sent now (the bot was off on Monday)
        sent_before_nine = len(to_chat(fake_api.of("sendMessage"), OWNER_CHAT))
        clock.set(omsk(7, 9, 0))
        first.tick()
        first.tick()
    finally:
        first.stop()
    second = serve(settings, demo_profile(), clock)
    try:
        clock.set(omsk(7, 9, 30))
        second.tick()
        clock.set(omsk(14, 9, 0))
        second.tick()
    finally:
        second.stop()

    texts = [c.params["text"] for c in to_chat(fake_api.of("sendMessage"), OWNER_CHAT)]
    assert sent_before_nine == 1
    assert [t.splitlines()[0] for t in texts] == [
        "Салон красоты «Лаванда»: отчёт с 23.11.2026 по 29.11.2026 (Asia/Omsk)",
        "Салон красоты «Лаванда»: отчёт с 30.11.2026 по 06.12.2026 (Asia/Omsk)",
        "Салон красоты «Лаванда»: отчёт с 07.12.2026 по 13.12.2026 (Asia/Omsk)",
    ]
    assert "Заявки          1 заявка" in texts[1]
    documents = to_chat(fake_api.of("sendDocument"), OWNER_CHAT)
    assert [d.params["_filename"] for d in documents] == [
        "kpi-2026-11-23--2026-11-29.html",
        "kpi-2026-11-30--2026-12-06.html",
        "kpi-2026-12-07--2026-12-13.html",
    ]
    page = documents[1].files["document"].decode()
    assert page.startswith("<!doctype html>") and "Лаванда" in page


def test_a_report_that_could_not_be_sent_is_sent_on_the_next_round(
    fake_api, stores, clock
):
    Lead(stores, "tg:1").says("Здравствуйте", omsk(2, 10).timestamp())
    clock.set(omsk(7, 9, 5))
    bot = serve(settings_for(fake_api, stores), demo_profile(), clock)
    try:
        fake_api.failing.add("sendMessage")
        with pytest.raises(Exception, match="Bad Gateway"):
            bot.run(bot.bot.send_due_report())
        fake_api.failing.clear()
        bot.tick()
        bot.tick()
    finally:
        bot.stop()

    assert len(to_chat(fake_api.of("sendMessage"), OWNER_CHAT)) == 2  # failed + sent
    assert len(to_chat(fake_api.of("sendDocument"), OWNER_CHAT)) == 1


@pytest.mark.parametrize(
    ("user", "chat", "gets_report"),
    [
        pytest.param(IRINA, MANAGERS_CHAT, True, id="manager"),
        pytest.param(OWNER_CHAT, OWNER_CHAT, True, id="owner-in-own-chat"),
        pytest.param(STRANGER, MANAGERS_CHAT, False, id="stranger"),
    ],
)
def test_report_command(fake_api, stores, clock, user, chat, gets_report):
    Lead(stores, "tg:1").says("Здравствуйте", omsk(2, 10).timestamp())
    clock.set(omsk(3, 12))
    profile = demo_profile()
    bot = serve(settings_for(fake_api, stores), profile, clock)
    try:
        bot.write(user, "/report", chat_id=chat)
    finally:
        bot.stop()

    texts = [c.params["text"] for c in to_chat(fake_api.of("sendMessage"), chat)]
    if gets_report:
        assert texts[0].startswith("Салон красоты «Лаванда»: отчёт с 23.11.2026")
        assert len(to_chat(fake_api.of("sendDocument"), chat)) == 1
    else:
        assert texts == [REFUSAL]
        assert fake_api.of("sendDocument") == []
