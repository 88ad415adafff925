"""The endpoint Bitrix24's outbound webhook calls on ONCRMDEALUPDATE.

Answers, so a sender knows what happened: 200 stored (processed afterwards by the
worker), 400 not a deal update or no deal id, 401 no application token, 403 a wrong
one, 503 our database is down (Bitrix24 never retries: the event is then lost on
its side, and the log says so).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

from aiohttp import web

from crm_connector.base import CRMError

logger = logging.getLogger(__name__)

PATH = "/bitrix24/events"
EVENT = "ONCRMDEALUPDATE"
MAX_BODY = 64 * 1024


def make_app(token: str, store_event: Callable[[int], int]) -> web.Application:
    """An aiohttp app that checks the token and stores the deal id with ``store_event``."""
    expected = token.encode()

    async def receive(request: web.Request) -> web.Response:
        try:
            form = await request.post()
        except (ValueError, web.HTTPException):
            return _answer(400, "the body must be form-encoded")
        given = form.get("auth[application_token]")
        if not isinstance(given, str) or not given:
            return _answer(401, "no application token")
        if not hmac.compare_digest(given.encode(), expected):
            logger.warning("Bitrix24 event refused: wrong application token")
            return _answer(403, "wrong application token")
        if form.get("event") != EVENT:
            return _answer(400, f"only {EVENT} is handled")
        raw_id = form.get("data[FIELDS][ID]")
        if not isinstance(raw_id, str) or not raw_id.isdigit() or len(raw_id) > 12:
            return _answer(400, "no deal id in data[FIELDS][ID]")

        try:
            event_id = await asyncio.to_thread(store_event, int(raw_id))
        except CRMError as exc:
            logger.error("Bitrix24 event for deal %s lost: %s", raw_id, exc)
            return _answer(503, "storage unavailable")
        logger.info("Bitrix24 deal %s update stored as event %s", raw_id, event_id)
        return web.json_response({"status": "stored", "event": event_id})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(PATH, receive)
    return app


def _answer(status: int, text: str) -> web.Response:
    return web.json_response({"status": "refused", "error": text}, status=status)
