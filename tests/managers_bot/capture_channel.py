"""A client channel for tests: messages in by a webhook, replies out to a recorder.

Rasa loads it from a test credentials file (``tests.managers_bot.capture_channel.
CaptureInput:``); ``CAPTURE_URL`` is where its output channel posts each message, so
a test sees what a client of a real messenger would receive, including messages sent
through Rasa's API with ``output_channel=latest``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse


class CaptureOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return "capture"

    def __init__(self, url: str) -> None:
        self.url = url

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await session.post(
                self.url, json={"recipient_id": recipient_id, "text": text}
            )


class CaptureInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "capture"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(os.environ.get("CAPTURE_URL", ""))

    def __init__(self, url: str) -> None:
        self.url = url

    def get_output_channel(self) -> OutputChannel:
        return CaptureOutput(self.url)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        hook = Blueprint("capture_webhook", __name__)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.json
            await on_new_message(
                UserMessage(
                    body["message"],
                    self.get_output_channel(),
                    body["sender"],
                    input_channel=self.name(),
                )
            )
            return response.json({"ok": True})

        return hook
