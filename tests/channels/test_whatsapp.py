"""The WhatsApp channel in real Rasa and action servers, talking to a fake Graph API."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from sqlalchemy import create_engine, text

from channels.whatsapp import (
    GraphClient,
    MalformedWebhook,
    SettingsError,
    WhatsAppInput,
    WhatsAppOutput,
    WhatsAppSettings,
    parse_webhook,
    signature_ok,
)
from channels.whatsapp_store import WhatsAppStore
from tests.e2e.conftest import deals_json, demo_model, make_bot  # noqa: F401
from tests.e2e.harness import ROOT, Bot
from tests.fakes.graph_api import (
    FakeGraphAPI,
    WebhookPoster,
    button_reply_webhook,
    client_message,
    list_reply_webhook,
    new_message_id,
    sign,
    status_webhook,
    template_button_webhook,
    text_webhook,
)

pytestmark = pytest.mark.e2e

PHONE_ID = "109876543210"
TOKEN = "EAAG-test-access-token-not-real"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "verify-me-please"
TEMPLATE = "booking_update"
MAX_BODY = 65_536


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    fake = FakeGraphAPI(TOKEN, PHONE_ID).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def bot(demo_model: Path, graph: FakeGraphAPI, tmp_path_factory) -> Iterator[Bot]:  # noqa: F811
    started = make_bot(demo_model, ROOT / "business.yml", tmp_path_factory.mktemp("wa"))
    started.extra_env.update(
        WHATSAPP_GRAPH_URL=graph.url,
        WHATSAPP_GRAPH_VERSION=graph.version,
        WHATSAPP_PHONE_NUMBER_ID=PHONE_ID,
        WHATSAPP_ACCESS_TOKEN=TOKEN,
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        WHATSAPP_TEMPLATE_NAME=TEMPLATE,
        WHATSAPP_TEMPLATE_LANGUAGE="ru",
        WHATSAPP_MAX_BODY_BYTES=str(MAX_BODY),
        WHATSAPP_TIMEOUT_SECONDS="5",
    )
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def meta(bot: Bot) -> WebhookPoster:
    """Meta's side: signed webhooks to the bot's WhatsApp endpoint."""
    return WebhookPoster(
        f"http://127.0.0.1:{bot.rasa_port}/webhooks/whatsapp/webhook", APP_SECRET
    )


def user_events(bot: Bot, wa_id: str) -> list[dict]:
    return [e for e in bot.tracker(f"wa:{wa_id}")["events"] if e["event"] == "user"]


def wait_turn(bot: Bot, wa_id: str, message_id: str, timeout: float = 30) -> None:
    """Wait until Rasa handled the message: all its replies have been sent by then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = bot.tracker(f"wa:{wa_id}")["events"]
        ids = [e.get("message_id") for e in events]
        if message_id in ids:
            after = events[ids.index(message_id) :]
            if any(e.get("name") == "action_listen" for e in after):
                return
        time.sleep(0.1)
    raise AssertionError(f"message {message_id} was not handled in {timeout} s")


def turn(
    bot: Bot, graph: FakeGraphAPI, meta: WebhookPoster, webhook: dict
) -> list[dict]:
    """Post one client message as Meta would; the bot's messages sent in answer."""
    message = webhook["entry"][0]["changes"][0]["value"]["messages"][0]
    wa_id = message["from"]
    before = len(graph.delivered(wa_id))

    status, _ = meta.post(webhook)

    assert status == 200
    wait_turn(bot, wa_id, message["id"])
    return graph.delivered(wa_id)[before:]


def body_text(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    if message["type"] == "interactive":
        return message["interactive"]["body"]["text"]
    return json.dumps(message, ensure_ascii=False)


def all_text(messages: list[dict]) -> str:
    return "\n".join(body_text(m) for m in messages)


def options(messages: list[dict]) -> list[dict]:
    """Every reply button and list row the bot offered: id, title, description."""
    found = []
    for message in messages:
        if message["type"] != "interactive":
            continue
        action = message["interactive"]["action"]
        for button in action.get("buttons", []):
            found.append({**button["reply"], "kind": "button"})
        for section in action.get("sections", []):
            found.extend({**row, "kind": "list"} for row in section["rows"])
    return found


def press(wa_id: str, messages: list[dict], title_part: str) -> dict:
    """The webhook of the client pressing the option whose words contain `title_part`."""
    for option in options(messages):
        words = option["title"] + " " + option.get("description", "")
        if title_part in words:
            make = (
                button_reply_webhook
                if option["kind"] == "button"
                else list_reply_webhook
            )
            return make(PHONE_ID, wa_id, option["id"], option["title"])
    raise AssertionError(f"no option with {title_part!r} in {options(messages)}")


def trigger(bot: Bot, sender: str, intent: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{bot.rasa_port}/conversations/{sender}/trigger_intent"
        f"?output_channel=latest&token={bot.api_token}",
        data=json.dumps({"name": intent}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


# -- the handshake ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        (
            f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444",
            200,
            "1158201444",
        ),
        (
            "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444",
            403,
            None,
        ),
        ("hub.mode=subscribe&hub.challenge=1158201444", 403, None),
        (
            f"hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1",
            403,
            None,
        ),
    ],
    ids=["right-token", "wrong-token", "no-token", "wrong-mode"],
)
def test_verification_handshake(meta, query, status, body):
    answer_status, answer = meta.get(query)

    assert answer_status == status
    if body is not None:
        assert answer == body
    else:
        assert "1158201444" not in answer


# -- a whole booking -------------------------------------------------------------------


def test_whole_booking_through_whatsapp(bot, graph, meta):
    wa_id = "79130000101"

    offer = turn(
        bot,
        graph,
        meta,
        text_webhook(PHONE_ID, wa_id, "Хочу записаться на маникюр завтра после 15"),
    )
    assert "Выберите удобное время" in all_text(offer)
    assert offer[-1]["interactive"]["type"] == "list"  # five slots: a list message
    consent = turn(bot, graph, meta, press(wa_id, offer, "завтра, 4 декабря, 15:00"))
    assert "согласие на обработку персональных данных" in all_text(consent)
    assert consent[-1]["interactive"]["type"] == "button"
    asked_name = turn(bot, graph, meta, press(wa_id, consent, "Согласен(на)"))
    assert all_text(asked_name) == "Как вас зовут?"
    asked_phone = turn(bot, graph, meta, text_webhook(PHONE_ID, wa_id, "Мария"))
    assert "номер телефона" in all_text(asked_phone)
    summary = turn(bot, graph, meta, text_webhook(PHONE_ID, wa_id, "8 913 765-43-21"))
    assert "Проверьте" in all_text(summary) and "15:00" in all_text(summary)
    done = turn(bot, graph, meta, press(wa_id, summary, "Да, всё верно"))

    assert "Готово, вы записаны" in all_text(done)
    [deal] = [d for d in deals_json(bot) if d["conversation_id"] == f"wa:{wa_id}"]
    assert deal["channel"] == "whatsapp"
    assert deal["phone"] == "+79137654321"
    assert deal["starts_at"] == "2026-12-04T15:00:00+06:00"
    assert deal["status"] == "booked"
    sent = [r for r in graph.requests if r.body.get("to") == wa_id]
    assert all(r.status == 200 and r.authorization == f"Bearer {TOKEN}" for r in sent)


def test_template_quick_reply_is_read_as_its_payload(bot, graph, meta):
    wa_id = "79130000102"

    replies = turn(
        bot,
        graph,
        meta,
        template_button_webhook(PHONE_ID, wa_id, "Цены", "/ask_prices"),
    )

    assert "₽" in all_text(replies)


def test_stored_short_reply_id_is_read_as_its_long_payload(bot, graph, meta):
    wa_id = "79130000103"
    store = WhatsAppStore(bot.tracker_url)
    try:
        reply_id = store.remember_payload("/ask_prices")
    finally:
        store.close()

    replies = turn(
        bot, graph, meta, button_reply_webhook(PHONE_ID, wa_id, reply_id, "Цены")
    )

    assert "₽" in all_text(replies)
    assert user_events(bot, wa_id)[0]["parse_data"]["intent"]["name"] == "ask_prices"


def test_a_voice_note_gets_a_polite_hint(bot, graph, meta):
    wa_id = "79130000104"
    webhook = client_message(
        PHONE_ID, wa_id, "audio", {"id": "1234567", "mime_type": "audio/ogg"}
    )

    status, _ = meta.post(webhook)

    assert status == 200
    [hint] = graph.wait_for(wa_id, 1)
    assert "понимаю только текст и кнопки" in hint["text"]["body"]


# -- refused and ignored webhooks ------------------------------------------------------


def only_the_next_message_counts(
    bot: Bot, graph: FakeGraphAPI, meta: WebhookPoster, wa_id: str
) -> bool:
    """After a valid message from the same client, only it reached Rasa and got replies.

    Work for one client runs in order, so anything the earlier post had started
    would be done by the time this message is answered.
    """
    replies = turn(
        bot, graph, meta, text_webhook(PHONE_ID, wa_id, "Сколько стоит стрижка?")
    )
    texts = [e["text"] for e in user_events(bot, wa_id)]
    return texts == ["Сколько стоит стрижка?"] and graph.delivered(wa_id) == replies


def forged(case: str, wa_id: str) -> tuple[bytes, dict[str, str] | None, str | None]:
    """A webhook body, extra headers and its signature header for each bad case."""
    body = json.dumps(
        text_webhook(PHONE_ID, wa_id, "Здравствуйте"), ensure_ascii=False
    ).encode()
    if case == "missing-signature":
        return body, None, None
    if case == "wrong-secret":
        return body, None, sign(body, "someone-elses-secret")
    if case == "changed-after-signing":
        return body.replace(b"\xd0\x97", b"\xd0\x9f"), None, sign(body, APP_SECRET)
    if case == "sha1-header":
        return body, None, "sha1=" + sign(body, APP_SECRET)[7:47]
    if case == "garbage-signature":
        return body, None, "sha256=not-hex-at-all"
    if case == "malformed-json":
        broken = body[:-7]
        return broken, None, sign(broken, APP_SECRET)
    if case == "not-whatsapp":
        other = json.dumps({"object": "page", "entry": []}).encode()
        return other, None, sign(other, APP_SECRET)
    if case == "oversize":
        big = json.dumps(
            {"object": "whatsapp_business_account", "pad": "x" * MAX_BODY}
        ).encode()
        return big, None, sign(big, APP_SECRET)
    raise ValueError(case)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("missing-signature", 403),
        ("wrong-secret", 403),
        ("changed-after-signing", 403),
        ("sha1-header", 403),
        ("garbage-signature", 403),
        ("malformed-json", 400),
        ("not-whatsapp", 400),
        ("oversize", 413),
    ],
    ids=lambda v: str(v),
)
def test_bad_webhooks_are_refused_and_nothing_is_handled(
    bot, graph, meta, case, status
):
    wa_id = f"7913{zlib.crc32(case.encode()) % 10_000_000:07d}"
    body, headers, signature = forged(case, wa_id)

    answer_status, _ = meta.post(body, signature=signature, headers=headers)

    assert answer_status == status
    assert only_the_next_message_counts(bot, graph, meta, wa_id)


def test_replayed_message_id_is_handled_once(bot, graph, meta):
    wa_id = "79130000105"
    webhook = text_webhook(
        PHONE_ID, wa_id, "Сколько стоит стрижка?", message_id=new_message_id()
    )

    first = turn(bot, graph, meta, webhook)
    again_status, _ = meta.post(webhook)
    later = turn(bot, graph, meta, text_webhook(PHONE_ID, wa_id, "Спасибо"))

    assert again_status == 200  # Meta must stop resending, so the replay gets 200
    assert first and later and graph.delivered(wa_id) == first + later
    texts = [e["text"] for e in user_events(bot, wa_id)]
    assert texts == ["Сколько стоит стрижка?", "Спасибо"]


def test_status_callbacks_are_acknowledged_and_ignored(bot, graph, meta):
    wa_id = "79130000106"

    answers = [
        meta.post(status_webhook(PHONE_ID, wa_id, s))[0]
        for s in ("sent", "delivered", "read", "failed")
    ]

    assert answers == [200, 200, 200, 200]
    assert only_the_next_message_counts(bot, graph, meta, wa_id)


def test_a_send_failed_later_with_131047_gets_the_template_once(bot, graph, meta):
    wa_id = "79130000112"
    failed = status_webhook(PHONE_ID, wa_id, "failed", error_code=131047)

    answers = [meta.post(failed)[0], meta.post(failed)[0]]

    assert answers == [200, 200]
    [template] = graph.wait_for(wa_id, 1)
    time.sleep(0.5)
    assert graph.delivered(wa_id) == [template]
    assert template["type"] == "template"
    assert "Ответьте" in template["template"]["components"][0]["parameters"][0]["text"]


def test_another_business_number_is_ignored(bot, graph, meta):
    wa_id = "79130000107"

    status, _ = meta.post(text_webhook("999999999999", wa_id, "Здравствуйте"))

    assert status == 200
    assert only_the_next_message_counts(bot, graph, meta, wa_id)


def test_the_bot_keeps_working_after_the_bad_webhooks(bot, graph, meta):
    replies = turn(
        bot, graph, meta, text_webhook(PHONE_ID, "79130000108", "Здравствуйте")
    )

    assert "Лаванда" in all_text(replies)


# -- reaching the client later: external events ----------------------------------------


def test_trigger_intent_reaches_the_client_through_whatsapp(bot, graph, meta):
    wa_id = "79130000109"
    turn(bot, graph, meta, text_webhook(PHONE_ID, wa_id, "Здравствуйте"))
    before = len(graph.delivered(wa_id))

    trigger(bot, f"wa:{wa_id}", "ask_location")

    new = graph.wait_for(wa_id, before + 1)[before:]
    assert new[0]["type"] in ("text", "interactive")
    assert "Омск" in all_text(new)


def close_window(bot: Bot, wa_id: str, hours: float = 25) -> None:
    """As if the client last wrote `hours` ago."""
    engine = create_engine(bot.tracker_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE whatsapp_contacts SET last_inbound_at = :at WHERE wa_id = :wa"
            ),
            {"at": time.time() - hours * 3600, "wa": wa_id},
        )
    engine.dispose()


def test_outside_the_window_the_template_goes_instead(bot, graph, meta):
    wa_id = "79130000110"
    turn(bot, graph, meta, text_webhook(PHONE_ID, wa_id, "Здравствуйте"))
    close_window(bot, wa_id)
    before = len(graph.requests)

    trigger(bot, f"wa:{wa_id}", "greet")
    time.sleep(0.5)

    sent = [r for r in graph.requests[before:] if r.body.get("to") == wa_id]
    assert [r.body["type"] for r in sent] == ["template"]  # nothing free-form tried
    template = sent[0].body["template"]
    assert template["name"] == TEMPLATE and template["language"] == {"code": "ru"}
    [parameter] = template["components"][0]["parameters"]
    assert "Лаванда" in parameter["text"] and "\n" not in parameter["text"]

    reopened = turn(
        bot, graph, meta, text_webhook(PHONE_ID, wa_id, "Сколько стоит стрижка?")
    )
    assert reopened and all(m["type"] != "template" for m in reopened)


def test_graph_error_131047_falls_back_to_the_template(bot, graph, meta):
    wa_id = "79130000111"
    turn(bot, graph, meta, text_webhook(PHONE_ID, wa_id, "Здравствуйте"))
    graph.outside_window.add(wa_id)  # Meta knows better than our clock
    before = len(graph.requests)

    trigger(bot, f"wa:{wa_id}", "greet")
    time.sleep(0.5)

    sent = [
        (r.status, r.body["type"])
        for r in graph.requests[before:]
        if r.body.get("to") == wa_id
    ]
    assert sent == [(400, "interactive"), (200, "template")]


# -- the channel's parts without Rasa --------------------------------------------------

ENV = {
    "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
    "WHATSAPP_ACCESS_TOKEN": TOKEN,
    "WHATSAPP_APP_SECRET": APP_SECRET,
    "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
}


def test_settings_need_the_four_secrets_and_name_what_is_missing():
    with pytest.raises(SettingsError) as missing:
        WhatsAppSettings.from_env({"WHATSAPP_PHONE_NUMBER_ID": PHONE_ID})

    assert "WHATSAPP_ACCESS_TOKEN" in str(missing.value)
    assert "WHATSAPP_PHONE_NUMBER_ID" not in str(missing.value)
    settings = WhatsAppSettings.from_env({**ENV, "TRACKER_STORE_URL": "sqlite:///x.db"})
    assert (
        settings.messages_url == f"https://graph.facebook.com/v21.0/{PHONE_ID}/messages"
    )
    assert settings.db_url == "sqlite:///x.db"
    assert TOKEN not in repr(settings) and APP_SECRET not in repr(settings)


@pytest.mark.parametrize(
    "bad",
    [
        {"WHATSAPP_TIMEOUT_SECONDS": "soon"},
        {"WHATSAPP_MAX_BODY_BYTES": "-1"},
        {"WHATSAPP_TEMPLATE_PARAMS": "all"},
    ],
    ids=["timeout", "max-body", "template-params"],
)
def test_unusable_setting_is_named(bad):
    with pytest.raises(SettingsError, match=next(iter(bad))):
        WhatsAppSettings.from_env({**ENV, **bad})


async def asgi_calls(
    channel: WhatsAppInput, requests: list[tuple[str, str]]
) -> list[httpx.Response]:
    """Requests to the channel's blueprint in an in-process Sanic app (ASGI)."""
    app = Sanic(f"wa_test_{time.monotonic_ns()}")

    async def handler(message: UserMessage) -> None:
        raise AssertionError("no message may reach Rasa")

    app.blueprint(channel.blueprint(handler), url_prefix="/webhooks/whatsapp")
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.wait_for(outbox.get(), 10)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t"
        ) as client:
            return [
                await client.request(
                    method, path, content=b"{}" if method == "POST" else None
                )
                for method, path in requests
            ]
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(outbox.get(), 10)
        lifespan.cancel()


def test_without_settings_the_channel_is_off_and_says_so(monkeypatch, caplog):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.INFO, logger="channels.whatsapp")

    channel = WhatsAppInput.from_credentials(None)
    posted, verified = asyncio.run(
        asgi_calls(
            channel,
            [
                ("POST", "/webhooks/whatsapp/webhook"),
                (
                    "GET",
                    "/webhooks/whatsapp/webhook?hub.mode=subscribe&hub.challenge=1",
                ),
            ],
        )
    )

    assert channel.get_output_channel() is None
    assert (posted.status_code, verified.status_code) == (503, 503)
    off = [
        r.getMessage()
        for r in caplog.records
        if "WhatsApp channel is off" in r.getMessage()
    ]
    assert len(off) == 1 and "WHATSAPP_APP_SECRET" in off[0]


def output_channel(
    graph: FakeGraphAPI, tmp_path: Path, **env: str
) -> tuple[WhatsAppOutput, WhatsAppStore]:
    settings = WhatsAppSettings.from_env(
        {
            **ENV,
            "WHATSAPP_GRAPH_URL": graph.url,
            "WHATSAPP_DB_URL": f"sqlite:///{tmp_path}/wa.db",
            "WHATSAPP_TIMEOUT_SECONDS": "2",
            **env,
        }
    )
    store = WhatsAppStore(settings.db_url)
    return WhatsAppOutput(settings, GraphClient(settings), store), store


def test_long_payloads_go_out_as_short_ids_that_map_back(graph, tmp_path):
    output, store = output_channel(graph, tmp_path)
    wa_id = "79130000201"
    store.record_inbound(wa_id, time.time())
    long_payload = "/inform" + json.dumps(
        {"slot_key": "20261204T1500.anna", "note": "x" * 300}
    )

    asyncio.run(
        output.send_text_with_buttons(
            f"wa:{wa_id}",
            "Время?",
            [{"title": "завтра, 4 декабря, 15:00", "payload": long_payload}],
        )
    )

    [sent] = graph.delivered(wa_id)
    reply_id = sent["interactive"]["action"]["buttons"][0]["reply"]["id"]
    assert reply_id.startswith("wa~") and len(reply_id) <= 200
    assert store.payload_for(reply_id) == long_payload


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"WHATSAPP_ACCESS_TOKEN": "EAAG-revoked-token"},
            "Graph API error 190 (HTTP 401)",
        ),
        ({"WHATSAPP_GRAPH_URL": "http://127.0.0.1:9"}, "unreachable"),
    ],
    ids=["wrong-token", "graph-down"],
)
def test_graph_failures_are_logged_without_secrets_or_numbers(
    graph, tmp_path, caplog, env, expected
):
    output, store = output_channel(graph, tmp_path, **env)
    wa_id = "79130000202"
    store.record_inbound(wa_id, time.time())
    caplog.set_level(logging.DEBUG)

    asyncio.run(output.send_text_message(f"wa:{wa_id}", "Здравствуйте"))

    assert graph.delivered(wa_id) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert expected in logged
    for secret in (
        wa_id,
        env["WHATSAPP_ACCESS_TOKEN"] if "WHATSAPP_ACCESS_TOKEN" in env else TOKEN,
        APP_SECRET,
    ):
        assert secret not in logged


def test_outside_the_window_without_a_template_nothing_is_sent(graph, tmp_path, caplog):
    output, store = output_channel(graph, tmp_path)
    wa_id = "79130000203"
    store.record_inbound(wa_id, time.time() - 25 * 3600)
    caplog.set_level(logging.WARNING)

    asyncio.run(output.send_text_message(f"wa:{wa_id}", "Напоминаем о записи"))

    assert [r for r in graph.requests if r.body.get("to") == wa_id] == []
    assert "WHATSAPP_TEMPLATE_NAME is not set" in caplog.text


def test_only_whatsapp_conversations_are_sent_to(graph, tmp_path):
    output, _ = output_channel(graph, tmp_path)
    before = len(graph.requests)

    asyncio.run(output.send_text_message("tg:12345", "Здравствуйте"))

    assert len(graph.requests) == before


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (sign(b'{"a": 1}', APP_SECRET), True),
        (sign(b'{"a": 1}', APP_SECRET).upper().replace("SHA256=", "sha256="), True),
        (sign(b'{"a":1}', APP_SECRET), False),
        ("sha256=", False),
        (None, False),
    ],
    ids=["right", "upper-hex", "reserialised-body", "empty", "missing"],
)
def test_signature_is_checked_on_the_raw_bytes(header, ok):
    assert signature_ok(APP_SECRET, b'{"a": 1}', header) is ok


def test_parse_takes_every_message_kind_in_sending_order():
    webhook = text_webhook(PHONE_ID, "79130000301", "второе", sent_at=1_700_000_010)
    first = list_reply_webhook(
        PHONE_ID, "79130000301", "/inform", "пт", sent_at=1_700_000_000
    )
    value = webhook["entry"][0]["changes"][0]["value"]
    value["messages"].append(first["entry"][0]["changes"][0]["value"]["messages"][0])

    found = parse_webhook(webhook, PHONE_ID).messages

    assert [(m.kind, m.text, m.reply_id) for m in found] == [
        ("interactive", None, "/inform"),
        ("text", "второе", None),
    ]
    assert found[0].sender_id == "wa:79130000301"


@pytest.mark.parametrize(
    ("kind", "content", "expected"),
    [
        (
            "image",
            {"id": "1", "mime_type": "image/jpeg", "caption": "хочу такой"},
            "хочу такой",
        ),
        ("image", {"id": "1", "mime_type": "image/jpeg"}, None),
        ("location", {"latitude": 54.98, "longitude": 73.37}, None),
        ("button", {"text": "Подтвердить", "payload": "/affirm"}, "/affirm"),
    ],
    ids=["photo-with-caption", "photo", "location", "template-button"],
)
def test_parse_reads_what_it_can_of_other_kinds(kind, content, expected):
    webhook = client_message(PHONE_ID, "79130000302", kind, content)

    [message] = parse_webhook(webhook, PHONE_ID).messages

    assert message.text == expected


def test_parse_skips_reactions():
    reaction = {"message_id": "wamid.X", "emoji": "👍"}
    webhook = client_message(PHONE_ID, "79130000303", "reaction", reaction)

    assert parse_webhook(webhook, PHONE_ID).messages == []


@pytest.mark.parametrize(
    "data",
    [
        [],
        "text",
        {"object": "page"},
        {"object": "whatsapp_business_account", "entry": {}},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"metadata": "x"}}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "changes": [
                        {
                            "value": {
                                "messages": [
                                    {
                                        "id": "w",
                                        "from": "79130000000",
                                        "type": "text",
                                        "text": "hi",
                                    }
                                ]
                            }
                        }
                    ]
                }
            ],
        },
    ],
    ids=[
        "list",
        "string",
        "page-object",
        "entry-not-list",
        "metadata-string",
        "text-string",
    ],
)
def test_parse_refuses_what_is_not_a_whatsapp_notification(data):
    with pytest.raises(MalformedWebhook):
        parse_webhook(data, PHONE_ID)
