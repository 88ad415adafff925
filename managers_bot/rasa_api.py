"""The calls the managers' bot makes to Rasa's HTTP API (``rasa run --enable-api``).

Pausing a conversation and giving it back are plain ``pause`` / ``resume`` events. A
manager's message is appended as a ``bot`` event with ``execute_side_effects``, which
makes Rasa send it through the client's own channel (``output_channel=latest``) even
while the conversation is paused; an intent triggered through ``trigger_intent``
would run no action in a paused conversation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx

from managers_bot.errors import RasaApiError

logger = logging.getLogger(__name__)


class RasaApi:
    def __init__(self, base_url: str, token: str | None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def append(
        self, conversation_id: str, events: list[dict[str, Any]], deliver: bool = False
    ) -> None:
        params = {"output_channel": "latest"}
        if deliver:
            params["execute_side_effects"] = "true"
        if self.token:
            params["token"] = self.token
        url = f"{self.base_url}/conversations/{conversation_id}/tracker/events"
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, params=params, json=events)
        except httpx.HTTPError as error:
            raise RasaApiError(
                f"Rasa did not answer ({type(error).__name__})"
            ) from error
        if response.status_code != 200:
            raise RasaApiError(f"Rasa answered HTTP {response.status_code}")

    async def pause(self, conversation_id: str) -> None:
        await self.append(
            conversation_id, [{"event": "pause", "timestamp": time.time()}]
        )

    async def resume(self, conversation_id: str) -> None:
        await self.append(
            conversation_id, [{"event": "resume", "timestamp": time.time()}]
        )

    async def say(
        self,
        conversation_id: str,
        text: str,
        slots: Sequence[tuple[str, Any]] = (),
    ) -> None:
        """Send the manager's text to the client and log it as the bot's message."""
        stamp = time.time()
        events: list[dict[str, Any]] = [
            {
                "event": "bot",
                "timestamp": stamp,
                "text": text,
                "metadata": {"from_manager": True},
            },
        ]
        events += [
            {"event": "slot", "timestamp": stamp, "name": name, "value": value}
            for name, value in slots
        ]
        await self.append(conversation_id, events, deliver=True)
