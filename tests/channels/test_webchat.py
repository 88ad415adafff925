"""The website widget against real Rasa and action servers: socket.io and Chromium."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.e2e.conftest import deals_json, demo_model, make_bot  # noqa: F401
from tests.e2e.harness import ROOT, Bot, free_port

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "var" / "test-artifacts" / "webchat"
WEB_ID = re.compile(r"web:[A-Za-z0-9_-]{16,64}")
QUIET_SECONDS = 2.0  # how long "no reply" is waited for
REPLY_SECONDS = 30.0


@pytest.fixture(scope="module")
def bot(demo_model: Path, tmp_path_factory) -> Iterator[Bot]:  # noqa: F811
    running = make_bot(
        demo_model, ROOT / "business.yml", tmp_path_factory.mktemp("web")
    )
    running.rasa_args = ("--cors", "*")  # as `make run` starts it
    running.start()
    yield running
    running.stop()


def url(bot: Bot, path: str) -> str:
    return f"http://127.0.0.1:{bot.rasa_port}{path}"


def trigger_intent(bot: Bot, sender: str, intent: str) -> int:
    request = urllib.request.Request(
        url(
            bot,
            f"/conversations/{sender}/trigger_intent"
            f"?output_channel=latest&token={bot.api_token}",
        ),
        data=json.dumps({"name": intent}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def user_texts(bot: Bot, sender: str) -> list[str]:
    return [e["text"] for e in bot.tracker(sender)["events"] if e["event"] == "user"]


# ---- the files the blueprint serves -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/webhooks/webchat/widget.js", "text/javascript", "attachShadow"),
        ("/webhooks/webchat/widget.css", "text/css", ".launcher"),
        (
            "/webhooks/webchat/vendor/socket.io.min.js",
            "text/javascript",
            "Socket.IO v4.8",
        ),
        ("/webhooks/webchat/demo", "text/html", 'src="widget.js"'),
    ],
    ids=["widget-js", "widget-css", "socketio-client", "demo-page"],
)
def test_widget_files_are_served_by_the_bot(bot, path, content_type, marker):
    with urllib.request.urlopen(url(bot, path), timeout=10) as response:
        body = response.read().decode()

        assert response.status == 200
        assert response.headers["Content-Type"].startswith(content_type)
    assert marker in body


def test_demo_page_is_filled_from_the_profile(bot):
    with urllib.request.urlopen(url(bot, "/webhooks/webchat/demo"), timeout=10) as r:
        page = r.read().decode()

    assert "<h1>Салон красоты «Лаванда»</h1>" in page
    assert "<li>Маникюр</li>" in page
    assert "$name" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/webchat/../../credentials.yml",
        "/webhooks/webchat/vendor/%2e%2e/%2e%2e/webchat.py",
        "/webhooks/webchat/demo.html",
        "/webhooks/webchat/vendor/socket.io.min.js.map",
    ],
    ids=["dot-dot", "encoded-dot-dot", "template-source", "unlisted-file"],
)
def test_nothing_but_the_listed_files_is_served(bot, path):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(url(bot, path), timeout=10)

    assert error.value.code == 404


def test_an_unbuilt_file_answers_503_saying_how_to_build_it(tmp_path):
    from channels.webchat import WebchatInput

    serve = WebchatInput._file_handler(tmp_path / "socket.io.min.js", "text/javascript")

    answer = asyncio.run(serve(None))

    assert answer.status == 503
    assert b"make install" in answer.body


# ---- the socket.io protocol ---------------------------------------------------------


class Client:
    """A socket.io client that keeps what the bot sends, in order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.confirmed: asyncio.Queue[Any] = asyncio.Queue()
        self.messages: asyncio.Queue[dict] = asyncio.Queue()
        self.sio.on("session_confirm", self.confirmed.put_nowait)
        self.sio.on("bot_uttered", self.messages.put_nowait)

    async def session(self, session_id: Any = None) -> str:
        await self.sio.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(self.confirmed.get(), REPLY_SECONDS)

    async def say(self, payload: Any) -> None:
        await self.sio.emit("user_uttered", payload)

    async def reply(self) -> dict:
        return await asyncio.wait_for(self.messages.get(), REPLY_SECONDS)

    async def silent(self) -> bool:
        try:
            await asyncio.wait_for(self.messages.get(), QUIET_SECONDS)
        except asyncio.TimeoutError:
            return True
        return False


@asynccontextmanager
async def client(bot: Bot) -> AsyncIterator[Client]:
    # aiohttp as Rasa pins it cannot upgrade to a websocket here: long-polling only.
    connected = Client()
    await connected.sio.connect(url(bot, ""), transports=["polling"])
    try:
        yield connected
    finally:
        await connected.sio.disconnect()


def run(coroutine) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 120))


@pytest.mark.parametrize(
    "asked",
    [None, "", "tg:12345", "web:short", "web:../../etc/passwd-0000000", 42, ["web:x"]],
    ids=["none", "empty", "other-channel", "too-short", "path", "number", "list"],
)
def test_a_bad_or_missing_session_id_gets_a_fresh_web_id(bot, asked):
    async def scenario() -> str:
        async with client(bot) as web:
            return await web.session(asked)

    confirmed = run(scenario())

    assert WEB_ID.fullmatch(confirmed)
    assert confirmed != asked


def test_a_known_session_id_is_kept_and_answers_come_to_it(bot):
    session_id = "web:" + "k" * 24

    async def scenario() -> tuple[str, dict]:
        async with client(bot) as web:
            confirmed = await web.session(session_id)
            await web.say({"message": "Здравствуйте", "session_id": session_id})
            return confirmed, await web.reply()

    confirmed, reply = run(scenario())

    assert confirmed == session_id
    assert "Салон красоты «Лаванда»" in reply["text"]
    assert [q["title"] for q in reply["quick_replies"]][0] == "Записаться"
    assert user_texts(bot, session_id) == ["Здравствуйте"]
    assert bot.tracker(session_id)["latest_input_channel"] == "webchat"


def test_a_message_before_the_session_request_is_dropped(bot):
    async def scenario() -> tuple[bool, dict]:
        async with client(bot) as web:
            await web.say({"message": "Привет"})
            dropped = await web.silent()
            await web.session("web:" + "b" * 24)
            await web.say({"message": "Привет"})
            return dropped, await web.reply()

    dropped, reply = run(scenario())

    assert dropped
    assert reply["text"]
    assert user_texts(bot, "web:" + "b" * 24) == ["Привет"]


@pytest.mark.parametrize(
    "payload",
    [
        {"message": 42},
        {"message": {"text": "Привет"}},
        {"text": "no message key"},
        {"message": "а" * 4001},
        "just a string",
        None,
    ],
    ids=["number", "object", "no-message", "over-4000-chars", "not-an-object", "null"],
)
def test_malformed_messages_are_dropped_and_the_chat_goes_on(bot, payload):
    session_id = f"web:malformed{abs(hash(json.dumps(payload))) % 10**12:012d}"

    async def scenario() -> tuple[bool, dict]:
        async with client(bot) as web:
            await web.session(session_id)
            await web.say(payload)
            dropped = await web.silent()
            await web.say({"message": "Сколько стоит стрижка?"})
            return dropped, await web.reply()

    dropped, reply = run(scenario())

    assert dropped
    assert "Стрижка" in reply["text"] or "стрижк" in reply["text"]
    assert user_texts(bot, session_id) == ["Сколько стоит стрижка?"]


def test_a_message_cannot_post_into_another_conversation(bot):
    own, victim = "web:" + "o" * 24, "web:" + "v" * 24

    async def scenario() -> dict:
        async with client(bot) as web:
            await web.session(own)
            await web.say({"message": "Здравствуйте", "session_id": victim})
            return await web.reply()

    assert run(scenario())["text"]
    assert user_texts(bot, own) == ["Здравствуйте"]
    assert user_texts(bot, victim) == []


def test_two_tabs_of_one_session_both_see_the_reply(bot):
    session_id = "web:" + "t" * 24

    async def scenario() -> tuple[dict, dict]:
        async with client(bot) as first, client(bot) as second:
            await first.session(session_id)
            await second.session(session_id)
            await first.say({"message": "Где вы находитесь?"})
            return await first.reply(), await second.reply()

    first, second = run(scenario())

    assert first == second
    assert "Ленина" in first["text"]


def test_trigger_intent_with_latest_output_channel_reaches_the_open_chat(bot):
    session_id = "web:" + "r" * 24

    async def scenario() -> tuple[int, dict]:
        async with client(bot) as web:
            await web.session(session_id)
            await web.say({"message": "Спасибо"})
            await web.reply()
            while not await web.silent():
                pass  # the rest of that turn's answer
            status = await asyncio.to_thread(trigger_intent, bot, session_id, "greet")
            return status, await web.reply()

    status, pushed = run(scenario())

    assert status == 200
    assert "Салон красоты «Лаванда»" in pushed["text"]


# ---- the widget in Chromium ---------------------------------------------------------

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; never a browser Playwright downloads."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, bot) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, locale="ru-RU")
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    opened.goto(url(bot, "/webhooks/webchat/demo"))
    yield opened
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.mouse.move(0, 0)  # no button drawn as hovered
    page.screenshot(path=str(path))
    # The docs' images change only on purpose: UPDATE_DOCS_IMAGES=1 make test ...
    if os.environ.get("UPDATE_DOCS_IMAGES") == "1":
        shutil.copyfile(path, ROOT / "docs" / "img" / name)
    return path


def type_message(page, text: str) -> None:
    page.locator("#bw-input").fill(text)
    page.locator("#bw-input").press("Enter")


def wait_for_bot(page, text: str) -> None:
    page.locator(".message.bot", has_text=text).last.wait_for()


def click_reply(page, title: str) -> None:
    page.locator(".quick-reply", has_text=title).first.click()


def session_of(page) -> str:
    return page.evaluate(
        "Object.entries(localStorage).find(([k]) => k.endsWith(':session'))[1]"
    ).strip('"')


def watch_typing(page) -> None:
    page.evaluate(
        """() => {
        const dots = document.querySelector('#booking-webchat').shadowRoot
            .querySelector('.typing');
        window.__typingSeen = false;
        new MutationObserver(() => { if (!dots.hidden) window.__typingSeen = true; })
            .observe(dots, {attributes: true});
        }"""
    )


def test_booking_in_the_widget_survives_a_reload(page, bot):
    page.locator(".launcher").click()
    assert page.locator(".launcher").get_attribute("aria-expanded") == "true"
    assert (
        page.evaluate(
            "document.querySelector('#booking-webchat').shadowRoot.activeElement.id"
        )
        == "bw-input"
    )

    watch_typing(page)
    type_message(page, "Хочу записаться на маникюр завтра после 15")
    wait_for_bot(page, "Выберите удобное время")
    assert page.evaluate("window.__typingSeen")
    assert page.locator(".typing").is_hidden()

    click_reply(page, "завтра, 4 декабря, 16:00")
    user_said = page.locator(".message.user").last.inner_text()
    assert "завтра, 4 декабря, 16:00" in user_said and "/inform" not in user_said
    wait_for_bot(page, "согласие на обработку персональных данных")
    click_reply(page, "Согласен(на)")
    wait_for_bot(page, "Как вас зовут?")
    type_message(page, "Мария")
    wait_for_bot(page, "номер телефона")
    type_message(page, "8 913 765-43-21")
    wait_for_bot(page, "Проверьте, всё ли верно")
    screenshot(page, "widget-desktop.png")
    click_reply(page, "Да, всё верно")
    wait_for_bot(page, "Готово, вы записаны")

    session_id = session_of(page)
    assert WEB_ID.fullmatch(session_id)
    deals = [d for d in deals_json(bot) if d["conversation_id"] == session_id]
    assert len(deals) == 1
    assert deals[0]["channel"] == "webchat"
    assert deals[0]["phone"] == "+79137654321"
    assert deals[0]["starts_at"] == "2026-12-04T16:00:00+06:00"
    shown = page.locator(".message").all_inner_texts()

    page.reload()
    page.locator(".message.bot", has_text="Готово, вы записаны").wait_for()
    assert page.locator(".message").all_inner_texts() == shown
    assert session_of(page) == session_id

    type_message(page, "Сколько стоит педикюр?")
    wait_for_bot(page, "Педикюр")
    said = user_texts(bot, session_id)
    assert said[0] == "Хочу записаться на маникюр завтра после 15"
    assert said[-1] == "Сколько стоит педикюр?"
    assert len(said) == 7


def test_a_message_pushed_by_the_bot_reaches_the_widget(page, bot):
    page.locator(".launcher").click()
    type_message(page, "Здравствуйте")
    wait_for_bot(page, "Чем могу помочь?")
    session_id = session_of(page)
    greetings = page.locator(".message.bot", has_text="Чем могу помочь?")
    page.locator(".close").click()

    assert trigger_intent(bot, session_id, "greet") == 200

    page.locator(".launcher.unread").wait_for()
    assert greetings.count() == 2


def test_the_widget_works_from_the_keyboard(page):
    launcher = page.locator(".launcher")
    launcher.focus()
    page.keyboard.press("Enter")
    assert launcher.get_attribute("aria-expanded") == "true"
    assert page.locator("#bw-panel").get_attribute("role") == "dialog"

    page.keyboard.type("Привет")
    page.keyboard.press("Enter")
    page.locator(".quick-reply").first.wait_for()
    page.keyboard.press("Escape")

    assert page.locator("#bw-panel").is_hidden()
    assert launcher.get_attribute("aria-expanded") == "false"
    assert page.evaluate(
        "document.querySelector('#booking-webchat').shadowRoot.activeElement.className"
    ).startswith("launcher")


def test_on_a_phone_the_chat_takes_the_whole_screen(page):
    page.set_viewport_size(PHONE)
    page.locator(".launcher").click()
    type_message(page, "Хочу на маникюр в субботу")
    page.locator(".quick-reply").first.wait_for()

    box = page.locator("#bw-panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": PHONE["width"], "height": PHONE["height"]}
    assert page.locator(".launcher").is_hidden()
    screenshot(page, "widget-phone.png")


@pytest.fixture()
def other_site(bot, tmp_path) -> Iterator[str]:
    """A business's own site on another origin, with the one script tag."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="ru"><head><meta charset="utf-8"><style>'
        "button { display: none !important; } div { color: red; }"
        "</style></head><body><h1>Клиника</h1>"
        f'<script src="{url(bot, "/webhooks/webchat/widget.js")}" '
        'data-title="Стоматология" data-color="rgb(0, 120, 90)"></script></body></html>',
        encoding="utf-8",
    )
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # localhost and 127.0.0.1 are different origins to the browser.
    yield f"http://localhost:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


def test_the_script_tag_works_on_another_site(browser, other_site):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(other_site)

    page.locator(".launcher").click()
    type_message(page, "Привет")
    page.locator(".quick-reply").first.wait_for()

    assert page.locator("header h2").inner_text() == "Стоматология"
    header = page.locator("header").evaluate("h => getComputedStyle(h).backgroundColor")
    assert header == "rgb(0, 120, 90)"
    # The site's own CSS reaches none of the widget (it lives in a shadow root).
    assert page.locator(".launcher").is_visible()
    color = page.locator(".message.bot").last.evaluate("m => getComputedStyle(m).color")
    assert color != "rgb(255, 0, 0)"
    context.close()
