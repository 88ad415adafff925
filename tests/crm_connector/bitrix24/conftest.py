"""A fake portal, a profile that mirrors to it, and a worker talking to both."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine

from business.profile import BusinessProfile, load_profile
from conversation_log import ConversationLog
from crm_connector import SqlCRM
from crm_connector.bitrix24.client import Bitrix24Client, RetryPolicy
from crm_connector.bitrix24.store import Bitrix24Store, InboundEvent
from crm_connector.bitrix24.worker import Worker
from crm_connector.outbox import Outbox, QueuedDeal
from crm_connector.sql import open_engine
from tests.conftest import DEMO_PROFILE
from tests.fakes.bitrix24_api import FakeBitrix24
from tests.kpi_reports.conftest import rasa_events_table

APP_TOKEN = "app-token-123"
FAST_RETRY = RetryPolicy(attempts=4, backoff=0.02, max_backoff=0.1, max_reset_wait=3)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def crm_section(port: int, per_second: float = 200.0, extra: str = "") -> str:
    return f"""
crm:
  backend: bitrix24
  bitrix24:
    users: {{irina: 7}}
    sources: {{telegram: TELEGRAM}}
    conversation_url: "https://crm.lavanda.example/conversations/{{id}}"
    inbound: {{host: 127.0.0.1, port: {port}}}
    rate: {{burst: 50, per_second: {per_second}}}
    timeout_seconds: 3
{extra}"""


@pytest.fixture
def inbound_port() -> int:
    return free_port()


@pytest.fixture
def profile_path(tmp_path: Path, inbound_port: int) -> Path:
    path = tmp_path / "business.yml"
    path.write_text(
        DEMO_PROFILE.read_text(encoding="utf-8") + crm_section(inbound_port),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def b24_profile(profile_path: Path) -> BusinessProfile:
    return load_profile(profile_path)


@pytest.fixture
def portal(inbound_port: int) -> Iterator[FakeBitrix24]:
    outbound = f"http://127.0.0.1:{inbound_port}/bitrix24/events"
    with FakeBitrix24(
        outbound_url=outbound, app_token=APP_TOKEN, per_second=200
    ) as fake:
        yield fake


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    """An empty tracker store (Rasa's events table) in its own SQLite file."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = create_engine(url)
    metadata = MetaData()
    rasa_events_table(metadata)
    metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def outbox_crm(db_url: str) -> Iterator[SqlCRM]:
    crm = SqlCRM(db_url, outbox=True)
    yield crm
    crm.close()


@pytest.fixture
def make_worker(
    db_url: str, log_url: str, b24_profile: BusinessProfile, portal: FakeBitrix24
) -> Callable[..., Worker]:
    def build(**changes: Any) -> Worker:
        client = Bitrix24Client(
            portal.webhook_url,
            timeout=changes.pop("timeout", 3.0),
            burst=50,
            per_second=200,
            retry=FAST_RETRY,
        )
        return Worker(
            crm_url=db_url,
            log_url=log_url,
            profile=changes.pop("profile", b24_profile),
            client=client,
            app_token=changes.pop("app_token", APP_TOKEN),
            poll_seconds=0.05,
            **changes,
        )

    return build


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(_bounded(coro))


async def _bounded(coro: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(coro, 60)


async def drain(worker: Worker, rounds: int = 20) -> None:
    """Deliver until nothing is due (failed deliveries wait for their backoff)."""
    for _ in range(rounds):
        if not await worker.deliver_due():
            return


def open_log(url: str) -> ConversationLog:
    return ConversationLog(url)


async def wait_until(condition: Callable[[], Any], timeout: float) -> None:
    """Poll ``condition`` (plain or async) until it holds, or fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still false after {timeout} s: {condition}")
        await asyncio.sleep(0.05)


def inbound_events(db_url: str) -> list[InboundEvent]:
    engine = open_engine(db_url)
    try:
        return Bitrix24Store(engine).inbound()
    finally:
        engine.dispose()


def waiting_deals(db_url: str) -> list[QueuedDeal]:
    engine = open_engine(db_url)
    try:
        return Outbox(engine).queued()
    finally:
        engine.dispose()
