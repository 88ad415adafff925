"""Whole conversations through Rasa's REST webhook with both real servers running."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import deals_json, make_bot
from tests.e2e.harness import ROOT, buttons_of, text_of

pytestmark = pytest.mark.e2e


def pick(replies: list[dict], title_part: str) -> str:
    """The payload of the first button whose title contains `title_part`."""
    for button in buttons_of(replies):
        if title_part in button["title"]:
            return button["payload"]
    raise AssertionError(f"no button with {title_part!r} in {buttons_of(replies)}")


def book_manicure(
    bot, sender: str, name: str, phone: str, at: str = "15:00"
) -> list[dict]:
    # A manicure lasts 90 minutes and two masters do it: tests sharing one bot
    # choose times that are still free after the earlier tests' bookings.
    replies = bot.say(sender, "Хочу записаться на маникюр завтра после 15")
    assert "Выберите удобное время" in text_of(replies)
    replies = bot.say(sender, pick(replies, f"завтра, 4 декабря, {at}"))
    assert "согласие на обработку персональных данных" in text_of(replies)
    assert bot.say(sender, "да")[0]["text"] == "Как вас зовут?"
    assert "номер телефона" in text_of(bot.say(sender, name))
    summary = text_of(bot.say(sender, phone))
    assert "Проверьте" in summary and at in summary
    return bot.say(sender, "да")


def test_greeting_names_the_business_and_offers_buttons(demo_bot):
    replies = demo_bot.say("greeter", "Здравствуйте")

    assert "Салон красоты «Лаванда»" in text_of(replies)
    titles = [b["title"] for b in buttons_of(replies)]
    assert titles == [
        "Записаться",
        "Цены",
        "Адрес и часы работы",
        "Связаться с администратором",
    ]


def test_booking_lands_in_the_crm_with_the_business_offset(demo_bot):
    done = book_manicure(demo_bot, "client-1", "Мария", "8 913 765-43-21")

    assert "Готово, вы записаны" in text_of(done)
    deals = [d for d in deals_json(demo_bot) if d["conversation_id"] == "client-1"]
    assert len(deals) == 1
    deal = deals[0]
    assert deal["phone"] == "+79137654321"
    assert deal["contact_name"] == "Мария"
    assert deal["service_id"] == "manicure"
    assert deal["starts_at"] == "2026-12-04T15:00:00+06:00"
    assert deal["duration_minutes"] == 90
    assert deal["price"] == 1500
    assert deal["status"] == "booked"
    assert deal["channel"] == "rest"


def test_one_message_fills_several_slots(demo_bot):
    sender = "client-multi"
    replies = demo_bot.say(
        sender, "Запишите на педикюр завтра в 12:00, Ольга Петровна, 8 923 111-22-33"
    )
    assert "согласие" in text_of(replies)  # consent first, nothing else asked

    summary = text_of(demo_bot.say(sender, "да"))

    assert "Педикюр" in summary and "12:00" in summary
    assert "+7 923 111-22-33" in summary


def test_second_client_cannot_take_a_booked_slot(demo_bot):
    book_manicure(demo_bot, "client-a", "Анна", "8 913 000-11-22")
    replies = demo_bot.say("client-b", "Запишите к Анне на маникюр завтра в 15:00")

    offered = [b["title"] for b in buttons_of(replies)]
    assert "завтра, 4 декабря, 15:00" not in offered
    assert offered, "the nearest free times are offered instead"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "😀😀😀",
        "а" * 10_000,
        "<script>alert(1)</script>",
        "'; DROP TABLE events; --",
    ],
    ids=["empty", "emoji", "10k-chars", "markup", "sql"],
)
def test_odd_messages_get_an_answer_and_are_stored_as_sent(demo_bot, text):
    sender = f"odd-{len(text)}-{abs(hash(text)) % 1000}"

    replies = demo_bot.say(sender, text)

    assert isinstance(replies, list)
    assert replies, "every message gets an answer"
    users = [e for e in demo_bot.tracker(sender)["events"] if e["event"] == "user"]
    assert users and users[-1]["text"] == text


def test_reply_latency_and_first_response_are_in_the_tracker(demo_bot):
    demo_bot.say("timed", "Привет")
    demo_bot.say("timed", "Сколько стоит стрижка?")

    slots = [e for e in demo_bot.tracker("timed")["events"] if e["event"] == "slot"]
    latencies = [e["value"] for e in slots if e["name"] == "reply_latency_ms"]
    firsts = [e["value"] for e in slots if e["name"] == "first_response_ms"]
    assert len(latencies) == 2 and all(0 < v < 10_000 for v in latencies)
    assert len(firsts) == 1


def test_restart_of_both_servers_continues_the_dialogue(demo_model, tmp_path):
    bot = make_bot(demo_model, ROOT / "business.yml", tmp_path)
    bot.start()
    try:
        replies = bot.say("restarted", "Хочу записаться на маникюр завтра после 15")
        slot = pick(replies, "15:30")
        bot.stop()
        bot.start()

        assert "согласие" in text_of(bot.say("restarted", slot))
        bot.say("restarted", "да")
        bot.say("restarted", "Светлана")
        bot.say("restarted", "+7 913 222-33-44")
        done = bot.say("restarted", "да")
        again = bot.say("restarted", "да")
    finally:
        bot.stop()

    assert "Готово" in text_of(done)
    assert "Готово" not in text_of(again)
    assert len(deals_json(bot)) == 1


def test_second_profile_drives_the_bot(clinic_model, tmp_path):
    clinic = ROOT / "examples" / "dental-clinic.yml"
    bot = make_bot(clinic_model, clinic, tmp_path)
    bot.start()
    try:
        greeting = text_of(bot.say("patient", "Добрый день"))
        replies = bot.say("patient", "Хочу записаться на чистку зубов в пятницу утром")
        offer = buttons_of(replies)
        bot.say("patient", offer[0]["payload"])
        bot.say("patient", "да")
        bot.say("patient", "Олег")
        bot.say("patient", "89139998877")
        done = bot.say("patient", "да")
    finally:
        bot.stop()

    assert "Стоматология «Дента Плюс»" in greeting
    assert "Готово" in text_of(done)
    deal = deals_json(bot)[0]
    assert deal["service_id"] == "cleaning"
    assert deal["staff_id"] == "smirnova"
    assert deal["starts_at"].startswith("2026-12-04T")
    assert deal["price"] == 4500


def test_client_moves_then_cancels_their_booking(demo_bot):
    sender = "client-move"
    book_manicure(demo_bot, sender, "Ирина", "8 913 444-55-66", at="16:30")
    (before,) = [d for d in deals_json(demo_bot) if d["conversation_id"] == sender]

    replies = demo_bot.say(sender, "Можно перенести запись на субботу?")
    assert "Переносим запись" in text_of(replies)
    replies = demo_bot.say(sender, pick(replies, "сб, 5 декабря, 12:00"))
    assert "Переносим запись. Проверьте" in text_of(replies)
    assert "Готово, запись перенесена" in text_of(demo_bot.say(sender, "да"))

    (moved,) = [d for d in deals_json(demo_bot) if d["conversation_id"] == sender]
    assert moved["id"] == before["id"]
    assert moved["starts_at"] == "2026-12-05T12:00:00+06:00"

    replies = demo_bot.say(sender, "Отмените мою запись, пожалуйста")
    replies = demo_bot.say(sender, pick(replies, "Отменить"))
    assert "Запись отменена" in text_of(replies)
    (cancelled,) = [d for d in deals_json(demo_bot) if d["conversation_id"] == sender]
    assert cancelled["status"] == "cancelled"


def test_a_visit_marked_in_the_crm_lands_in_the_lead_log(demo_bot):
    sender = "client-visit"
    book_manicure(demo_bot, sender, "Вера", "8 913 222-11-00", at="18:00")
    (deal,) = [d for d in deals_json(demo_bot) if d["conversation_id"] == sender]

    marked = subprocess.run(
        [
            sys.executable,
            "-m",
            "crm_connector",
            "mark",
            str(deal["id"]),
            "attended",
            "--amount",
            "1700",
            "--db",
            demo_bot.crm_url,
            "--log",
            demo_bot.tracker_url,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=demo_bot.env,
    )
    demo_bot.say(sender, "Спасибо!")  # the conversation goes on after the append

    assert marked.returncode == 0, marked.stderr
    events = demo_bot.tracker(sender)["events"]
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["booking"]["deal_id"] == deal["id"]
    assert slots["booking"]["manager_id"] in ("irina", "dmitry")
    assert slots["deal_outcome"]["status"] == "attended"
    assert slots["deal_outcome"]["amount"] == 1700.0
    users = [e["text"] for e in events if e["event"] == "user"]
    assert users[-1] == "Спасибо!"
