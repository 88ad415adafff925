"""A fake Telegram Bot API on 127.0.0.1: ``/bot<token>/<method>`` with real shapes.

It accepts JSON, form-encoded and multipart bodies as the real server does, answers
``{"ok": true, "result": ...}`` with the objects Telegram returns (User, Message,
True), ``401 Unauthorized`` for another token, and records every call it gets.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.e2e.harness import free_port
from tests.fakes import wait_for_count


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


class FakeTelegramBotApi:
    def __init__(self, token: str, username: str = "lavanda_managers_bot") -> None:
        self.token = token
        self.username = username
        self.port = free_port()
        self.calls: list[Call] = []
        self.failing: set[str] = (
            set()
        )  # methods that answer 502, as when Telegram is down
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # What tests read

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 20) -> list[Call]:
        return wait_for_count(lambda: self.of(method), count, timeout, method)

    # The server

    def start(self) -> FakeTelegramBotApi:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application(client_max_size=20 * 1024 * 1024)
            app.router.add_post("/bot{token}/{method}", self._handle)
            app.router.add_get("/bot{token}/{method}", self._handle)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Bot API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
                status=401,
            )
        method = request.match_info["method"]
        params, files = await _read(request)
        with self._lock:
            self.calls.append(Call(method, params, files))
        if method in self.failing:
            return web.json_response(
                {"ok": False, "error_code": 502, "description": "Bad Gateway"},
                status=502,
            )
        result = self._result(method, params, files)
        if result is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"},
                status=404,
            )
        return web.json_response({"ok": True, "result": result})

    def _result(
        self, method: str, params: dict[str, Any], files: dict[str, bytes]
    ) -> Any:
        if method == "getMe":
            return {
                "id": 5550001,
                "is_bot": True,
                "first_name": "Менеджеры Лаванды",
                "username": self.username,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method in ("setWebhook", "deleteWebhook", "answerCallbackQuery"):
            return True
        if method in (
            "sendMessage",
            "sendDocument",
            "editMessageText",
            "editMessageReplyMarkup",
        ):
            message = {
                "message_id": int(params.get("message_id") or next(self._ids)),
                "date": int(time.time()),
                "chat": _chat(int(params["chat_id"])),
                "from": {
                    "id": 5550001,
                    "is_bot": True,
                    "first_name": "Менеджеры",
                    "username": self.username,
                },
            }
            if "text" in params:
                message["text"] = params["text"]
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            if method == "sendDocument":
                name, content = next(iter(files.items()), ("document", b""))
                message["document"] = {
                    "file_id": f"doc{message['message_id']}",
                    "file_unique_id": f"u{message['message_id']}",
                    "file_name": params.get("_filename", name),
                    "mime_type": "text/html",
                    "file_size": len(content),
                }
                if "caption" in params:
                    message["caption"] = params["caption"]
            if method.startswith("edit"):
                message["edit_date"] = int(time.time())
            return message
        return None


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": "Менеджеры"}
    return {"id": chat_id, "type": "private", "first_name": "Владелец"}


async def _read(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    kind = request.content_type
    if kind == "application/json":
        params.update(await request.json())
    elif kind == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if part.filename:
                files[part.name] = await part.read()
                params["_filename"] = part.filename
            else:
                params[part.name] = await part.text()
    elif kind == "application/x-www-form-urlencoded":
        params.update(await request.post())
    # Form bodies carry objects as JSON text, as PTB sends them.
    for key in ("reply_markup", "reply_parameters"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params, files
