"""The managers' bot's settings, read from environment variables only."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass

from managers_bot.errors import SettingsError

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"


@dataclass(frozen=True)
class Settings:
    token: str
    chat_id: int
    api_url: str = DEFAULT_API_URL
    webhook_secret: str = ""
    webhook_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 5006
    db_url: str = "sqlite:///var/crm.db"
    tracker_url: str = "sqlite:///var/tracker.db"
    crm_url: str = "sqlite:///var/crm.db"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str | None = None
    poll_seconds: float = 2.0
    timeout_seconds: float = 10.0

    @property
    def webhook_path(self) -> str:
        return "/telegram/webhook"


def _secret_from(token: str) -> str:
    # Stable across restarts (Telegram keeps the one given to setWebhook) and
    # unguessable without the token; an explicit MANAGERS_BOT_WEBHOOK_SECRET wins.
    digest = hmac.new(token.encode(), b"managers-bot-webhook", hashlib.sha256)
    return digest.hexdigest()[:48]


def from_env(environ: dict[str, str] | None = None) -> Settings | None:
    """The settings, or None when MANAGERS_BOT_TOKEN is unset (the bot is off)."""
    env = os.environ if environ is None else environ
    token = env.get("MANAGERS_BOT_TOKEN", "").strip()
    if not token:
        return None
    raw_chat = env.get("MANAGERS_BOT_CHAT_ID", "").strip()
    try:
        chat_id = int(raw_chat)
    except ValueError:
        raise SettingsError(
            "MANAGERS_BOT_CHAT_ID: the managers' chat id (a whole number) is required"
        ) from None
    crm_url = env.get("CRM_DB_URL") or "sqlite:///var/crm.db"
    try:
        port = int(env.get("MANAGERS_BOT_PORT") or 5006)
        poll = float(env.get("MANAGERS_BOT_POLL_SECONDS") or 2.0)
    except ValueError:
        raise SettingsError(
            "MANAGERS_BOT_PORT and MANAGERS_BOT_POLL_SECONDS must be numbers"
        ) from None
    return Settings(
        token=token,
        chat_id=chat_id,
        api_url=(env.get("MANAGERS_BOT_API_URL") or DEFAULT_API_URL).rstrip("/"),
        webhook_secret=env.get("MANAGERS_BOT_WEBHOOK_SECRET") or _secret_from(token),
        webhook_url=env.get("MANAGERS_BOT_WEBHOOK_URL") or None,
        host=env.get("MANAGERS_BOT_HOST") or "127.0.0.1",
        port=port,
        db_url=env.get("MANAGERS_BOT_DB_URL") or crm_url,
        tracker_url=env.get("TRACKER_STORE_URL") or "sqlite:///var/tracker.db",
        crm_url=crm_url,
        rasa_url=(env.get("RASA_URL") or "http://127.0.0.1:5005").rstrip("/"),
        rasa_token=env.get("RASA_API_TOKEN") or None,
        poll_seconds=max(poll, 0.1),
    )
