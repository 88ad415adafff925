"""A Rasa input and output channel for Meta's WhatsApp Cloud API, sender ids `wa:<wa_id>`.

Registered in credentials.yml as ``channels.whatsapp.WhatsAppInput:`` and configured
only from environment variables (see `WhatsAppSettings`); without them the webhook
answers 503 and the channel stays off. Webhooks are accepted only with a valid
`X-Hub-Signature-256`, each message id is handled once, and replies go out as text,
reply buttons or list messages, or as the configured template outside the 24-hour
customer window.

Errors: `WhatsAppError` is the base; `GraphError` (the Graph API refused a call, with
its error code) with `OutsideWindowError` (code 131047) below it, and
`GraphUnavailable` (timeout, network, HTTP 5xx). The SQL state raises
`channels.whatsapp_store.WhatsAppStoreError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import httpx
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.http import LoopClient
from channels.whatsapp_format import ROW_ID_LIMIT, render, template_message
from channels.whatsapp_store import REPLY_ID_PREFIX, WhatsAppStore, WhatsAppStoreError

logger = logging.getLogger(__name__)

CHANNEL_NAME = "whatsapp"
SENDER_PREFIX = "wa:"
OUTSIDE_WINDOW_CODE = 131047
# Free-form messages are allowed for 24 hours after the client's last message; stop
# a few minutes early so that a slow send never lands just outside it.
WINDOW_SECONDS = 24 * 3600 - 300
REENGAGE_TEXT = (
    "У нас есть для вас сообщение. Ответьте, пожалуйста, чтобы продолжить разговор."
)
UNSUPPORTED_TEXT = (
    "Пока я понимаю только текст и кнопки. Напишите, пожалуйста, словами, "
    "чем я могу помочь."
)
# A reaction or a system notice (a changed number) is no message to answer.
_SILENT_KINDS = frozenset({"reaction", "system"})
_CAPTIONED = frozenset({"image", "video", "document"})
_WA_ID = re.compile(r"^\d{5,20}$")
_LONG_DIGITS = re.compile(r"\d{9,}")

REQUIRED = {
    "WHATSAPP_PHONE_NUMBER_ID": "phone_number_id",
    "WHATSAPP_ACCESS_TOKEN": "access_token",
    "WHATSAPP_APP_SECRET": "app_secret",
    "WHATSAPP_VERIFY_TOKEN": "verify_token",
}


class WhatsAppError(Exception):
    """A WhatsApp Cloud API call failed."""


class GraphUnavailable(WhatsAppError):
    """The Graph API did not answer in time, or answered with a server error."""


class GraphError(WhatsAppError):
    """The Graph API refused the call; `code` is Meta's error code."""

    def __init__(self, code: int | None, status: int, message: str) -> None:
        super().__init__(f"Graph API error {code} (HTTP {status}): {message}")
        self.code = code
        self.status = status


class OutsideWindowError(GraphError):
    """Free-form messages are refused: the 24-hour customer window is closed."""


class SettingsError(WhatsAppError):
    """A WhatsApp setting in the environment has an unusable value."""


def mask(wa_id: str) -> str:
    """A client's number as logs may show it: only the last two digits."""
    return f"***{wa_id[-2:]}" if len(wa_id) > 2 else "***"


def _masked_text(text: str) -> str:
    return _LONG_DIGITS.sub(lambda m: mask(m[0]), text)


@dataclass(frozen=True)
class WhatsAppSettings:
    """Everything the channel needs; secrets are left out of the repr."""

    phone_number_id: str
    access_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    graph_url: str = "https://graph.facebook.com"
    graph_version: str = "v21.0"
    template_name: str | None = None
    template_language: str = "ru"
    template_with_text: bool = True
    db_url: str = "sqlite:///var/tracker.db"
    timeout_seconds: float = 10.0
    max_body_bytes: int = 1_048_576

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WhatsAppSettings:
        """The settings from `env`; SettingsError names what is missing or wrong."""
        missing = [name for name in REQUIRED if not env.get(name, "").strip()]
        if missing:
            raise SettingsError(f"not set: {', '.join(missing)}")
        values: dict[str, Any] = {
            attr: env[name].strip() for name, attr in REQUIRED.items()
        }
        values["graph_url"] = env.get("WHATSAPP_GRAPH_URL", cls.graph_url).rstrip("/")
        values["graph_version"] = env.get("WHATSAPP_GRAPH_VERSION", cls.graph_version)
        values["template_name"] = env.get("WHATSAPP_TEMPLATE_NAME") or None
        values["template_language"] = env.get(
            "WHATSAPP_TEMPLATE_LANGUAGE", cls.template_language
        )
        params = env.get("WHATSAPP_TEMPLATE_PARAMS", "text")
        if params not in ("text", "none"):
            raise SettingsError("WHATSAPP_TEMPLATE_PARAMS must be 'text' or 'none'")
        values["template_with_text"] = params == "text"
        values["db_url"] = (
            env.get("WHATSAPP_DB_URL") or env.get("TRACKER_STORE_URL") or cls.db_url
        )
        values["timeout_seconds"] = _positive(
            env, "WHATSAPP_TIMEOUT_SECONDS", cls.timeout_seconds
        )
        values["max_body_bytes"] = int(
            _positive(env, "WHATSAPP_MAX_BODY_BYTES", cls.max_body_bytes)
        )
        return cls(**values)

    @property
    def messages_url(self) -> str:
        return f"{self.graph_url}/{self.graph_version}/{self.phone_number_id}/messages"


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SettingsError(f"{name} must be a positive number")
    return value


# -- the Graph API ---------------------------------------------------------------------


class GraphClient:
    """Sends messages through `POST /{version}/{phone_number_id}/messages`."""

    def __init__(self, settings: WhatsAppSettings) -> None:
        self._settings = settings
        self._http = LoopClient(httpx.Timeout(settings.timeout_seconds))

    def _client(self) -> httpx.AsyncClient:
        return self._http.get()

    async def send(self, wa_id: str, body: dict[str, Any]) -> str:
        """Send one message body to `wa_id`; the message id Meta gives it.

        Known limit: a failed send is not retried, since after a timeout the message
        may have gone out and the Cloud API has no idempotency key; lifts when sends
        go through an outbox that checks delivery statuses before a retry.
        """
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": wa_id,
            **body,
        }
        headers = {"Authorization": f"Bearer {self._settings.access_token}"}
        try:
            answer = await self._client().post(
                self._settings.messages_url, json=payload, headers=headers
            )
        except httpx.TimeoutException as error:
            raise GraphUnavailable("the Graph API timed out") from error
        except httpx.HTTPError as error:
            raise GraphUnavailable(
                f"the Graph API is unreachable ({type(error).__name__})"
            ) from error
        if answer.status_code >= 500:
            raise GraphUnavailable(f"the Graph API answered HTTP {answer.status_code}")

        try:
            data = answer.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise GraphError(
                None, answer.status_code, "the answer is not a JSON object"
            )
        refusal = data.get("error")
        if answer.status_code != 200 or refusal:
            raise _graph_error(refusal, answer.status_code)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise GraphError(None, answer.status_code, "no message id") from None

    async def close(self) -> None:
        await self._http.close()


def _graph_error(error: Any, status: int) -> GraphError:
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    code = code if isinstance(code, int) else None
    details = (error.get("error_data") or {}).get("details") if error else None
    message = _masked_text(str(details or error.get("message") or "no message"))
    kind = OutsideWindowError if code == OUTSIDE_WINDOW_CODE else GraphError
    return kind(code, status, message)


# -- webhooks in -----------------------------------------------------------------------


class MalformedWebhook(WhatsAppError):
    """A signed webhook body that is not a WhatsApp Business Account notification."""


@dataclass(frozen=True)
class Inbound:
    """One client message from a webhook."""

    message_id: str
    wa_id: str
    sent_at: float
    kind: str
    text: str | None = None
    reply_id: str | None = None
    reply_title: str | None = None

    @property
    def sender_id(self) -> str:
        return f"{SENDER_PREFIX}{self.wa_id}"


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """Is `header` the `sha256=<hex>` HMAC of the raw `body` with the app secret?"""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


@dataclass(frozen=True)
class Notification:
    """What a webhook brings: client messages, and sends refused as outside the window."""

    messages: list[Inbound]
    # (status id, wa_id) of our messages that Meta reports failed with 131047.
    closed_windows: list[tuple[str, str]]


def parse_webhook(data: Any, phone_number_id: str) -> Notification:
    """The client messages (in the order sent) and failures of a webhook for our number.

    Delivery statuses are ignored, except a failure with 131047: the Cloud API may
    accept a free-form message and only later report that the window was closed.
    """
    if not isinstance(data, dict) or not isinstance(data.get("entry", []), list):
        raise MalformedWebhook("not a webhook notification")
    if data.get("object") != "whatsapp_business_account":
        raise MalformedWebhook("not a WhatsApp Business Account notification")
    found: list[Inbound] = []
    closed: list[tuple[str, str]] = []
    try:
        for value in _values(data, phone_number_id):
            for message in value.get("messages") or []:
                inbound = _inbound(message)
                if inbound is not None:
                    found.append(inbound)
            for status in value.get("statuses") or []:
                if _closed_window(status):
                    closed.append((str(status["id"]), str(status["recipient_id"])))
    except (AttributeError, TypeError) as error:
        # A field of the wrong JSON type somewhere inside (a string for an object).
        raise MalformedWebhook("a field has the wrong type") from error
    return Notification(sorted(found, key=lambda m: m.sent_at), closed)


def _values(data: dict[str, Any], phone_number_id: str) -> list[dict[str, Any]]:
    values = []
    for entry in data.get("entry") or []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if (
                not isinstance(value, dict)
                or change.get("field", "messages") != "messages"
            ):
                continue
            number = (value.get("metadata") or {}).get("phone_number_id")
            if number is not None and str(number) != phone_number_id:
                logger.info("WhatsApp webhook for another phone number ignored")
                continue
            values.append(value)
    return values


def _closed_window(status: Any) -> bool:
    if not isinstance(status, dict) or status.get("status") != "failed":
        return False
    if not status.get("id") or not _WA_ID.match(str(status.get("recipient_id"))):
        return False
    errors = status.get("errors") or []
    return any(
        isinstance(e, dict) and e.get("code") == OUTSIDE_WINDOW_CODE for e in errors
    )


def _inbound(message: Any) -> Inbound | None:
    if not isinstance(message, dict):
        return None
    message_id, wa_id = message.get("id"), str(message.get("from") or "")
    if not isinstance(message_id, str) or not message_id or not _WA_ID.match(wa_id):
        logger.info("WhatsApp message without a usable id or sender ignored")
        return None
    try:
        sent_at = min(float(message["timestamp"]), time.time())
    except (KeyError, TypeError, ValueError):
        sent_at = time.time()
    kind = str(message.get("type") or "unknown")
    if kind in _SILENT_KINDS:
        return None
    base = Inbound(message_id, wa_id, sent_at, kind)

    if kind == "text":
        return replace(base, text=str((message.get("text") or {}).get("body") or ""))
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(interactive.get("type") or "") or {}
        if isinstance(reply, dict) and reply.get("id"):
            return replace(
                base, reply_id=str(reply["id"]), reply_title=reply.get("title")
            )
    if kind == "button":
        button = message.get("button") or {}
        text = button.get("payload") or button.get("text")
        if text:
            return replace(base, text=str(text))
    caption = (message.get(kind) or {}).get("caption") if kind in _CAPTIONED else None
    if caption:
        return replace(base, text=str(caption))  # a photo "хочу такой маникюр"
    return base  # a voice note, a location, a sticker: not understood


# -- messages out ----------------------------------------------------------------------


class WhatsAppOutput(OutputChannel):
    """Sends the bot's messages to `wa:<wa_id>` recipients through the Graph API."""

    def __init__(
        self, settings: WhatsAppSettings, graph: GraphClient, store: WhatsAppStore
    ) -> None:
        self._settings = settings
        self._graph = graph
        self._store = store
        # Clients already sent the template in this batch of messages: one is enough.
        self._templated: set[str] = set()

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        await self._deliver(recipient_id, text, [])

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self._deliver(recipient_id, text, buttons)

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        await self._deliver(
            recipient_id, "", [], {"type": "image", "image": {"link": image}}
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        body = json_message.get("whatsapp") if isinstance(json_message, dict) else None
        if isinstance(body, dict):
            await self._deliver(recipient_id, "", [], body)
        else:
            logger.debug("A custom message without a 'whatsapp' body was skipped")

    async def _deliver(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        raw: dict[str, Any] | None = None,
    ) -> None:
        if not recipient_id.startswith(SENDER_PREFIX):
            logger.warning("Not a WhatsApp conversation; the message was not sent")
            return
        wa_id = recipient_id[len(SENDER_PREFIX) :]
        if wa_id in self._templated:
            logger.info("Message to %s held back: the template went first", mask(wa_id))
            return
        if not await self._window_open(wa_id):
            await self.send_template(wa_id, text)
            return

        try:
            bodies = [raw] if raw else await self._bodies(text, buttons)
            for body in bodies:
                await self._graph.send(wa_id, body)
        except OutsideWindowError:
            await self.send_template(wa_id, text)
        except (WhatsAppError, WhatsAppStoreError) as error:
            logger.warning("WhatsApp message to %s not sent: %s", mask(wa_id), error)

    async def _bodies(
        self, text: str, buttons: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        long = {
            str(b["payload"])
            for b in buttons
            if len(str(b.get("payload") or "")) > ROW_ID_LIMIT
        }
        short = {
            p: await asyncio.to_thread(self._store.remember_payload, p) for p in long
        }
        return render(text, buttons, lambda payload, limit: short.get(payload, payload))

    async def _window_open(self, wa_id: str) -> bool:
        try:
            last = await asyncio.to_thread(self._store.last_inbound, wa_id)
        except WhatsAppStoreError as error:
            # Try free-form: the Graph API says 131047 if the window is closed.
            logger.warning("WhatsApp window unknown for %s: %s", mask(wa_id), error)
            return True
        return last is not None and time.time() - last < WINDOW_SECONDS

    async def send_template(self, wa_id: str, text: str) -> None:
        """The configured template to `wa_id`, `text` as its parameter if it has one."""
        settings = self._settings
        if not settings.template_name:
            logger.warning(
                "Message to %s not sent: outside the 24-hour window and "
                "WHATSAPP_TEMPLATE_NAME is not set",
                mask(wa_id),
            )
            return
        self._templated.add(wa_id)
        body = template_message(
            settings.template_name,
            settings.template_language,
            (text.strip() or REENGAGE_TEXT) if settings.template_with_text else None,
        )
        try:
            await self._graph.send(wa_id, body)
        except WhatsAppError as error:
            logger.warning("WhatsApp template to %s not sent: %s", mask(wa_id), error)
            return
        logger.info("Outside the 24-hour window: template sent to %s", mask(wa_id))


# -- the Rasa input channel ------------------------------------------------------------


class WhatsAppInput(InputChannel):
    """The webhook Meta calls (`/webhooks/whatsapp/webhook`) and its output channel."""

    def __init__(self, settings: WhatsAppSettings | None) -> None:
        self.settings = settings
        self._graph = GraphClient(settings) if settings else None
        self._store = WhatsAppStore(settings.db_url) if settings else None
        self._chains: dict[str, asyncio.Task[None]] = {}

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        try:
            settings = WhatsAppSettings.from_env(os.environ)
        except SettingsError as error:
            logger.info("WhatsApp channel is off (%s)", error)
            return cls(None)
        logger.info("WhatsApp channel is on (Graph API %s)", settings.graph_version)
        return cls(settings)

    def get_output_channel(self) -> WhatsAppOutput | None:
        if not (self.settings and self._graph and self._store):
            return None
        return WhatsAppOutput(self.settings, self._graph, self._store)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        hook = Blueprint("whatsapp_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.settings else "off"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if self.settings is None:
                return response.text("WhatsApp channel is not configured", status=503)
            token = request.args.get("hub.verify_token") or ""
            if request.args.get("hub.mode") == "subscribe" and hmac.compare_digest(
                token.encode(), self.settings.verify_token.encode()
            ):
                return response.text(request.args.get("hub.challenge") or "")
            return response.text("verification failed", status=403)

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            if self.settings is None:
                return response.text("WhatsApp channel is not configured", status=503)
            body = await _read_body(request, self.settings.max_body_bytes)
            if body is None:
                return response.text("payload too large", status=413)
            signature = request.headers.get("X-Hub-Signature-256")
            if not signature_ok(self.settings.app_secret, body, signature):
                logger.warning("WhatsApp webhook with a missing or wrong signature")
                return response.text("invalid signature", status=403)
            try:
                notification = parse_webhook(
                    json.loads(body), self.settings.phone_number_id
                )
            except (ValueError, RecursionError, MalformedWebhook):
                logger.warning("WhatsApp webhook with a malformed body refused")
                return response.text("malformed body", status=400)
            try:
                await self._accept(notification, on_new_message)
            except WhatsAppStoreError as error:
                # Meta delivers the webhook again; ids already taken are skipped then.
                logger.error("WhatsApp webhook not accepted: %s", error)
                return response.text("try again later", status=500)
            return response.text("ok")

        @hook.listener("before_server_stop")
        async def drain(*_: Any) -> None:
            pending = list(self._chains.values())
            if pending:
                await asyncio.wait(pending, timeout=10)
            if self._graph:
                await self._graph.close()

        return hook

    async def _accept(
        self,
        notification: Notification,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        assert self._store is not None
        for message in notification.messages:
            taken = await asyncio.to_thread(
                self._store.take_message,
                message.message_id,
                message.wa_id,
                message.sent_at,
            )
            if not taken:
                logger.info("WhatsApp message delivered again; handled once already")
                continue
            self._schedule(
                message.sender_id,
                partial(self._handle, message, on_new_message),
            )
        for status_id, wa_id in notification.closed_windows:
            if await asyncio.to_thread(
                self._store.first_sighting, f"failed:{status_id}"
            ):
                self._schedule(
                    f"{SENDER_PREFIX}{wa_id}", partial(self._reengage, wa_id)
                )

    async def _reengage(self, wa_id: str) -> None:
        output = self.get_output_channel()
        if output is not None:
            await output.send_template(wa_id, REENGAGE_TEXT)

    def _schedule(self, sender: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` after the same client's earlier work, off the request.

        Known limit: work accepted with a 200 but not yet done when the process is
        killed (not stopped: a stop waits up to 10 s) is lost, since Meta will not
        deliver it again; lifts when accepted messages go through a durable queue.
        """
        previous = self._chains.get(sender)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await work()

        task = asyncio.get_running_loop().create_task(run())
        self._chains[sender] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._chains.get(sender) is finished:
                del self._chains[sender]

        task.add_done_callback(done)

    async def _handle(
        self,
        message: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        output = self.get_output_channel()
        assert output is not None and self._store is not None
        try:
            text = message.text
            if message.reply_id is not None:
                text = await self._payload(message.reply_id, message.reply_title)
            if text is None:
                await output.send_text_message(message.sender_id, UNSUPPORTED_TEXT)
                return
            await on_new_message(
                UserMessage(
                    text,
                    output,
                    message.sender_id,
                    input_channel=CHANNEL_NAME,
                    message_id=message.message_id,
                    metadata={"whatsapp_type": message.kind},
                )
            )
        except Exception:  # noqa: BLE001 - a background task must log, not vanish
            logger.exception("WhatsApp message from %s failed", mask(message.wa_id))

    async def _payload(self, reply_id: str, title: str | None) -> str | None:
        if not reply_id.startswith(REPLY_ID_PREFIX):
            return reply_id
        assert self._store is not None
        payload = await asyncio.to_thread(self._store.payload_for, reply_id)
        if payload is None:
            # An id pruned long ago: the button's words still say what was meant.
            logger.info("Unknown WhatsApp reply id; its title is used instead")
            return title
        return payload


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.stream.read()  # type: ignore[union-attr]
        if chunk is None:
            break
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
