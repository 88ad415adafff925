"""``python -m managers_bot serve``: run the managers' bot beside Rasa.

Without ``MANAGERS_BOT_TOKEN`` the bot is off: it says so in one log line and exits 0,
so that ``make run`` works with no secrets. Every other problem (a broken profile, a
missing chat id) is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

from business.profile import ProfileError, load_profile
from managers_bot.errors import ManagersBotError
from managers_bot.server import make_app
from managers_bot.service import ManagersBot
from managers_bot.settings import from_env

logger = logging.getLogger("managers_bot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m managers_bot")
    parser.add_argument("command", choices=("serve",))
    parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO, and the Bot API URL holds the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = from_env()
        if settings is None:
            logger.info("The managers' bot is off: MANAGERS_BOT_TOKEN is not set")
            return 0
        bot = ManagersBot(settings, load_profile())
    except (ProfileError, ManagersBotError) as error:
        print(f"managers_bot: error: {error}", file=sys.stderr)
        return 1
    web.run_app(
        make_app(bot),
        host=settings.host,
        port=settings.port,
        print=None,
        handle_signals=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
