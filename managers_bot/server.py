"""The managers' bot's webhook: a small aiohttp server that Telegram calls.

``POST /telegram/webhook`` accepts an update only with the secret Telegram was given
(header ``X-Telegram-Bot-Api-Secret-Token``), else 403; a body that is not an
update gets 400. ``GET /health`` says the server is up.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from managers_bot.service import ManagersBot

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_BOT = web.AppKey("managers_bot", ManagersBot)


def make_app(bot: ManagersBot, background: bool = True) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[_BOT] = bot
    app.router.add_post(bot.settings.webhook_path, webhook)
    app.router.add_get("/health", health)

    async def life(_: web.Application) -> AsyncIterator[None]:
        await bot.start(background=background)
        yield
        await bot.stop()

    app.cleanup_ctx.append(life)
    return app


async def webhook(request: web.Request) -> web.Response:
    bot = request.app[_BOT]
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), bot.settings.webhook_secret.encode()):
        logger.warning("A webhook call without the right secret was refused")
        return web.json_response({"error": "forbidden"}, status=403)
    try:
        payload = json.loads(await request.read())
        if not isinstance(payload, dict) or "update_id" not in payload:
            raise ValueError("not an update")
    except ValueError:
        return web.json_response({"error": "not a Telegram update"}, status=400)
    try:
        await bot.process(payload)
    except (KeyError, TypeError, ValueError):
        # An update without the fields its kind needs (a forged or broken body).
        logger.warning("A malformed update was refused")
        return web.json_response({"error": "malformed update"}, status=400)
    return web.json_response({"ok": True})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
