"""The worker as a real process: faults, a kill in mid-run, a restart, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from crm_connector import CRMError, SqlCRM
from crm_connector.bitrix24.worker import SingleWorkerLock
from crm_connector.cli import main
from crm_connector.sql import open_engine
from tests.conftest import DEMO_PROFILE, ROOT
from tests.crm_connector.bitrix24.conftest import crm_section, waiting_deals
from tests.crm_connector.helpers import at, booking
from tests.fakes.bitrix24_api import Fault

BOOKINGS = 200
FAULT_RATE = 0.3


@pytest.fixture
def fast_profile(tmp_path: Path, inbound_port: int) -> Path:
    """The demo profile mirroring to the fake at its scaled rate, retrying quickly."""
    path = tmp_path / "fast.yml"
    section = crm_section(inbound_port) + "    retry_backoff_seconds: 0.01\n"
    path.write_text(DEMO_PROFILE.read_text(encoding="utf-8") + section, "utf-8")
    return path


def worker_env(profile: Path, db_url: str, log_url: str, webhook: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITRIX24_")}
    env.update(
        BUSINESS_PROFILE=str(profile),
        CRM_DB_URL=db_url,
        TRACKER_STORE_URL=log_url,
        BITRIX24_WEBHOOK_URL=webhook,
        PYTHONPATH=str(ROOT),
    )
    return env


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "crm_connector", "worker", "--poll", "0.05"]
        + ["--backoff", "0.05"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout} s")
        time.sleep(0.1)


def book_many(db_url: str, count: int) -> list[int]:
    crm = SqlCRM(db_url, outbox=True)
    try:
        return [
            crm.book(
                booking(
                    f"k{n}",
                    conversation_id=f"conv-{n}",
                    phone=f"+7999{n:07d}",
                    starts_at=at(9, days=n // 10) + timedelta(hours=n % 10),
                )
            ).id
            for n in range(count)
        ]
    finally:
        crm.close()


def test_200_bookings_under_faults_and_a_killed_worker_make_200_deals(
    db_url, log_url, portal, fast_profile, tmp_path
):
    ids = book_many(db_url, BOOKINGS)
    portal.fault_rate = FAULT_RATE
    portal.fault_kinds = ("error500", "limit503", "drop", "drop_after")
    env = worker_env(fast_profile, db_url, log_url, portal.webhook_url)
    log = tmp_path / "worker.log"

    first = start_worker(env, log)
    try:
        wait_for(lambda: len(portal.deals) >= BOOKINGS // 3, 40, "a third delivered")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert len(portal.deals) < BOOKINGS, "the kill came too late to test anything"

    second = start_worker(env, log)
    try:
        wait_for(lambda: not waiting_deals(db_url), 60, "the queue drained")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(15)

    origins = portal.deals_by_origin()
    assert sorted(origins) == sorted(str(i) for i in ids)
    assert set(origins.values()) == {1}, "a deal was created twice"
    assert len(portal.contacts) == BOOKINGS
    comments = Counter(str(c["ENTITY_ID"]) for c in portal.comments)
    assert sorted(comments) == sorted(str(d) for d in portal.deals)
    injected = portal.calls.injected
    assert all(injected[kind] > 0 for kind in portal.fault_kinds), injected
    text = log.read_text(encoding="utf-8")
    assert portal.secret not in text
    assert "+7999" not in text


def test_the_worker_without_a_webhook_url_says_so_and_exits(
    db_url, log_url, fast_profile, tmp_path
):
    env = worker_env(fast_profile, db_url, log_url, "")
    del env["BITRIX24_WEBHOOK_URL"]

    done = subprocess.run(
        [sys.executable, "-m", "crm_connector", "worker", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0
    assert "BITRIX24_WEBHOOK_URL is not set" in done.stderr


def test_queue_shows_failed_deliveries_and_retry_sends_them(
    db_url, log_url, portal, fast_profile, monkeypatch, capsys
):
    for name, value in worker_env(
        fast_profile, db_url, log_url, portal.webhook_url
    ).items():
        monkeypatch.setenv(name, value)
    deal_id = book_many(db_url, 1)[0]
    portal.faults.extend(
        Fault("error500", "crm.duplicate.findbycomm") for _ in range(9)
    )

    def cli(*args: str) -> str:
        assert main(list(args)) == 0
        return capsys.readouterr().out

    sent = cli("worker", "--once")
    queue = json.loads(cli("queue", "--format", "json"))
    table = cli("queue")

    assert "Отправлено: 0 сделок, не удалось: 1." in sent
    (waiting,) = queue["deliveries"]
    assert waiting["deal_id"] == deal_id and waiting["changes"] == ["book"]
    assert waiting["attempts"] == 1
    assert "INTERNAL_SERVER_ERROR" in waiting["last_error"]
    assert "Ждут отправки в Битрикс24: 1 сделка." in table

    portal.faults.clear()
    retried = cli("retry")
    again = cli("worker", "--once")
    empty = cli("queue")

    assert "Снова в работе: 1 сделка, 0 событий." in retried
    assert "Отправлено: 1 сделка, не удалось: 0." in again
    assert empty.strip() == "Очередь в Битрикс24 пуста."
    assert portal.deals_by_origin() == {str(deal_id): 1}


def test_a_second_worker_on_the_same_database_refuses_to_start(db_url):
    first, second = (SingleWorkerLock(open_engine(db_url)) for _ in range(2))
    first.acquire()
    try:
        with pytest.raises(CRMError, match="another Bitrix24 worker is running"):
            second.acquire()
    finally:
        first.release()

    second.acquire()
    second.release()
