"""Bot messages as WhatsApp bodies: the right kind for the number of options, in limits."""

from __future__ import annotations

import json

import pytest

from channels.whatsapp_format import (
    BUTTON_TITLE_LIMIT,
    ROW_TITLE_LIMIT,
    render,
    shorten,
    split_text,
    template_message,
)
from tests.fakes.graph_api import check_message


def identity(payload: str, limit: int) -> str:
    return payload


def slot(title: str, key: str) -> dict[str, str]:
    return {"title": title, "payload": f'/inform{{"slot_key": "{key}"}}'}


def valid(body: dict) -> bool:
    """Would Meta accept it? (the fake Graph API's own validation)"""
    return (
        check_message({"messaging_product": "whatsapp", "to": "79131234567", **body})
        is None
    )


@pytest.mark.parametrize(
    ("title", "limit", "expected"),
    [
        ("Цены", 20, "Цены"),
        ("завтра, 4 декабря, 15:00 · Анна", 20, "завтра, 15:00 · Анна"),
        ("пт, 5 декабря, 15:00 · Анна", 20, "5 дек, 15:00 · Анна"),
        ("пт, 5 декабря, 15:00 · Анна", 24, "пт, 5 дек, 15:00 · Анна"),
        ("сб, 12 декабря, 09:30", 20, "сб, 12 дек, 09:30"),
        ("сегодня, 23 сентября, 15:00 · Александра", 20, "сегодня, 15:00 · Ал…"),
        ("Связаться с администратором", 24, "Связаться с…"),
    ],
    ids=[
        "fits",
        "tomorrow",
        "weekday-button",
        "weekday-row",
        "no-master",
        "long-name",
        "words",
    ],
)
def test_shorten_keeps_day_and_time(title, limit, expected):
    assert shorten(title, limit) == expected
    assert len(shorten(title, limit)) <= limit


def test_plain_text_is_a_text_message():
    assert render("Здравствуйте!", [], identity) == [
        {"type": "text", "text": {"body": "Здравствуйте!", "preview_url": False}}
    ]


def test_up_to_three_options_are_reply_buttons_with_payload_ids():
    options = [
        {"title": "Согласен(на)", "payload": "/affirm"},
        {"title": "Не согласен(на)", "payload": "/deny"},
    ]

    [body] = render("Согласны?", options, identity)

    assert body["interactive"]["type"] == "button"
    assert body["interactive"]["body"]["text"] == "Согласны?"
    replies = [b["reply"] for b in body["interactive"]["action"]["buttons"]]
    assert replies == [
        {"id": "/affirm", "title": "Согласен(на)"},
        {"id": "/deny", "title": "Не согласен(на)"},
    ]
    assert valid(body)


def test_slot_offers_as_buttons_keep_their_time():
    options = [
        slot("завтра, 4 декабря, 15:00 · Анна", "a"),
        slot("завтра, 4 декабря, 15:30 · Анна", "b"),
    ]

    [body] = render("Выберите удобное время:", options, identity)

    titles = [b["reply"]["title"] for b in body["interactive"]["action"]["buttons"]]
    assert titles == ["завтра, 15:00 · Анна", "завтра, 15:30 · Анна"]
    assert all(len(t) <= BUTTON_TITLE_LIMIT for t in titles)
    assert valid(body)


def test_a_title_that_would_be_cut_goes_to_a_list_with_the_full_words():
    [body] = render(
        "Напишите",
        [{"title": "Связаться с администратором", "payload": "/request_human"}],
        identity,
    )

    row = body["interactive"]["action"]["sections"][0]["rows"][0]
    assert body["interactive"]["type"] == "list"
    assert row["description"] == "Связаться с администратором"
    assert valid(body)


@pytest.mark.parametrize("count", [4, 5, 10], ids=["4", "5", "10"])
def test_four_to_ten_options_are_one_list(count):
    options = [slot(f"пт, 5 декабря, {9 + i}:00 · Анна", str(i)) for i in range(count)]

    [body] = render("Выберите удобное время:", options, identity)

    rows = body["interactive"]["action"]["sections"][0]["rows"]
    assert body["interactive"]["type"] == "list"
    assert [r["title"] for r in rows][:2] == [
        "пт, 5 дек, 9:00 · Анна",
        "пт, 5 дек, 10:00 · Анна",
    ]
    assert all(len(r["title"]) <= ROW_TITLE_LIMIT for r in rows)
    assert rows[0]["description"] == "пт, 5 декабря, 9:00 · Анна"
    assert valid(body)


def test_more_than_ten_options_are_split_into_lists_losing_none():
    options = [
        {"title": f"Услуга {i}", "payload": f'/inform{{"service": "s{i}"}}'}
        for i in range(23)
    ]

    bodies = render("Какая услуга?", options, identity)

    assert [len(b["interactive"]["action"]["sections"][0]["rows"]) for b in bodies] == [
        10,
        10,
        3,
    ]
    assert bodies[0]["interactive"]["body"]["text"] == "Какая услуга?"
    assert bodies[1]["interactive"]["body"]["text"] == "Ещё варианты:"
    ids = [
        r["id"]
        for b in bodies
        for r in b["interactive"]["action"]["sections"][0]["rows"]
    ]
    assert ids == [o["payload"] for o in options]
    assert all(valid(b) for b in bodies)


def test_long_payloads_get_the_callers_short_ids():
    long_payload = "/inform" + json.dumps({"slot_key": "x" * 300})
    seen = []

    def short(payload: str, limit: int) -> str:
        seen.append(limit)
        return "wa~abc" if len(payload) > limit else payload

    [body] = render(
        "Время?",
        [{"title": "завтра, 4 декабря, 15:00", "payload": long_payload}],
        short,
    )

    assert body["interactive"]["action"]["buttons"][0]["reply"]["id"] == "wa~abc"
    assert valid(body)


def test_long_text_is_split_and_the_buttons_follow_the_last_part():
    text = ("Абзац текста. " * 40 + "\n\n") * 12

    bodies = render(text, [{"title": "Записаться", "payload": "/book"}], identity)

    assert [b["type"] for b in bodies][-1] == "interactive"
    assert all(valid(b) for b in bodies)
    sent = " ".join(
        b["text"]["body"] if b["type"] == "text" else b["interactive"]["body"]["text"]
        for b in bodies
    )
    assert sent.split() == text.split()


def test_split_text_respects_the_limit():
    pieces = split_text("слово " * 2000, 4096)

    assert all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces).split() == ("слово " * 2000).split()


def test_template_carries_the_text_flattened_as_its_parameter():
    body = template_message(
        "booking_update", "ru", "Напоминаем:\nзавтра в 15:00\tманикюр"
    )

    assert body == {
        "type": "template",
        "template": {
            "name": "booking_update",
            "language": {"code": "ru"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Напоминаем: завтра в 15:00 маникюр"}
                    ],
                }
            ],
        },
    }
    assert "components" not in template_message("hello", "ru", None)["template"]


def interactive_buttons(*titles: str) -> dict:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"id{i}", "title": t}}
                    for i, t in enumerate(titles)
                ]
            },
        },
    }


def list_rows(count: int, title: str = "t") -> dict:
    rows = [{"id": f"r{i}", "title": title} for i in range(count)]
    action = {"button": "Выбрать", "sections": [{"rows": rows}]}
    return {
        "type": "interactive",
        "interactive": {"type": "list", "body": {"text": "?"}, "action": action},
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (interactive_buttons("a", "b", "c", "d"), 100),
        (interactive_buttons("x" * 21), 131009),
        (interactive_buttons("Да", "Да"), 131009),
        (list_rows(11), 131009),
        (list_rows(1, title="x" * 25), 131009),
        ({"type": "text", "text": {"body": ""}}, 131009),
    ],
    ids=[
        "four-buttons",
        "long-title",
        "same-titles",
        "eleven-rows",
        "long-row",
        "empty-text",
    ],
)
def test_the_fake_refuses_what_meta_refuses(body, code):
    """The fake is only worth testing against if it says no where Meta does."""
    status, answer = check_message(
        {"messaging_product": "whatsapp", "to": "79131234567", **body}
    )

    assert status == 400
    assert answer["error"]["code"] == code
    assert answer["error"]["type"] == "OAuthException"
