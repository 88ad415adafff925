"""A fake WhatsApp Cloud API (Graph API) on 127.0.0.1, and Meta-shaped signed webhooks.

`FakeGraphAPI` answers `POST /{version}/{phone_number_id}/messages` like Meta: Bearer
token checked, interactive limits enforced with Meta's error codes, 131047 for
recipients told to be outside the 24-hour window; every request is recorded.
The webhook helpers build notifications shaped exactly like Meta's and sign them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes import wait_for_count

BUSINESS_NUMBER = "15550001234"


@dataclass
class Recorded:
    """One request the fake received and what it answered."""

    path: str
    authorization: str | None
    body: Any
    status: int


def graph_error(
    code: int,
    message: str,
    details: str | None = None,
    error_type: str = "OAuthException",
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": error_type,
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(10),
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


def _invalid(details: str) -> tuple[int, dict[str, Any]]:
    return 400, graph_error(131009, "(#131009) Parameter value is not valid", details)


def _bad_param(details: str) -> tuple[int, dict[str, Any]]:
    return 400, graph_error(100, "(#100) Invalid parameter", details)


def _length(text: Any, low: int, high: int) -> bool:
    return isinstance(text, str) and low <= len(text) <= high


def check_message(body: Any) -> tuple[int, dict[str, Any]] | None:
    """Meta's answer to an invalid message body, or None when it is valid."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return _bad_param("The parameter messaging_product is required.")
    if not body.get("to"):
        return _bad_param("The parameter to is required.")
    kind = body.get("type", "text")
    if kind == "text":
        if not _length((body.get("text") or {}).get("body"), 1, 4096):
            return _invalid(
                "Message text length invalid. Min length: 1, Max length: 4096"
            )
        return None
    if kind == "template":
        template = body.get("template") or {}
        if not template.get("name") or not (template.get("language") or {}).get("code"):
            return _bad_param("template name and language code are required")
        return None
    if kind == "image":
        return None if (body.get("image") or {}).get("link") else _bad_param("image")
    if kind != "interactive":
        return _bad_param(f"Unsupported message type: {kind}")
    interactive = body.get("interactive") or {}
    action = interactive.get("action") or {}
    body_limit = 4096 if interactive.get("type") == "list" else 1024
    if not _length((interactive.get("body") or {}).get("text"), 1, body_limit):
        return _invalid(
            f"Body text length invalid. Min length: 1, Max length: {body_limit}"
        )
    if interactive.get("type") == "button":
        return _check_buttons(action.get("buttons"))
    if interactive.get("type") == "list":
        return _check_list(action)
    return _bad_param("interactive type must be button or list")


def _check_buttons(buttons: Any) -> tuple[int, dict[str, Any]] | None:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return _bad_param("buttons: array must contain between 1 and 3 elements")
    titles, ids = [], []
    for button in buttons:
        reply = (button or {}).get("reply") or {}
        if button.get("type") != "reply":
            return _bad_param("button type must be reply")
        if not _length(reply.get("title"), 1, 20):
            return _invalid(
                "Button title length invalid. Min length: 1, Max length: 20"
            )
        if not _length(reply.get("id"), 1, 256):
            return _invalid("Button id length invalid. Min length: 1, Max length: 256")
        titles.append(reply["title"])
        ids.append(reply["id"])
    if len(set(titles)) < len(titles):
        return _invalid("Button title must be unique")
    if len(set(ids)) < len(ids):
        return _invalid("Button id must be unique")
    return None


def _check_list(action: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    if not _length(action.get("button"), 1, 20):
        return _invalid("Button label length invalid. Min length: 1, Max length: 20")
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        return _bad_param("sections: array must contain between 1 and 10 elements")
    rows = [row for section in sections for row in (section or {}).get("rows") or []]
    if not 1 <= len(rows) <= 10:
        return _invalid("Total row count exceed max allowed count: 10")
    if len(sections) > 1 and not all(s.get("title") for s in sections):
        return _invalid("Section title is required when there is more than one section")
    for row in rows:
        if not _length(row.get("title"), 1, 24):
            return _invalid("Row title length invalid. Min length: 1, Max length: 24")
        if "description" in row and not _length(row["description"], 0, 72):
            return _invalid("Row description length invalid. Max length: 72")
        if not _length(row.get("id"), 1, 200):
            return _invalid("Row id length invalid. Min length: 1, Max length: 200")
    if len({row["id"] for row in rows}) < len(rows):
        return _invalid("Row id must be unique")
    return None


class FakeGraphAPI:
    """A real HTTP server in a background thread that speaks the Cloud API."""

    def __init__(
        self, token: str, phone_number_id: str, version: str = "v21.0"
    ) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.version = version
        self.requests: list[Recorded] = []
        self.outside_window: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGraphAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def delivered(self, wa_id: str | None = None) -> list[dict[str, Any]]:
        """The message bodies accepted (HTTP 200), optionally for one recipient."""
        with self._lock:
            return [
                r.body
                for r in self.requests
                if r.status == 200 and (wa_id is None or r.body.get("to") == wa_id)
            ]

    def wait_for(
        self, wa_id: str, count: int, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Wait until `count` messages reached `wa_id`; all of them so far."""
        return wait_for_count(
            lambda: self.delivered(wa_id), count, timeout, "messages to the client"
        )

    def answer(
        self, path: str, auth: str | None, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        expected = f"/{self.version}/{self.phone_number_id}/messages"
        if path != expected:
            return 400, graph_error(2500, f"Unknown path components: {path}")
        if auth != f"Bearer {self.token}":
            return 401, graph_error(
                190, "Invalid OAuth access token - Cannot parse access token"
            )
        try:
            body = json.loads(raw)
        except ValueError:
            return _bad_param("the body is not JSON")
        refused = check_message(body)
        if refused:
            return refused
        to = str(body["to"])
        if to in self.outside_window and body.get("type") != "template":
            return 400, graph_error(
                131047,
                "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed "
                "since the customer last replied to this number.",
            )
        message_id = f"wamid.FAKE{next(self._ids):08d}"
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": message_id}],
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization")
                status, answer = fake.answer(self.path, auth, raw)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with fake._lock:
                    fake.requests.append(Recorded(self.path, auth, body, status))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# -- webhooks as Meta sends them -------------------------------------------------------

_wamids = itertools.count(1)


def new_message_id() -> str:
    return f"wamid.HBgL{secrets.token_hex(12).upper()}{next(_wamids)}"


def notification(
    phone_number_id: str,
    *,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": BUSINESS_NUMBER,
            "phone_number_id": phone_number_id,
        },
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [{"value": value, "field": "messages"}],
            }
        ],
    }


def client_message(
    phone_number_id: str,
    wa_id: str,
    kind: str,
    content: dict[str, Any],
    *,
    message_id: str | None = None,
    sent_at: float | None = None,
    name: str = "Клиент",
) -> dict[str, Any]:
    message = {
        "from": wa_id,
        "id": message_id or new_message_id(),
        "timestamp": str(int(sent_at if sent_at is not None else time.time())),
        "type": kind,
        kind: content,
    }
    if kind in ("interactive", "button"):
        message["context"] = {"from": BUSINESS_NUMBER, "id": new_message_id()}
    return notification(
        phone_number_id,
        messages=[message],
        contacts=[{"profile": {"name": name}, "wa_id": wa_id}],
    )


def text_webhook(
    phone_number_id: str, wa_id: str, text: str, **kw: Any
) -> dict[str, Any]:
    return client_message(phone_number_id, wa_id, "text", {"body": text}, **kw)


def button_reply_webhook(
    phone_number_id: str, wa_id: str, reply_id: str, title: str, **kw: Any
) -> dict[str, Any]:
    content = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return client_message(phone_number_id, wa_id, "interactive", content, **kw)


def list_reply_webhook(
    phone_number_id: str, wa_id: str, reply_id: str, title: str, **kw: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {"id": reply_id, "title": title}
    content = {"type": "list_reply", "list_reply": row}
    return client_message(phone_number_id, wa_id, "interactive", content, **kw)


def template_button_webhook(
    phone_number_id: str, wa_id: str, text: str, payload: str, **kw: Any
) -> dict[str, Any]:
    content = {"text": text, "payload": payload}
    return client_message(phone_number_id, wa_id, "button", content, **kw)


FAILURES = {
    131026: ("Message undeliverable", "Unable to deliver message."),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
    ),
}


def status_webhook(
    phone_number_id: str, wa_id: str, status: str, error_code: int = 131026
) -> dict[str, Any]:
    """A delivery status of one of our messages; `failed` ones carry `error_code`."""
    entry: dict[str, Any] = {
        "id": new_message_id(),
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": wa_id,
    }
    if status == "failed":
        title, details = FAILURES[error_code]
        entry["errors"] = [
            {
                "code": error_code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
            }
        ]
    if status != "read":
        entry["conversation"] = {
            "id": secrets.token_hex(16),
            "origin": {"type": "service"},
        }
        entry["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "service",
        }
    return notification(phone_number_id, statuses=[entry])


def sign(body: bytes, app_secret: str) -> str:
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass
class WebhookPoster:
    """Posts webhooks to the bot as Meta does: raw JSON bytes, signed."""

    url: str
    app_secret: str
    sent: list[bytes] = field(default_factory=list)

    def post(
        self,
        payload: dict[str, Any] | bytes,
        *,
        signature: str | None = "auto",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        body = (
            payload
            if isinstance(payload, bytes)
            else json.dumps(payload, ensure_ascii=False).encode()
        )
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if signature == "auto":
            signature = sign(body, self.app_secret)
        if signature is not None:
            all_headers["X-Hub-Signature-256"] = signature
        self.sent.append(body)
        request = urllib.request.Request(self.url, data=body, headers=all_headers)
        return _call(request)

    def get(self, query: str) -> tuple[int, str]:
        return _call(urllib.request.Request(f"{self.url}?{query}"))


def _call(request: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
