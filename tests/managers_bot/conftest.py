"""The managers' bot in a thread of its own, a fake Bot API, a CRM and a lead's log."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from business.profile import BusinessProfile, OwnerReport, load_profile
from conversation_log import ConversationLog
from crm_connector import BookingRequest, SqlCRM
from crm_connector.outcomes import booking_value
from managers_bot.server import make_app
from managers_bot.service import ManagersBot
from managers_bot.settings import Settings
from tests.conftest import DEMO_PROFILE, OMSK
from tests.e2e.harness import free_port
from tests.fakes.telegram_bot_api import FakeTelegramBotApi
from tests.kpi_reports.conftest import rasa_events_table

TOKEN = "123456:TEST-managers-bot-token"
MANAGERS_CHAT = -1002000000001
OWNER_CHAT = 900000001
IRINA, DMITRY, STRANGER = 700000001, 700000002, 700000999
SECRET = "s3cret-webhook-token"


class Clock:
    """Unix seconds that a test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()


@pytest.fixture()
def fake_api() -> Iterator[FakeTelegramBotApi]:
    api = FakeTelegramBotApi(TOKEN).start()
    yield api
    api.stop()


@pytest.fixture()
def stores(tmp_path: Path) -> dict[str, str]:
    """A tracker store with Rasa's events table, and a CRM, both SQLite files."""
    tracker = f"sqlite:///{tmp_path / 'tracker.db'}"
    from sqlalchemy import MetaData, create_engine

    engine = create_engine(tracker, future=True)
    metadata = MetaData()
    rasa_events_table(metadata)
    metadata.create_all(engine)
    engine.dispose()
    return {"tracker": tracker, "crm": f"sqlite:///{tmp_path / 'crm.db'}"}


def demo_profile(owner_chat: int | None = OWNER_CHAT) -> BusinessProfile:
    profile = load_profile(DEMO_PROFILE)
    schedule = OwnerReport(
        weekday=0, at=datetime(2026, 1, 1, 9, 0).time(), chat_id=owner_chat
    )
    return replace(
        profile, managers_bot=replace(profile.managers_bot, owner_report=schedule)
    )


@dataclass
class Running:
    """One managers' bot serving its webhook from a background event loop."""

    bot: ManagersBot
    port: int
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runner: web.AppRunner
    update_ids: Any = field(default_factory=lambda: iter(range(1, 10**6)))

    def run(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def tick(self) -> None:
        self.run(self.bot.tick())

    def post(
        self,
        update: dict[str, Any],
        secret: str | None = SECRET,
        raw: bytes | None = None,
    ) -> int:
        body = (
            raw
            if raw is not None
            else json.dumps({"update_id": next(self.update_ids), **update}).encode()
        )
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/telegram/webhook", data=body, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def tap(
        self, user_id: int, data: str, message_id: int, chat_id: int = MANAGERS_CHAT
    ) -> int:
        return self.post(
            {
                "callback_query": {
                    "id": f"cb{next(self.update_ids)}",
                    "from": _user(user_id),
                    "chat_instance": "ci-1",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": 1,
                        "chat": {
                            "id": chat_id,
                            "type": "supergroup",
                            "title": "Менеджеры",
                        },
                        "text": "карточка",
                    },
                }
            }
        )

    def write(
        self,
        user_id: int,
        text: str,
        reply_to: int | None = None,
        chat_id: int = MANAGERS_CHAT,
    ) -> int:
        message: dict[str, Any] = {
            "message_id": next(self.update_ids) + 50000,
            "date": 1,
            "chat": {"id": chat_id, "type": "supergroup", "title": "Менеджеры"},
            "from": _user(user_id),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(command)}
            ]
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "date": 1,
                "chat": message["chat"],
                "text": "карточка",
            }
        return self.post({"message": message})

    def stop(self) -> None:
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"}


def settings_for(
    api: FakeTelegramBotApi,
    stores: dict[str, str],
    rasa_url: str = "http://127.0.0.1:9",
    rasa_token: str | None = None,
) -> Settings:
    return Settings(
        token=TOKEN,
        chat_id=MANAGERS_CHAT,
        api_url=api.url,
        webhook_secret=SECRET,
        webhook_url="https://bot.example/telegram/webhook",
        db_url=stores["crm"],
        tracker_url=stores["tracker"],
        crm_url=stores["crm"],
        rasa_url=rasa_url,
        rasa_token=rasa_token,
        poll_seconds=0.2,
        timeout_seconds=5,
    )


def serve(settings: Settings, profile: BusinessProfile, clock: Clock) -> Running:
    """Start the bot and its webhook; ticks are the test's to call."""
    bot = ManagersBot(settings, profile, clock=clock)
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def setup() -> web.AppRunner:
        runner = web.AppRunner(make_app(bot, background=False))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        started.set()
        return runner

    runner = asyncio.run_coroutine_threadsafe(setup(), loop).result(30)
    return Running(bot, port, loop, thread, runner)


@pytest.fixture()
def clock() -> Clock:
    return Clock(datetime(2026, 12, 3, 10, 0, tzinfo=OMSK))


@pytest.fixture()
def running(fake_api, stores, clock) -> Iterator[Running]:
    bot = serve(settings_for(fake_api, stores), demo_profile(owner_chat=None), clock)
    yield bot
    bot.stop()


class Lead:
    """A client's conversation written the way Rasa and the booking action write it."""

    def __init__(self, stores: dict[str, str], sender: str) -> None:
        self.sender = sender
        self.log = ConversationLog(stores["tracker"])
        self.crm_url = stores["crm"]
        self.engine_url = stores["tracker"]

    def event(
        self,
        type_name: str,
        data: dict[str, Any],
        at: float,
        intent: str | None = None,
        action: str | None = None,
    ) -> None:
        from sqlalchemy import create_engine

        from conversation_log.append import EVENTS

        engine = create_engine(self.engine_url, future=True)
        with engine.begin() as connection:
            connection.execute(
                EVENTS.insert().values(
                    sender_id=self.sender,
                    type_name=type_name,
                    timestamp=at,
                    intent_name=intent,
                    action_name=action,
                    data=json.dumps(
                        {"event": type_name, "timestamp": at, **data},
                        ensure_ascii=False,
                    ),
                )
            )
        engine.dispose()

    def says(
        self, text: str, at: float, intent: str = "book", channel: str = "telegram"
    ) -> None:
        self.event(
            "user",
            {
                "text": text,
                "input_channel": channel,
                "parse_data": {"intent": {"name": intent}},
            },
            at,
            intent=intent,
        )

    def bot_says(self, text: str, at: float) -> None:
        self.event("bot", {"text": text}, at)

    def books(
        self,
        at: float,
        starts_at: datetime,
        name: str = "Мария",
        phone: str = "+79137654321",
    ) -> int:
        crm = SqlCRM(self.crm_url)
        deal = crm.book(
            BookingRequest(
                idempotency_key=f"{self.sender}-{at}",
                conversation_id=self.sender,
                channel="telegram",
                contact_name=name,
                phone=phone,
                service_id="manicure",
                service_name="Маникюр",
                staff_id="anna",
                starts_at=starts_at,
                duration_minutes=90,
                price=Decimal(1500),
                manager_id="irina",
            )
        )
        crm.close()
        self.log.append_slots(
            self.sender,
            [
                ("client_name", name),
                ("phone", phone),
                ("booking", booking_value(deal, OMSK)),
            ],
            at=at,
        )
        return deal.id
