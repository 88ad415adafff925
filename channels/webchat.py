"""The website chat widget: Rasa's socket.io channel with `web:` ids, plus its files.

`WebchatInput` (registered in credentials.yml as `channels.webchat.WebchatInput`) is
Rasa's socket.io channel with three changes:

- a conversation is a session, not a socket: the browser keeps a session id
  (`web:<random>`) and presents it in `session_request`; the socket joins the room of
  that id, so a reload, a second tab and Rasa's external events
  (`trigger_intent?output_channel=latest`) all reach the same conversation;
- the sender id of a message is the id the socket joined, never one the message names,
  and ids that do not look like ours are replaced by fresh ones;
- its blueprint serves the widget (`/webhooks/webchat/widget.js`, its CSS, the vendored
  socket.io client) and a demo page (`/webhooks/webchat/demo`).

Nothing here raises to callers: malformed socket events are logged and dropped.
"""

from __future__ import annotations

import html
import inspect
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from string import Template
from typing import Any, TypeGuard

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from business.profile import BusinessProfile, ProfileError, load_profile

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "widget" / "src"
VENDOR = Path(__file__).resolve().parent / "webchat_static" / "vendor"

SESSION_ID = re.compile(r"web:[A-Za-z0-9_-]{16,64}")
MAX_MESSAGE_CHARS = 4000
CACHE_SECONDS = 300

# URL under the blueprint -> the file served and its type. An explicit table, so no
# request path is ever joined onto the file system.
FILES: dict[str, tuple[Path, str]] = {
    "widget.js": (SOURCE / "widget.js", "text/javascript; charset=utf-8"),
    "widget.css": (SOURCE / "widget.css", "text/css; charset=utf-8"),
    "vendor/socket.io.min.js": (
        VENDOR / "socket.io.min.js",
        "text/javascript; charset=utf-8",
    ),
}


def new_session_id() -> str:
    return "web:" + secrets.token_urlsafe(18)


def valid_session_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


def mask(session_id: str) -> str:
    """A session id is a bearer secret for its conversation: log only its start."""
    return session_id[:8] + "…"


def demo_page(profile: BusinessProfile | None) -> str:
    """The demo salon page with the widget's script tag, filled from the profile."""
    template = Template((SOURCE / "demo.html").read_text(encoding="utf-8"))
    name = profile.name if profile else "Салон красоты"
    return template.safe_substitute(
        name=html.escape(name),
        name_attr=html.escape(name, quote=True),
        address=html.escape(profile.address if profile else ""),
        phone=html.escape(profile.phone if profile else ""),
        services="".join(
            f"<li>{html.escape(s.name)}</li>"
            for s in (profile.services if profile else ())
        ),
    )


class WebchatOutput(SocketIOOutput):
    """Sends the bot's messages to every socket in the conversation's room."""

    @classmethod
    def name(cls) -> str:
        return "webchat"


class WebchatInput(SocketIOInput):
    """The widget's socket.io channel; sessions always persist (see the module doc)."""

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            session_persistence=True,
            socketio_path=credentials.get("socketio_path", "/socket.io"),
        )

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return None
        return WebchatOutput(self.sio, self.bot_message_evt)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        # An empty list leaves CORS to Sanic, i.e. to `rasa run --cors`.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        blueprint = SocketBlueprint(
            sio, self.socketio_path, "webchat_webhook", __name__
        )
        self.sio = sio
        self._add_pages(blueprint)
        self._add_socket_events(sio, on_new_message)
        return blueprint

    def _add_pages(self, blueprint: Blueprint) -> None:
        try:
            profile: BusinessProfile | None = load_profile()
        except ProfileError as error:
            logger.warning("webchat: the demo page shows no profile (%s)", error)
            profile = None
        if not FILES["vendor/socket.io.min.js"][0].exists():
            logger.warning(
                "webchat: the socket.io client is not vendored; the widget cannot "
                "connect until `make install` runs with npm"
            )

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/demo", methods=["GET"])
        async def demo(_: Request) -> HTTPResponse:
            return response.html(demo_page(profile))

        for url, (path, content_type) in FILES.items():
            blueprint.add_route(
                self._file_handler(path, content_type),
                f"/{url}",
                methods=["GET"],
                name=f"webchat_{url.replace('/', '_').replace('.', '_')}",
            )

    @staticmethod
    def _file_handler(
        path: Path, content_type: str
    ) -> Callable[[Request], Coroutine[Any, Any, HTTPResponse]]:
        async def serve(_: Request) -> HTTPResponse:
            if not path.exists():
                return response.text(
                    "The widget is not built: run `make install` with npm.", status=503
                )
            return response.raw(
                path.read_bytes(),
                content_type=content_type,
                headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}"},
            )

        return serve

    def _add_socket_events(
        self,
        sio: AsyncServer,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        namespace = self.namespace

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: Any = None) -> bool:
            logger.debug("webchat: socket %s connected", sid)
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str) -> None:
            logger.debug("webchat: socket %s disconnected", sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            asked = data.get("session_id") if isinstance(data, dict) else None
            session_id = asked if valid_session_id(asked) else new_session_id()

            session = await sio.get_session(sid, namespace=namespace)
            previous = session.get("session_id")
            if previous and previous != session_id:
                await _maybe_await(sio.leave_room(sid, previous, namespace=namespace))
            # python-socketio 5.10 made enter_room a coroutine, which Rasa 3.6 never
            # awaits (Rasa issue 13027); awaiting when needed works with either.
            await _maybe_await(sio.enter_room(sid, session_id, namespace=namespace))
            await sio.save_session(sid, {"session_id": session_id}, namespace=namespace)

            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)
            logger.debug("webchat: socket %s joined %s", sid, mask(session_id))

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            session_id = session.get("session_id")
            if not isinstance(session_id, str):
                logger.info("webchat: dropped a message sent before session_request")
                return
            text = data.get("message") if isinstance(data, dict) else None
            if not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARS:
                logger.info(
                    "webchat: dropped a malformed message in %s", mask(session_id)
                )
                return

            await on_new_message(
                UserMessage(
                    text,
                    WebchatOutput(sio, self.bot_message_evt),
                    session_id,
                    input_channel=self.name(),
                )
            )


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result
