"""Telegram as a Rasa channel: webhook updates in, Bot API messages out.

Errors raised here::

    TelegramError            base of everything this module raises on purpose
    ├── TelegramAPIError     the Bot API refused a call (its error code and text)
    └── TelegramUnavailable  the Bot API could not be reached, timed out or failed

The channel reads its settings from the environment (see `TelegramSettings`); without
a bot token it stays off and its webhook answers 503.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import Column, Float, MetaData, String, Table, Text, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from channels.http import LoopClient

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SENDER_PREFIX = "tg:"
DEFAULT_API_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few kilobytes at most (4096 characters of text and their entities).
MAX_UPDATE_BYTES = 256 * 1024
MAX_TEXT_UNITS = 4096  # Telegram counts UTF-16 code units
MAX_CALLBACK_BYTES = 64
ALLOWED_UPDATES = ["message", "callback_query"]
# Telegram clients send these when a chat starts or the menu is opened.
GREETING_COMMANDS = {"/start", "/help", "/menu"}
SHARE_PHONE_TITLE = "📱 Отправить мой номер"
NOT_TEXT = (
    "Пока я понимаю только текстовые сообщения. Напишите, пожалуйста, словами "
    "или нажмите кнопку."
)
STALE_BUTTON = "Эта кнопка уже не действует. Напишите, пожалуйста, словами."
PRESS_FAILED = "Не получилось, нажмите ещё раз через минуту или напишите словами."
FOREIGN_CONTACT = (
    "Я могу записать только ваш собственный номер. Нажмите кнопку «Отправить мой "
    "номер» или напишите номер сообщением."
)
PHONE_RECEIVED = "Спасибо, номер получила."
BUTTONS_ONLY = "Выберите, пожалуйста:"
# The custom key an action puts on the message that asks for the phone.
REQUEST_PHONE_KEY = "request_phone"


class TelegramError(Exception):
    """Base of the errors of the Telegram channel."""


class TelegramAPIError(TelegramError):
    """The Bot API answered with ``ok: false``."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"{method}: {code} {description}")
        self.method = method
        self.code = code
        self.description = description
        self.retry_after: float | None = None


class TelegramUnavailable(TelegramError):
    """The Bot API could not be reached, timed out, or answered with garbage."""


# -- settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class TelegramSettings:
    """What the channel needs; secrets come only from the environment."""

    token: str
    api_url: str
    webhook_url: str | None
    secret_token: str
    db_url: str
    timeout: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelegramSettings | None:
        """The settings, or None when no bot token is set (the channel is off).

        TELEGRAM_BOT_TOKEN      the token from @BotFather (required)
        TELEGRAM_API_URL        the Bot API server (default https://api.telegram.org)
        TELEGRAM_WEBHOOK_URL    the public HTTPS URL of /webhooks/telegram/webhook;
                                when set, the webhook is registered at start-up
        TELEGRAM_SECRET_TOKEN   the webhook secret; derived from the token when unset
        TELEGRAM_DB_URL         where button keys are kept (default TRACKER_STORE_URL)
        TELEGRAM_TIMEOUT        seconds per Bot API call (default 10)
        """
        env = os.environ if env is None else env
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            return None
        secret = env.get("TELEGRAM_SECRET_TOKEN", "").strip() or derived_secret(token)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise TelegramError(
                "TELEGRAM_SECRET_TOKEN may hold only A-Z, a-z, 0-9, _ and - "
                "(1 to 256 characters)"
            )
        db_url = (
            env.get("TELEGRAM_DB_URL")
            or env.get("TRACKER_STORE_URL")
            or "sqlite:///var/telegram.db"
        )
        try:
            timeout = float(env.get("TELEGRAM_TIMEOUT") or 10)
        except ValueError:
            raise TelegramError(
                "TELEGRAM_TIMEOUT must be a number of seconds"
            ) from None
        return cls(
            token=token,
            api_url=(env.get("TELEGRAM_API_URL") or DEFAULT_API_URL).rstrip("/"),
            webhook_url=env.get("TELEGRAM_WEBHOOK_URL", "").strip() or None,
            secret_token=secret,
            db_url=db_url,
            timeout=timeout,
        )


def derived_secret(token: str) -> str:
    """A webhook secret that every replica computes alike and nobody has to store."""
    return hmac.new(token.encode(), b"telegram-webhook-secret", "sha256").hexdigest()


def mask(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# -- the Bot API ----------------------------------------------------------------------


class BotAPI:
    """Calls Bot API methods with JSON bodies, one HTTP client per event loop."""

    def __init__(self, settings: TelegramSettings) -> None:
        self._settings = settings
        self._client = LoopClient(httpx.Timeout(settings.timeout, connect=5.0))

    def _http(self) -> httpx.AsyncClient:
        return self._client.get()

    async def close(self) -> None:
        await self._client.close()

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The method's ``result``; a 429 with a short ``retry_after`` is retried."""
        for attempt in (1, 2):
            try:
                return await self._call_once(method, params or {})
            except TelegramAPIError as error:
                wait = getattr(error, "retry_after", None)
                if (
                    attempt == 1
                    and error.code == 429
                    and wait is not None
                    and wait <= 3
                ):
                    await asyncio.sleep(wait)
                    continue
                raise
        raise AssertionError("unreachable")

    async def _call_once(self, method: str, params: dict[str, Any]) -> Any:
        url = f"{self._settings.api_url}/bot{self._settings.token}/{method}"
        try:
            reply = await self._http().post(url, json=params)
            body = reply.json()
        except (httpx.HTTPError, ValueError) as error:
            # httpx puts the URL, and so the token, into its messages.
            detail = mask(str(error), self._settings.token) or type(error).__name__
            raise TelegramUnavailable(f"{method}: {detail}") from None
        if not isinstance(body, dict):
            raise TelegramUnavailable(f"{method}: HTTP {reply.status_code}, no JSON")
        if body.get("ok") is True:
            return body.get("result")
        code = int(body.get("error_code") or reply.status_code)
        description = mask(str(body.get("description") or ""), self._settings.token)
        if code >= 500:
            raise TelegramUnavailable(f"{method}: {code} {description}")
        refusal = TelegramAPIError(method, code, description)
        retry_after = (body.get("parameters") or {}).get("retry_after")
        if isinstance(retry_after, int | float):
            refusal.retry_after = float(retry_after)
        raise refusal


# -- button keys: callback data is at most 64 bytes, payloads are longer ---------------

_metadata = MetaData()
CALLBACK_KEYS = Table(
    "telegram_callback_keys",
    _metadata,
    Column("key", String(32), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)


def callback_key(payload: str) -> str:
    """The short, stable callback data of a button payload (22 ASCII bytes)."""
    digest = hashlib.sha256(payload.encode()).digest()
    return "k" + base64.urlsafe_b64encode(digest)[:21].decode()


class CallbackKeys:
    """Button payloads by their callback key, kept in SQL so they survive restarts.

    Keys are hashes of the payload, so the same button always gets the same key and
    the table grows only with distinct payloads.
    """

    # Known limit: rows are never deleted (a few hundred distinct slot buttons a day);
    # lifts when a clean-up drops keys older than the booking horizon.

    def __init__(self, url: str, cache_size: int = 10_000) -> None:
        self._url = url
        self._engine: Engine | None = None
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    def _db(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self._url, future=True, pool_pre_ping=True)
            _metadata.create_all(self._engine)
        return self._engine

    def open(self) -> None:
        self._db()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _remember(self, key: str, payload: str) -> None:
        self._cache[key] = payload
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def key_for(self, payload: str) -> str:
        key = callback_key(payload)
        if self._cache.get(key) == payload:
            return key
        try:
            with self._db().begin() as connection:
                connection.execute(
                    CALLBACK_KEYS.insert().values(
                        key=key, payload=payload, created_at=time.time()
                    )
                )
        except IntegrityError:
            pass  # already stored, by this process earlier or by another replica
        except SQLAlchemyError as error:
            raise TelegramError(f"button keys: {type(error).__name__}") from error
        self._remember(key, payload)
        return key

    def payload_for(self, key: str) -> str | None:
        if key in self._cache:
            return self._cache[key]
        try:
            with self._db().connect() as connection:
                payload = connection.execute(
                    CALLBACK_KEYS.select().where(CALLBACK_KEYS.c.key == key)
                ).fetchone()
        except SQLAlchemyError as error:
            raise TelegramError(f"button keys: {type(error).__name__}") from error
        if payload is None:
            return None
        self._remember(key, payload.payload)
        return str(payload.payload)


# -- shaping messages -----------------------------------------------------------------


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at a paragraph, line or space."""
    pieces = []
    rest = text.strip()
    while utf16_len(rest) > limit:
        cut = min(len(rest), limit)
        while utf16_len(rest[:cut]) > limit:
            cut -= max(1, (utf16_len(rest[:cut]) - limit) // 2)
        for separator in ("\n\n", "\n", " "):
            found = rest.rfind(separator, 0, cut)
            if found > cut // 2:
                cut = found
                break
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def chat_id_of(recipient_id: str) -> int | None:
    """The Telegram chat id of a conversation id ``tg:<chat id>``."""
    if not recipient_id.startswith(SENDER_PREFIX):
        return None
    try:
        return int(recipient_id[len(SENDER_PREFIX) :])
    except ValueError:
        return None


def command_text(text: str) -> str:
    """Typed text as Rasa should read it: commands greet, no intent can be forged.

    Rasa reads a message that starts with "/" as an intent with entities; in Telegram
    only the buttons may do that, so typed slashes are dropped.
    """
    stripped = text.strip()
    if not stripped.startswith("/"):
        return stripped
    command = stripped.split(maxsplit=1)[0].split("@", 1)[0].lower()
    if command in GREETING_COMMANDS:
        return "/greet"
    return stripped.lstrip("/").strip()


def _phone_payload(phone: str) -> str:
    digits = phone.strip()
    if not digits.startswith("+"):
        digits = "+" + digits
    return "/inform" + json.dumps({"phone": digits})


class _Chats:
    """Per-process memory: shown phone keyboards, pressed keyboards, update ids."""

    # Known limit: kept in memory, so after a restart a shown phone keyboard stays
    # until the client uses it (it is one-time) and an update Telegram redelivers
    # across the restart could be handled twice; lifts when kept in the database.

    def __init__(self, size: int = 10_000) -> None:
        self.phone_keyboard: set[int] = set()
        self._seen: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._size = size

    def first_time(self, kind: str, a: int, b: int = 0) -> bool:
        key = (kind, a, b)
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


# -- output ---------------------------------------------------------------------------


class TelegramOutput(OutputChannel):
    """Sends the bot's messages to a chat; buttons become inline keyboards.

    A failed delivery is logged and not raised: Rasa would otherwise drop the whole
    turn, including a booking the action has already written.
    """

    def __init__(self, api: BotAPI, keys: CallbackKeys, chats: _Chats) -> None:
        self._api = api
        self._keys = keys
        self._chats = chats

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        chat_id = chat_id_of(recipient_id)
        if chat_id is None:
            logger.error("Not a Telegram conversation id; message not sent")
            return
        text = message.get("text") or ""
        if message.get("image"):
            text = f"{text}\n{message['image']}".strip()
        buttons = message.get("buttons") or message.get("quick_replies") or []
        try:
            await self._deliver(
                chat_id, text, buttons, bool(message.get(REQUEST_PHONE_KEY))
            )
        except TelegramError as error:
            logger.error("A message to a Telegram chat was not delivered: %s", error)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": text, **kwargs})

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self.send_response(
            recipient_id, {**kwargs, "text": text, "buttons": buttons}
        )

    async def _deliver(
        self, chat_id: int, text: str, buttons: list[dict[str, Any]], ask_phone: bool
    ) -> None:
        pieces = split_text(text)
        if not pieces and buttons:
            pieces = [BUTTONS_ONLY]  # Telegram sends no message without text
        if not pieces:
            return
        inline = await self._inline_keyboard(buttons) if buttons else None
        remove = False
        if ask_phone:
            markup: dict[str, Any] | None = phone_keyboard()
            self._chats.phone_keyboard.add(chat_id)
        elif chat_id in self._chats.phone_keyboard:
            # A message can carry one keyboard: remove the phone keyboard with it,
            # then put the inline buttons on by editing the message.
            markup, remove = {"remove_keyboard": True}, True
            self._chats.phone_keyboard.discard(chat_id)
        else:
            markup = inline

        for piece in pieces[:-1]:
            await self._api.call("sendMessage", {"chat_id": chat_id, "text": piece})
        params: dict[str, Any] = {"chat_id": chat_id, "text": pieces[-1]}
        if markup is not None:
            params["reply_markup"] = markup
        sent = await self._api.call("sendMessage", params)
        if remove and inline is not None and isinstance(sent, dict):
            await self._api.call(
                "editMessageReplyMarkup",
                {
                    "chat_id": chat_id,
                    "message_id": sent.get("message_id"),
                    "reply_markup": inline,
                },
            )

    async def _inline_keyboard(
        self, buttons: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The buttons as an inline keyboard, or None when their keys cannot be kept
        (the text still goes out: the client can answer in words)."""
        try:
            return await self._keyboard_rows(buttons)
        except TelegramError as error:
            logger.error("Buttons sent without a keyboard: %s", error)
            return None

    async def _keyboard_rows(self, buttons: list[dict[str, Any]]) -> dict[str, Any]:
        rows = []
        for button in buttons:
            title = str(button.get("title") or button.get("payload") or "")
            if button.get("url"):
                rows.append([{"text": title, "url": str(button["url"])}])
                continue
            payload = str(button.get("payload") or title)
            key = await asyncio.to_thread(self._keys.key_for, payload)
            rows.append([{"text": title, "callback_data": key}])
        return {"inline_keyboard": rows}


def phone_keyboard() -> dict[str, Any]:
    return {
        "keyboard": [[{"text": SHARE_PHONE_TITLE, "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
        "input_field_placeholder": "+7 913 123-45-67",
    }


# -- input ----------------------------------------------------------------------------


def follow_rasa_log_level() -> None:
    """Log at Rasa's level, which Rasa sets on its own logger only.

    Without it, `rasa run` dropped the channels' INFO lines once the server had started.
    """
    channels = logging.getLogger("channels")
    if channels.level == logging.NOTSET:
        channels.setLevel(logging.getLogger("rasa").getEffectiveLevel())


Handler = Callable[[UserMessage], Awaitable[Any]]


class TelegramInput(InputChannel):
    """The webhook at ``/webhooks/telegram/webhook``, checked by its secret token."""

    def __init__(self, settings: TelegramSettings | None) -> None:
        self.settings = settings
        self.api = BotAPI(settings) if settings else None
        self.keys = CallbackKeys(settings.db_url) if settings else None
        self.chats = _Chats()

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramInput:
        # Settings come from the environment: credentials.yml only names the channel,
        # and Rasa's ${VAR} substitution would fail when a variable is unset.
        follow_rasa_log_level()
        return cls(TelegramSettings.from_env())

    def get_output_channel(self) -> TelegramOutput | None:
        if self.api is None or self.keys is None:
            return None
        return TelegramOutput(self.api, self.keys, self.chats)

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        bp = Blueprint("telegram_webhook", __name__)
        if self.settings is None:
            logger.info("Telegram channel is off: TELEGRAM_BOT_TOKEN is not set")

        @bp.listener("after_server_start")
        async def connect(app: Any, loop: Any) -> None:
            await self._start()

        @bp.listener("before_server_stop")
        async def disconnect(app: Any, loop: Any) -> None:
            await self._stop()

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            if self.settings is None:
                return response.json({"status": "off"}, status=503)
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        return bp

    async def _start(self) -> None:
        if self.settings is None or self.api is None or self.keys is None:
            return
        try:
            await asyncio.to_thread(self.keys.open)
        except SQLAlchemyError as error:
            logger.error(
                "Telegram button keys cannot be stored: %s", type(error).__name__
            )
        try:
            me = await self.api.call("getMe")
            logger.info("Telegram channel is on for @%s", (me or {}).get("username"))
            if self.settings.webhook_url:
                await self.api.call(
                    "setWebhook",
                    {
                        "url": self.settings.webhook_url,
                        "secret_token": self.settings.secret_token,
                        "allowed_updates": ALLOWED_UPDATES,
                    },
                )
                logger.info("Telegram webhook set")
            else:
                logger.info("Telegram webhook not set: TELEGRAM_WEBHOOK_URL is empty")
        except TelegramError as error:
            logger.error("Telegram start-up call failed: %s", error)

    async def _stop(self) -> None:
        if self.api is not None:
            await self.api.close()
        if self.keys is not None:
            await asyncio.to_thread(self.keys.close)

    def _secret_ok(self, request: Request) -> bool:
        assert self.settings is not None
        given = request.headers.get(SECRET_HEADER) or ""
        return hmac.compare_digest(given.encode(), self.settings.secret_token.encode())

    async def _receive(self, request: Request, on_new_message: Handler) -> HTTPResponse:
        if self.settings is None:
            return response.json({"error": "the Telegram channel is off"}, status=503)
        if not self._secret_ok(request):
            logger.warning("Telegram update refused: wrong or missing secret token")
            return response.json({"error": "forbidden"}, status=403)
        body = request.body or b""
        if len(body) > MAX_UPDATE_BYTES:
            return response.json({"error": "update too large"}, status=413)
        try:
            update = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return response.json({"error": "malformed JSON"}, status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return response.json({"error": "not a Telegram update"}, status=400)

        if not self.chats.first_time("update", update["update_id"]):
            return response.json({"status": "duplicate"})
        try:
            handled = await self._handle(update, on_new_message)
        except Exception:
            # Known limit: such an update is dropped rather than retried, because
            # Telegram would hold back every later update behind it; lifts with a
            # dead-letter table.
            logger.exception("Telegram update %s failed", update["update_id"])
            return response.json({"status": "failed"})
        return response.json({"status": "ok" if handled else "ignored"})

    async def _handle(self, update: dict[str, Any], on_new_message: Handler) -> bool:
        if isinstance(update.get("message"), dict):
            return await self._on_message(update, update["message"], on_new_message)
        if isinstance(update.get("callback_query"), dict):
            return await self._on_callback(
                update, update["callback_query"], on_new_message
            )
        return False

    async def _on_message(
        self, update: dict[str, Any], message: dict[str, Any], on_new_message: Handler
    ) -> bool:
        chat = message.get("chat") or {}
        if chat.get("type") != "private" or not isinstance(chat.get("id"), int):
            return False  # groups and channels could expose a client's phone
        chat_id = chat["id"]
        output = self.get_output_channel()
        assert output is not None
        sender = f"{SENDER_PREFIX}{chat_id}"

        if isinstance(message.get("contact"), dict):
            contact = message["contact"]
            from_id = (message.get("from") or {}).get("id")
            if from_id is None or contact.get("user_id") != from_id:
                await output.send_response(
                    sender, {"text": FOREIGN_CONTACT, REQUEST_PHONE_KEY: True}
                )
                return True
            phone = str(contact.get("phone_number") or "")
            self.chats.phone_keyboard.add(chat_id)  # so that this reply removes it
            await output.send_response(sender, {"text": PHONE_RECEIVED})
            text = _phone_payload(phone)
            kind = "contact"
        elif isinstance(message.get("text"), str):
            text = command_text(message["text"])
            kind = "text"
        else:
            await output.send_response(sender, {"text": NOT_TEXT})
            return True

        await on_new_message(self._user_message(update, text, output, sender, kind))
        return True

    async def _on_callback(
        self, update: dict[str, Any], query: dict[str, Any], on_new_message: Handler
    ) -> bool:
        assert self.api is not None and self.keys is not None
        message = query.get("message") or {}
        chat = message.get("chat") or {}
        data = query.get("data")
        payload, failed = None, False
        if isinstance(data, str) and len(data.encode()) <= MAX_CALLBACK_BYTES:
            try:
                payload = await asyncio.to_thread(self.keys.payload_for, data)
            except TelegramError as error:
                logger.error("A pressed button could not be looked up: %s", error)
                failed = True
        usable = (
            payload is not None
            and chat.get("type") == "private"
            and isinstance(chat.get("id"), int)
            and isinstance(message.get("message_id"), int)
            and self.chats.first_time("pressed", chat["id"], message["message_id"])
        )

        answer: dict[str, Any] = {"callback_query_id": str(query.get("id") or "")}
        if not usable:
            answer["text"] = PRESS_FAILED if failed else STALE_BUTTON
        try:
            await self.api.call("answerCallbackQuery", answer)
        except TelegramError as error:
            logger.warning("A callback query was not answered: %s", error)
        if not usable or payload is None:
            return False

        try:
            # One press per keyboard: an old offer cannot be chosen twice.
            await self.api.call(
                "editMessageReplyMarkup",
                {"chat_id": chat["id"], "message_id": message["message_id"]},
            )
        except TelegramError as error:
            logger.info("Pressed keyboard not removed: %s", error)
        output = self.get_output_channel()
        assert output is not None
        sender = f"{SENDER_PREFIX}{chat['id']}"
        await on_new_message(
            self._user_message(update, payload, output, sender, "button")
        )
        return True

    def _user_message(
        self,
        update: dict[str, Any],
        text: str,
        output: TelegramOutput,
        sender: str,
        kind: str,
    ) -> UserMessage:
        return UserMessage(
            text=text,
            output_channel=output,
            sender_id=sender,
            input_channel=CHANNEL,
            message_id=f"tg-{update['update_id']}",
            metadata={"telegram": {"update_id": update["update_id"], "kind": kind}},
        )
