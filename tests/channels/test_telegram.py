"""The Telegram channel: its parts, then whole dialogues through the real servers."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot as PTBBot
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from channels.telegram import (
    MAX_CALLBACK_BYTES,
    BotAPI,
    CallbackKeys,
    TelegramAPIError,
    TelegramError,
    TelegramOutput,
    TelegramSettings,
    TelegramUnavailable,
    _Chats,
    callback_key,
    command_text,
    derived_secret,
    split_text,
    utf16_len,
)
from tests.e2e.conftest import PINNED_NOW, deals_json, demo_model  # noqa: F401
from tests.e2e.harness import ROOT, Bot, environment, free_port
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    callback_update,
    contact_update,
    edited_update,
    member_update,
    text_update,
)

TOKEN = "123456:TEST-token_for-the-fake"
SECRET = "s3cret-Webhook_token"
WEBHOOK_URL = "https://bot.example.test/webhooks/telegram/webhook"


# -- parts ----------------------------------------------------------------------------


def settings(api_url: str, token: str = TOKEN, timeout: float = 5) -> TelegramSettings:
    return TelegramSettings(
        token=token,
        api_url=api_url,
        webhook_url=None,
        secret_token=SECRET,
        db_url="sqlite://",
        timeout=timeout,
    )


def test_settings_are_off_without_a_token():
    assert TelegramSettings.from_env({"TELEGRAM_API_URL": "http://x"}) is None


def test_settings_derive_a_stable_secret_telegram_accepts():
    first = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    again = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})

    assert first is not None and again is not None
    assert first.secret_token == again.secret_token == derived_secret(TOKEN)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", first.secret_token)
    assert TOKEN not in first.secret_token
    assert first.api_url == "https://api.telegram.org"


def test_settings_refuse_a_secret_telegram_would_refuse():
    with pytest.raises(TelegramError, match="TELEGRAM_SECRET_TOKEN"):
        TelegramSettings.from_env(
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_SECRET_TOKEN": "no spaces!"}
        )


@pytest.mark.parametrize(
    "payload",
    [
        "/affirm",
        '/inform{"slot_key": "20261204T1500.anna"}',
        "/inform" + json.dumps({"when": "я" * 500}, ensure_ascii=False),
    ],
    ids=["short", "slot", "1000-bytes"],
)
def test_callback_keys_fit_telegrams_64_bytes(payload):
    key = callback_key(payload)

    assert len(key.encode()) <= MAX_CALLBACK_BYTES
    assert key == callback_key(payload)
    assert key != callback_key(payload + " ")


def test_callback_keys_survive_a_restart(db_url):
    payload = '/inform{"slot_key": "20261204T1500.anna"}'
    keys = CallbackKeys(db_url)
    key = keys.key_for(payload)
    assert keys.key_for(payload) == key  # the same button twice: one row
    keys.close()

    restarted = CallbackKeys(db_url)
    try:
        assert restarted.payload_for(key) == payload
        assert restarted.payload_for("k-forged") is None
    finally:
        restarted.close()


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("короткий ответ", 4096),
        ("слово " * 1500, 4096),
        ("абзац\n\n" * 800, 4096),
        ("😀" * 3000, 4096),
        ("x" * 10_000, 4096),
    ],
    ids=["short", "words", "paragraphs", "emoji-utf16", "no-spaces"],
)
def test_long_text_is_split_within_telegrams_limit(text, limit):
    pieces = split_text(text, limit)

    assert all(0 < utf16_len(p) <= limit for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(
        " ", ""
    ).replace("\n", "")


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("/start", "/greet"),
        ("/start promo-42", "/greet"),
        ("/help@lavanda_test_bot", "/greet"),
        ('/inform{"phone": "+79130000000"}', 'inform{"phone": "+79130000000"}'),
        ("//affirm", "affirm"),
        ("  Хочу на маникюр ", "Хочу на маникюр"),
    ],
    ids=[
        "start",
        "start-deeplink",
        "help-addressed",
        "forged-intent",
        "slashes",
        "text",
    ],
)
def test_typed_commands_greet_and_cannot_forge_intents(typed, read):
    assert command_text(typed) == read


@pytest.fixture()
def fake_api(monkeypatch) -> Iterator[FakeTelegramAPI]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    api = FakeTelegramAPI(TOKEN).start()
    yield api
    api.stop()


def call_once(config: TelegramSettings, method: str, params: dict | None = None):
    """One Bot API call in a fresh event loop, the client closed after it."""

    async def scenario() -> Any:
        api = BotAPI(config)
        try:
            return await api.call(method, params)
        finally:
            await api.close()

    return asyncio.run(scenario())


def test_bot_api_calls_reach_the_fake_with_json(fake_api):
    sent = call_once(
        settings(fake_api.url), "sendMessage", {"chat_id": 5, "text": "Привет"}
    )

    assert sent["text"] == "Привет" and sent["chat"]["id"] == 5
    assert fake_api.calls("sendMessage") == [{"chat_id": 5, "text": "Привет"}]


def test_bot_api_wrong_token_is_an_api_error_without_the_token(fake_api):
    wrong = "999:wrong-token"

    with pytest.raises(TelegramAPIError) as caught:
        call_once(settings(fake_api.url, token=wrong), "getMe")

    assert caught.value.code == 401
    assert wrong not in str(caught.value)
    assert fake_api.refused() == [("getMe", 401)]


def test_bot_api_down_is_unavailable_without_the_token():
    with pytest.raises(TelegramUnavailable) as caught:
        call_once(settings("http://127.0.0.1:9", timeout=1), "getMe")

    assert TOKEN not in str(caught.value)


def test_bot_api_retries_once_after_a_short_flood_wait(fake_api):
    fake_api.fail(
        "sendMessage",
        429,
        "Too Many Requests: retry after 1",
        parameters={"retry_after": 1},
    )

    sent = call_once(
        settings(fake_api.url), "sendMessage", {"chat_id": 5, "text": "ещё раз"}
    )

    assert sent["text"] == "ещё раз"
    assert fake_api.refused() == [("sendMessage", 429)]


def test_the_fake_serves_python_telegram_bot_with_form_bodies(fake_api):
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Взять", callback_data="t")]]
    )

    async def scenario() -> Any:
        async with PTBBot(TOKEN, base_url=f"{fake_api.url}/bot") as bot:
            sent = await bot.send_message(-100, "Новая заявка", reply_markup=keyboard)
            await bot.answer_callback_query("17")
            await bot.edit_message_reply_markup(
                chat_id=-100, message_id=sent.message_id
            )
            return sent

    sent = asyncio.run(scenario())

    assert sent.text == "Новая заявка" and sent.reply_markup == keyboard
    assert fake_api.methods() == [
        "getMe",
        "sendMessage",
        "answerCallbackQuery",
        "editMessageReplyMarkup",
    ]
    (params,) = fake_api.calls("sendMessage")
    assert params["chat_id"] == -100
    assert params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "t"


def deliver(
    fake: FakeTelegramAPI,
    tmp_path,
    recipient: str,
    message: dict,
    keys_url: str | None = None,
) -> None:
    """One bot message through the output channel, as Rasa hands it over."""
    config = settings(fake.url)
    keys = CallbackKeys(keys_url or f"sqlite:///{tmp_path / 'keys.db'}")

    async def scenario() -> None:
        api = BotAPI(config)
        try:
            await TelegramOutput(api, keys, _Chats()).send_response(recipient, message)
        finally:
            await api.close()

    try:
        asyncio.run(scenario())
    finally:
        keys.close()


def test_a_long_answer_is_split_and_the_buttons_go_with_the_last_piece(
    fake_api, tmp_path
):
    text = "Первый абзац.\n\n" + "слово " * 1500
    buttons = [{"title": "Да, всё верно", "payload": "/affirm"}]

    deliver(fake_api, tmp_path, "tg:42", {"text": text, "buttons": buttons})

    *firsts, last = fake_api.calls("sendMessage")
    assert len(firsts) == 2 and firsts[0]["text"].startswith("Первый абзац.")
    assert all("reply_markup" not in p and p["chat_id"] == 42 for p in firsts)
    assert last["reply_markup"]["inline_keyboard"][0][0]["text"] == "Да, всё верно"


def test_buttons_without_text_get_a_short_question(fake_api, tmp_path):
    buttons = [{"title": "Записаться", "payload": "/book"}]

    deliver(fake_api, tmp_path, "tg:42", {"text": None, "buttons": buttons})

    (sent,) = fake_api.calls("sendMessage")
    assert sent["text"] == "Выберите, пожалуйста:"
    assert sent["reply_markup"]["inline_keyboard"][0][0]["text"] == "Записаться"


@pytest.mark.parametrize(
    ("recipient", "message"),
    [
        ("42", {"text": "Привет"}),
        ("wa:79131234567", {"text": "Привет"}),
        ("tg:42", {"text": None, "custom": {"widget": "only"}}),
    ],
    ids=["no-prefix", "other-channel", "custom-json-only"],
)
def test_what_telegram_cannot_take_is_not_sent(fake_api, tmp_path, recipient, message):
    deliver(fake_api, tmp_path, recipient, message)

    assert fake_api.calls() == []


def test_buttons_whose_keys_cannot_be_kept_leave_the_text_going_out(
    fake_api, tmp_path, caplog
):
    buttons = [{"title": "Да", "payload": "/affirm"}]
    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"

    deliver(
        fake_api,
        tmp_path,
        "tg:42",
        {"text": "Всё верно?", "buttons": buttons},
        unreachable,
    )

    assert fake_api.calls("sendMessage") == [{"chat_id": 42, "text": "Всё верно?"}]
    assert "Buttons sent without a keyboard" in caplog.text


def test_a_refused_message_is_logged_without_the_token_and_not_raised(
    fake_api, tmp_path, caplog
):
    fake_api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")

    deliver(fake_api, tmp_path, "tg:42", {"text": "Напоминание о записи"})

    assert "bot was blocked" in caplog.text
    assert TOKEN not in caplog.text


# -- whole dialogues with real Rasa and action servers --------------------------------


def post(
    url: str,
    update: dict[str, Any] | None = None,
    secret: str | None = SECRET,
    raw: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST an update as Telegram does; the status and the JSON answer."""
    body = raw if raw is not None else json.dumps(update).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class TelegramBot:
    """The real servers with the Telegram channel pointed at a fake Bot API."""

    def __init__(self, bot: Bot, api: FakeTelegramAPI) -> None:
        self.bot = bot
        self.api = api
        self.url = f"http://127.0.0.1:{bot.rasa_port}/webhooks/telegram/webhook"

    def post(
        self,
        update: dict[str, Any] | None = None,
        secret: str | None = SECRET,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, Any]]:
        return post(self.url, update, secret, raw)

    def say(self, chat_id: int, text: str) -> list[dict[str, Any]]:
        """Send a text update; the bot's messages to this chat that it caused."""
        before = len(self.api.sent(chat_id))
        status, _ = self.post(text_update(chat_id, text))
        assert status == 200
        return self.api.sent(chat_id)[before:]

    def up_to_the_phone(self, chat_id: int, request: str, name: str) -> None:
        """An exact-time booking request, consent and name: the phone is asked next."""
        self.say(chat_id, request)
        self.say(chat_id, "да")
        assert "номер телефона" in texts(self.say(chat_id, name))

    def press(self, chat_id: int, messages: list[dict], title_part: str) -> list[dict]:
        """Press the first inline button whose title contains `title_part`."""
        for message in messages:
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in (b for row in rows for b in row):
                if title_part in button["text"]:
                    before = len(self.api.sent(chat_id))
                    update = callback_update(chat_id, message, button["callback_data"])
                    status, _ = self.post(update)
                    assert status == 200
                    self.last_query_id = update["callback_query"]["id"]
                    return self.api.sent(chat_id)[before:]
        raise AssertionError(f"no button with {title_part!r} in {messages}")

    def share_contact(self, chat_id: int, phone: str, owner: int | None = None):
        before = len(self.api.sent(chat_id))
        status, _ = self.post(contact_update(chat_id, phone, owner))
        assert status == 200
        return self.api.sent(chat_id)[before:]

    def params_to(self, chat_id: int) -> list[dict[str, Any]]:
        return [p for p in self.api.calls("sendMessage") if p["chat_id"] == chat_id]

    def user_events(self, chat_id: int) -> list[dict[str, Any]]:
        events = self.bot.tracker(f"tg:{chat_id}").get("events") or []
        return [e for e in events if e["event"] == "user"]

    def slots(self, chat_id: int) -> dict[str, Any]:
        return self.bot.tracker(f"tg:{chat_id}")["slots"]


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def new_chat() -> int:
    return secrets.randbelow(10**9) + 10**8


@contextmanager
def telegram_bot(model: Path, workdir: Path) -> Iterator[TelegramBot]:
    """The real servers with the Telegram channel on, and the fake Bot API they use."""
    api = FakeTelegramAPI(TOKEN).start()
    bot = Bot(
        model=model,
        profile=ROOT / "business.yml",
        workdir=workdir,
        crm_url=f"sqlite:///{workdir}/crm.db",
        tracker_url=f"sqlite:///{workdir}/tracker.db",
        extra_env={
            "ASSISTANT_NOW": PINNED_NOW,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": api.url,
            "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
            "TELEGRAM_SECRET_TOKEN": SECRET,
            "TELEGRAM_DB_URL": f"sqlite:///{workdir}/tracker.db",
        },
    )
    try:
        bot.start()
        yield TelegramBot(bot, api)
    finally:
        bot.stop()
        api.stop()


@pytest.fixture(scope="module")
def tg(demo_model, tmp_path_factory) -> Iterator[TelegramBot]:  # noqa: F811
    with telegram_bot(demo_model, tmp_path_factory.mktemp("telegram")) as running:
        yield running


@pytest.mark.e2e
def test_start_up_sets_the_webhook_with_the_secret(tg):
    (call,) = tg.api.wait_for("setWebhook")

    assert call["url"] == WEBHOOK_URL
    assert call["secret_token"] == SECRET
    assert set(call["allowed_updates"]) == {"message", "callback_query"}
    assert "getMe" in tg.api.methods()
    log = (tg.bot.workdir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "Telegram channel is on for @lavanda_test_bot" in log
    assert "Telegram webhook set" in log
    health = tg.url.removesuffix("webhook")
    with urllib.request.urlopen(health, timeout=10) as reply:
        assert json.loads(reply.read()) == {"status": "ok"}


@pytest.mark.e2e
def test_whole_booking_through_telegram_lands_in_the_crm(tg):
    chat = new_chat()

    offer = tg.say(chat, "Хочу записаться на маникюр завтра после 15")
    assert "Выберите удобное время" in texts(offer)
    consent = tg.press(chat, offer, "завтра, 4 декабря, 15:00")
    query_id = tg.last_query_id
    assert "согласие на обработку персональных данных" in texts(consent)
    ask_name = tg.press(chat, consent, "Согласен")
    assert texts(ask_name) == "Как вас зовут?"
    ask_phone = tg.say(chat, "Мария")
    assert "номер телефона" in texts(ask_phone)
    keyboard = tg.params_to(chat)[-1]["reply_markup"]
    assert keyboard["keyboard"][0][0]["request_contact"] is True
    summary = tg.share_contact(chat, "79137654321")  # Telegram sends it without "+"
    assert texts(summary).startswith("Спасибо, номер получила.")
    assert "+7 913 765-43-21" in texts(summary)
    done = tg.press(chat, summary, "Да, всё верно")

    assert "Готово, вы записаны" in texts(done)
    answered = [c["callback_query_id"] for c in tg.api.calls("answerCallbackQuery")]
    assert query_id in answered
    removal = [p for p in tg.params_to(chat) if "remove_keyboard" in str(p)]
    assert removal and removal[0]["reply_markup"] == {"remove_keyboard": True}
    (deal,) = [d for d in deals_json(tg.bot) if d["conversation_id"] == f"tg:{chat}"]
    assert deal["phone"] == "+79137654321"
    assert deal["contact_name"] == "Мария"
    assert deal["starts_at"] == "2026-12-04T15:00:00+06:00"
    assert deal["channel"] == "telegram"


@pytest.mark.e2e
def test_typed_phone_removes_the_share_keyboard_and_keeps_the_buttons(tg):
    chat = new_chat()
    tg.up_to_the_phone(chat, "Запишите на педикюр завтра в 12:00", "Ольга")

    summary = tg.say(chat, "8 923 111-22-33")

    assert "Проверьте" in texts(summary)
    assert tg.params_to(chat)[-1]["reply_markup"] == {"remove_keyboard": True}
    edit = tg.api.calls("editMessageReplyMarkup")[-1]
    assert edit["message_id"] == summary[-1]["message_id"]
    titles = [b["text"] for row in edit["reply_markup"]["inline_keyboard"] for b in row]
    assert "Да, всё верно" in titles


@pytest.mark.e2e
def test_someone_elses_contact_is_refused_politely(tg):
    chat = new_chat()
    tg.up_to_the_phone(chat, "Запишите на маникюр завтра в 19:30", "Ирина")

    replies = tg.share_contact(chat, "+79130001122", owner=chat + 1)

    assert "только ваш собственный номер" in texts(replies)
    assert tg.params_to(chat)[-1]["reply_markup"]["keyboard"][0][0]["request_contact"]
    assert tg.slots(chat)["phone"] is None


@pytest.mark.e2e
def test_every_button_fits_in_64_bytes_and_the_fake_refused_none(tg):
    tg.say(new_chat(), "Хочу записаться на маникюр завтра после 15")
    keyboards = [
        p["reply_markup"]["inline_keyboard"]
        for p in tg.api.calls("sendMessage")
        if "inline_keyboard" in (p.get("reply_markup") or {})
    ]
    data = [b["callback_data"] for rows in keyboards for row in rows for b in row]

    assert data, "earlier dialogues sent inline buttons"
    assert all(1 <= len(d.encode()) <= 64 for d in data)
    assert not [r for r in tg.api.refused() if r[1] in (400, 401, 404)]


@pytest.mark.e2e
def test_start_command_greets_with_the_menu(tg):
    chat = new_chat()

    replies = tg.say(chat, "/start")

    assert "Лаванда" in texts(replies)
    rows = replies[-1]["reply_markup"]["inline_keyboard"]
    assert [b["text"] for row in rows for b in row][0] == "Записаться"


@pytest.mark.e2e
def test_a_typed_intent_payload_sets_nothing(tg):
    chat = new_chat()

    tg.say(chat, '/inform{"slot_key": "20261204T1500.anna", "service": "manicure"}')

    assert tg.slots(chat)["slot_key"] is None
    users = tg.user_events(chat)
    assert users[-1]["text"].startswith("inform{")
    assert users[-1]["input_channel"] == "telegram"


@pytest.mark.e2e
def test_a_second_press_of_the_same_keyboard_is_answered_and_ignored(tg):
    chat = new_chat()
    menu = tg.say(chat, "Привет")
    tg.press(chat, menu, "Цены")
    users_before = len(tg.user_events(chat))

    again = tg.press(chat, menu, "Адрес")

    assert again == []
    assert tg.api.calls("answerCallbackQuery")[-1]["text"].startswith("Эта кнопка")
    users = tg.user_events(chat)
    assert len(users) == users_before


@pytest.mark.e2e
def test_a_forged_callback_key_is_answered_and_ignored(tg):
    chat = new_chat()
    menu = tg.say(chat, "Привет")
    update = callback_update(chat, menu[-1], "k-not-a-key-we-made")

    status, _ = tg.post(update)

    assert status == 200
    last = tg.api.calls("answerCallbackQuery")[-1]
    assert last["callback_query_id"] == update["callback_query"]["id"]
    assert len(tg.api.sent(chat)) == len(menu)


@pytest.mark.e2e
def test_a_sticker_gets_a_polite_answer(tg):
    chat = new_chat()
    update = text_update(chat, "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "abc", "width": 512, "height": 512}

    status, _ = tg.post(update)

    assert status == 200
    assert "только текстовые сообщения" in tg.api.sent(chat)[-1]["text"]


def _group_update(chat_id: int) -> dict[str, Any]:
    update = text_update(chat_id, "Хочу на маникюр")
    update["message"]["chat"] = {"id": -chat_id, "type": "group", "title": "Салон"}
    return update


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("make", "secret", "status"),
    [
        (lambda c: text_update(c, "Привет"), None, 403),
        (lambda c: text_update(c, "Привет"), "wrong-secret", 403),
        (lambda c: text_update(c, "Привет"), SECRET[:-1], 403),
        (lambda c: b'{"update_id": 1, "message": ', SECRET, 400),
        (lambda c: b"\xff\xfe garbage", SECRET, 400),
        (lambda c: [text_update(c, "Привет")], SECRET, 400),
        (lambda c: {"message": {"text": "no update id"}}, SECRET, 400),
        (lambda c: b"{" + b" " * 300_000 + b"}", SECRET, 413),
        (member_update, SECRET, 200),
        (lambda c: edited_update(c, "Исправил"), SECRET, 200),
        (_group_update, SECRET, 200),
        (lambda c: {"update_id": 7, "poll": {"id": "1"}}, SECRET, 200),
    ],
    ids=[
        "no-secret",
        "wrong-secret",
        "secret-prefix",
        "truncated-json",
        "not-utf8",
        "json-list",
        "no-update-id",
        "oversize",
        "blocked-bot",
        "edited-message",
        "group-chat",
        "poll",
    ],
)
def test_bad_or_foreign_updates_get_their_status_and_nothing_happens(
    tg, make, secret, status
):
    chat = new_chat()
    made = make(chat)
    body = made if isinstance(made, bytes) else json.dumps(made).encode()

    got, _ = tg.post(secret=secret, raw=body)

    assert got == status
    assert tg.api.sent(chat) == []
    assert tg.user_events(chat) == []
    assert "Лаванда" in texts(tg.say(chat, "Привет")), "the bot keeps working"


@pytest.mark.e2e
def test_the_same_update_delivered_twice_is_handled_once(tg):
    chat = new_chat()
    update = text_update(chat, "Привет")

    first, _ = tg.post(update)
    second, body = tg.post(update)

    assert (first, second) == (200, 200)
    assert body == {"status": "duplicate"}
    users = tg.user_events(chat)
    assert len(users) == 1


@pytest.mark.e2e
def test_telegram_down_while_replying_loses_nothing_of_the_dialogue(tg):
    chat = new_chat()
    tg.api.fail("sendMessage", 502, "Bad Gateway", times=1)

    status, _ = tg.post(text_update(chat, "Хочу на маникюр завтра после 15"))

    assert status == 200
    users = tg.user_events(chat)
    assert len(users) == 1, "the client's message is in the log though unsent"
    assert tg.say(chat, "Привет"), "the next message is answered"


@pytest.mark.e2e
def test_trigger_intent_reaches_the_client_through_telegram(tg):
    chat = new_chat()
    tg.say(chat, "Сколько стоит маникюр?")
    before = len(tg.api.sent(chat))
    url = (
        f"http://127.0.0.1:{tg.bot.rasa_port}/conversations/tg:{chat}/trigger_intent"
        f"?output_channel=latest&token={tg.bot.api_token}"
    )
    request = urllib.request.Request(
        url,
        data=json.dumps({"name": "greet"}).encode(),
        headers={"Content-Type": "application/json"},
    )

    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.status == 200

    pushed = tg.api.sent(chat)[before:]
    assert "Лаванда" in texts(pushed)


@pytest.mark.e2e
def test_a_thousand_updates_in_a_row_get_no_errors(tg):
    chats = [new_chat() for _ in range(100)]
    updates = []
    for index in range(1000):
        chat = chats[index % len(chats)]
        if index % 5 == 0:
            updates.append(text_update(chat, "Привет"))
        elif index % 5 in (1, 2):
            updates.append(member_update(chat))
        else:
            updates.append(edited_update(chat, "правка"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda u: tg.post(u)[0], updates))

    assert statuses == [200] * 1000
    assert sum(len(tg.api.sent(c)) for c in chats) >= 200
    log = (tg.bot.workdir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "Event loop is closed" not in log
    assert TOKEN not in log and SECRET not in log


@pytest.mark.e2e
def test_rest_clients_see_no_trace_of_the_phone_button(tg):
    sender = "rest-client"
    tg.bot.say(sender, "Запишите на маникюр завтра в 17:00")
    tg.bot.say(sender, "да")

    replies = tg.bot.say(sender, "Алла")

    assert replies == [
        {
            "recipient_id": sender,
            "text": "Напишите, пожалуйста, номер телефона для связи, например "
            "+7 913 123-45-67.",
        }
    ]


# Rasa's own registration of input channels on a bare Sanic app: the channel's routes
# without loading a model, which costs a minute on a busy machine.
SERVE_CHANNEL = """
import logging, sys
from sanic import Sanic
from rasa.core.channels.channel import register
from channels.telegram import TelegramInput
logging.basicConfig(level=logging.INFO)
app = Sanic("telegram_off")
register([TelegramInput.from_credentials(None)], app, "/webhooks/")
app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
"""


def test_without_a_token_the_channel_is_off_and_answers_503(tmp_path):
    port = free_port()
    env = environment(ROOT / "business.yml", TELEGRAM_BOT_TOKEN="")
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_CHANNEL, str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/webhooks/telegram"
    try:
        health = _status_when_up(f"{base}/", server)
        status, body = post(f"{base}/webhook", text_update(new_chat(), "Привет"))
    finally:
        server.kill()  # nothing to shut down gracefully; saves Sanic's grace period
        server.wait(timeout=20)
        log.close()

    assert health == 503
    assert status == 503 and "off" in body["error"]
    output = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert output.count("Telegram channel is off") == 1


def _status_when_up(url: str, server: subprocess.Popen, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return reply.status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise TimeoutError(url)
