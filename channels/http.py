"""An HTTP client for the event loop that is running, shared by the channels."""

from __future__ import annotations

import asyncio

import httpx


class LoopClient:
    """Gives the ``httpx.AsyncClient`` of the running event loop, made again in a new
    loop.

    Rasa builds its channels before Sanic's serving loop runs; a client made in an
    earlier loop fails later with "Event loop is closed" (the fault of Rasa's own
    Telegram channel). HTTPS_PROXY and NO_PROXY are honoured.
    """

    def __init__(self, timeout: httpx.Timeout) -> None:
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=self._timeout)
            self._loop = loop
        return self._client

    async def close(self) -> None:
        """Close the client if it belongs to this loop; forget it either way."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
