"""A fake of Rasa's HTTP API for the reminder scheduler: ``trigger_intent`` only.

It answers like Rasa 3.6 (``{"tracker": ..., "messages": [...]}``, and Rasa's error
body with 401 for a wrong token) and records every accepted request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Triggered:
    conversation_id: str
    intent: str
    entities: dict[str, Any]
    output_channel: str | None


@dataclass
class FakeRasa:
    token: str = "test-token"
    # Set to a status (503, 500) to answer every request with it, as a sick Rasa.
    fail_with: int | None = None
    # Whether the bot says a triggered reminder: its action then sets the
    # `reminder` slot, which the answer's tracker shows (as the real bot's does).
    says_reminders: bool = True
    received: list[Triggered] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        with self._lock:
            self.attempts += 1
        segments = parts.path.strip("/").split("/")
        if len(segments) != 3 or segments[::2] != ["conversations", "trigger_intent"]:
            return _answer(request, 404, _error(404, "NotFound", "no such route"))
        if query.get("token") != self.token:
            return _answer(
                request,
                401,
                _error(401, "NotAuthenticated", "User is not authenticated."),
            )
        if self.fail_with is not None:
            return _answer(request, self.fail_with, _error(self.fail_with, "Down", ""))
        try:
            payload = json.loads(body)
            intent = payload["name"]
        except (ValueError, KeyError, TypeError):
            return _answer(request, 400, _error(400, "BadRequest", "no intent name"))
        conversation_id = segments[1]  # as Rasa's Sanic: path parameters stay quoted
        with self._lock:
            self.received.append(
                Triggered(
                    conversation_id,
                    intent,
                    payload.get("entities") or {},
                    query.get("output_channel"),
                )
            )
        slots: dict[str, Any] = {}
        entities = payload.get("entities") or {}
        if self.says_reminders and intent == "EXTERNAL_reminder":
            slots["reminder"] = {
                "reminder_id": int(entities["reminder_id"]),
                "deal_id": int(entities["deal_id"]),
            }
        tracker = {"sender_id": conversation_id, "events": None, "slots": slots}
        _answer(request, 200, {"tracker": tracker, "messages": []})


def _error(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "version": "3.6.21",
        "status": "failure",
        "message": message,
        "reason": reason,
        "details": {},
        "help": None,
        "code": code,
    }


def _answer(request: BaseHTTPRequestHandler, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)
