"""A fake Telegram Bot API on 127.0.0.1 that answers as the real one and records calls.

Usage::

    api = FakeTelegramAPI(token).start()
    ...  # point the code at api.url (the base URL, without /bot<token>)
    api.calls("sendMessage")  # the parameters of every authorised call, in order
    api.stop()

It takes JSON and form-encoded bodies (``reply_markup`` and other objects as JSON text
in forms), checks the token (401 otherwise), and refuses what Telegram refuses:
empty or over-long text, callback data over 64 bytes, a webhook URL that is not HTTPS,
a secret token with characters Telegram does not allow. Builders of incoming updates
(`text_update`, `callback_update`, `contact_update`) live here too.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes import wait_for_count

BOT_ID = 7000000001
_OBJECT_FIELDS = {"reply_markup", "allowed_updates", "entities", "link_preview_options"}
_ID_FIELDS = {"chat_id", "message_id", "user_id", "reply_to_message_id"}


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegramAPI:
    """A Bot API server for one bot token; thread-safe, one per test or module."""

    def __init__(self, token: str, username: str = "lavanda_test_bot") -> None:
        self.token = token
        self.username = username
        self._calls: list[tuple[str, dict[str, Any], Any]] = []
        self._refused: list[tuple[str, int]] = []
        self._failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._message_ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control

    def start(self) -> FakeTelegramAPI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = fake._dispatch(
                    self.path, self.headers.get("Content-Type") or "", body
                )
                self._answer(status, answer)

            def do_GET(self) -> None:  # noqa: N802
                status, answer = fake._dispatch(self.path, "", b"")
                self._answer(status, answer)

            def _answer(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Parameters of the authorised calls of `method` (all methods if None)."""
        with self._lock:
            return [p for m, p, _ in self._calls if method is None or m == method]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The Message objects the fake returned for sendMessage, in order."""
        with self._lock:
            return [
                r
                for m, _, r in self._calls
                if m == "sendMessage" and chat_id in (None, r["chat"]["id"])
            ]

    def methods(self) -> list[str]:
        with self._lock:
            return [m for m, _, _ in self._calls]

    def refused(self) -> list[tuple[str, int]]:
        """(method, status) of every call the fake refused, wrong tokens included."""
        with self._lock:
            return list(self._refused)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._refused.clear()

    def fail(
        self, method: str, status: int, description: str, times: int = 1, **extra: Any
    ) -> None:
        """Make the next `times` calls of `method` fail as Telegram would."""
        answer = {
            "ok": False,
            "error_code": status,
            "description": description,
            **extra,
        }
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, answer)] * times)

    def wait_for(self, method: str, count: int = 1, timeout: float = 10) -> list[dict]:
        return wait_for_count(lambda: self.calls(method), count, timeout, method)

    # -- the protocol

    def _dispatch(self, path: str, content_type: str, body: bytes) -> tuple[int, dict]:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)(\?.*)?", path)
        if match is None:
            return 404, _error(404, "Not Found")
        token, method = match.group(1), match.group(2)
        if token != self.token:
            with self._lock:
                self._refused.append((method, 401))
            return 401, _error(401, "Unauthorized")
        try:
            params = _params(content_type, body, match.group(3) or "")
        except ValueError:
            return self._refuse(method, 400, "Bad Request: can't parse request body")

        with self._lock:
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
        if failure is not None:
            self._record_refusal(method, failure[0])
            return failure

        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._refuse(method, 404, "Not Found")
        problem = handler(params)
        if isinstance(problem, str):
            return self._refuse(method, 400, f"Bad Request: {problem}")
        with self._lock:
            self._calls.append((method, params, problem))
        return 200, {"ok": True, "result": problem}

    def _record_refusal(self, method: str, status: int) -> None:
        with self._lock:
            self._refused.append((method, status))

    def _refuse(self, method: str, status: int, description: str) -> tuple[int, dict]:
        self._record_refusal(method, status)
        return status, _error(status, description)

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Лаванда",
            "username": self.username,
        }

    # Each `_m_<method>` returns the result, or a string saying why it is refused.

    def _m_getMe(self, params: dict) -> Any:  # noqa: N802
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_setWebhook(self, params: dict) -> Any:  # noqa: N802
        url = str(params.get("url") or "")
        if not url.startswith("https://"):
            return "bad webhook: An HTTPS URL must be provided for webhook"
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            return "secret token contains unallowed characters"
        return True

    def _m_deleteWebhook(self, params: dict) -> Any:  # noqa: N802
        return True

    def _m_sendMessage(self, params: dict) -> Any:  # noqa: N802
        text = params.get("text")
        if "chat_id" not in params:
            return "chat_id is empty"
        if not isinstance(text, str) or not text.strip():
            return "message text is empty"
        if _units(text) > 4096:
            return "message is too long"
        problem = _markup_problem(params.get("reply_markup"))
        if problem:
            return problem
        message = {
            "message_id": next(self._message_ids),
            "from": self._bot_user(),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "date": int(time.time()),
            "text": text,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    def _m_answerCallbackQuery(self, params: dict) -> Any:  # noqa: N802
        if not params.get("callback_query_id"):
            return (
                "query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text") or "")) > 200:
            return "MESSAGE_TOO_LONG"
        return True

    def _m_editMessageReplyMarkup(self, params: dict) -> Any:  # noqa: N802
        if "inline_message_id" in params:
            return True
        if "chat_id" not in params or "message_id" not in params:
            return "message to edit not found"
        markup = params.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            return "inline keyboard expected"
        problem = _markup_problem(markup)
        if problem:
            return problem
        message = {
            "message_id": int(params["message_id"]),
            "from": self._bot_user(),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "date": int(time.time()),
            "edit_date": int(time.time()),
        }
        if markup:
            message["reply_markup"] = markup
        return message


def _error(status: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": status, "description": description}


def _params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query.lstrip("?")))
    if body and content_type.startswith("application/json"):
        parsed = json.loads(body)
        if not isinstance(parsed, dict):
            raise ValueError("not an object")
        params.update(parsed)
    elif body:
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        for name in _OBJECT_FIELDS & set(form):
            form[name] = json.loads(form[name])
        for name in _ID_FIELDS & set(form):
            if re.fullmatch(r"-?\d+", form[name]):
                form[name] = int(form[name])  # as a JSON body would carry it
        params.update(form)
    return params


def _markup_problem(markup: Any) -> str | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        return "can't parse reply keyboard markup JSON object"
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            if not str(button.get("text") or "").strip():
                return "text buttons are unallowed in the inline keyboard"
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= 64:
                return "BUTTON_DATA_INVALID"
            if data is None and "url" not in button:
                return 'can\'t find field "callback_data"'
    return None


# -- incoming updates, as Telegram posts them to a webhook ---------------------------

_update_ids = itertools.count(100_000)


def _user(user_id: int) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": "Мария",
        "language_code": "ru",
    }


def _message(chat_id: int, from_id: int | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": next(_update_ids),
        "from": _user(from_id if from_id is not None else chat_id),
        "chat": {"id": chat_id, "type": "private", "first_name": "Мария"},
        "date": int(time.time()),
        **fields,
    }


def text_update(chat_id: int, text: str) -> dict[str, Any]:
    return {"update_id": next(_update_ids), "message": _message(chat_id, text=text)}


def contact_update(
    chat_id: int, phone: str, contact_user_id: int | None = None
) -> dict[str, Any]:
    """The client shares a contact: their own unless `contact_user_id` differs."""
    contact = {
        "phone_number": phone,
        "first_name": "Мария",
        "user_id": chat_id if contact_user_id is None else contact_user_id,
    }
    return {
        "update_id": next(_update_ids),
        "message": _message(chat_id, contact=contact),
    }


def callback_update(chat_id: int, message: dict[str, Any], data: str) -> dict[str, Any]:
    """The client presses the inline button with `data` under the bot's `message`."""
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": str(next(_update_ids)),
            "from": _user(chat_id),
            "message": message,
            "chat_instance": "-4242",
            "data": data,
        },
    }


def member_update(chat_id: int) -> dict[str, Any]:
    """The client blocks the bot: an update with no message."""
    return {
        "update_id": next(_update_ids),
        "my_chat_member": {
            "chat": {"id": chat_id, "type": "private"},
            "from": _user(chat_id),
            "date": int(time.time()),
            "old_chat_member": {
                "status": "member",
                "user": {"id": BOT_ID, "is_bot": True, "first_name": "Лаванда"},
            },
            "new_chat_member": {
                "status": "kicked",
                "until_date": 0,
                "user": {"id": BOT_ID, "is_bot": True, "first_name": "Лаванда"},
            },
        },
    }


def edited_update(chat_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "edited_message": {
            **_message(chat_id, text=text),
            "edit_date": int(time.time()),
        },
    }
