"""Stage changes made in Bitrix24 come back as outcomes the KPI report counts."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from crm_connector.bitrix24.inbound import PATH
from crm_connector.bitrix24.store import Bitrix24Store
from crm_connector.bitrix24.worker import Worker
from crm_connector.sql import open_engine
from kpi_reports.engine import compute_report
from tests.conftest import OMSK
from tests.crm_connector.bitrix24.conftest import (
    APP_TOKEN,
    drain,
    inbound_events,
    run,
    wait_until,
    waiting_deals,
)
from tests.crm_connector.helpers import at, booking
from tests.kpi_reports.conftest import EventLog

LEAD_AT = datetime(2030, 3, 2, 11, 0, tzinfo=OMSK)


def chat_that_booked(log_url: str, deal_id: int, sender: str = "conv-1") -> None:
    """The conversation as the bot left it: a lead that booked the deal."""
    events = EventLog()
    events.session(sender, LEAD_AT)
    events.user(sender, LEAD_AT)
    events.bot(sender, LEAD_AT)
    events.slot(sender, LEAD_AT, "phone", "+79991234567")
    events.booking(sender, LEAD_AT, deal_id, at(15), 2500)
    events.write(log_url)


def week_report(log_url: str, profile) -> dict:
    return compute_report(log_url, profile, date(2030, 3, 1), date(2030, 3, 7))


async def serving(worker: Worker, scenario) -> None:
    """Run the worker's loop and endpoint while ``scenario`` acts, then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_until(lambda: _listening(worker), timeout=10)
        await scenario()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def _listening(worker: Worker) -> bool:
    port = worker.settings.inbound_port
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


@pytest.mark.parametrize(
    ("stage", "amount", "status", "visits", "revenue"),
    [
        ("WON", "3100.00", "attended", 1, 3100),
        ("LOSE", None, "no_show", 0, 0),
    ],
    ids=["visit-with-amount-paid", "no-show"],
)
def test_a_stage_change_in_bitrix24_reaches_the_kpi_report(
    outbox_crm,
    make_worker,
    portal,
    log_url,
    b24_profile,
    db_url,
    stage,
    amount,
    status,
    visits,
    revenue,
):
    deal = outbox_crm.book(booking("k1"))
    chat_that_booked(log_url, deal.id)
    assert week_report(log_url, b24_profile)["visits"] == 0
    worker = make_worker()

    async def scenario() -> None:
        await wait_until(lambda: _delivered(portal), timeout=10)
        (remote_id,) = portal.deals
        answer = await asyncio.to_thread(portal.move_deal, remote_id, stage, amount)
        assert answer == 200
        await wait_until(lambda: _settled(outbox_crm, deal.id, status), timeout=10)
        # The mark goes back out as a delivery; it must not loop or double.
        await wait_until(lambda: _no_waiting(db_url), timeout=10)

    run(serving(worker, scenario))

    report = week_report(log_url, b24_profile)
    assert report["visits"] == visits
    assert report["revenue"] == revenue
    assert report["no_shows"] == (1 if status == "no_show" else 0)
    assert outbox_crm.get_deal(deal.id).status == status
    if amount:
        assert outbox_crm.get_deal(deal.id).amount_paid == Decimal(amount)
    assert len(portal.deals) == 1
    assert len(portal.webhooks_sent) == 1


def test_the_same_stage_twice_counts_once(
    outbox_crm, make_worker, portal, log_url, b24_profile, db_url
):
    deal = outbox_crm.book(booking("k1"))
    chat_that_booked(log_url, deal.id)
    worker = make_worker()

    async def go() -> None:
        try:
            await drain(worker)
            (remote_id,) = portal.deals
            portal.deals[remote_id]["STAGE_ID"] = "WON"
            store = worker.store
            for _ in range(2):
                await asyncio.to_thread(store.add_inbound, remote_id)
                await worker.process_inbound()
        finally:
            await worker.close()

    run(go())

    events = inbound_events(db_url)
    assert [e.result for e in events] == [
        f"deal {deal.id}: attended recorded",
        f"deal {deal.id}: attended already recorded",
    ]
    assert week_report(log_url, b24_profile)["visits"] == 1


@pytest.mark.parametrize(
    ("form", "status"),
    [
        (
            {"event": "ONCRMDEALUPDATE", "data[FIELDS][ID]": "5"},
            401,
        ),
        (
            {
                "event": "ONCRMDEALUPDATE",
                "data[FIELDS][ID]": "5",
                "auth[application_token]": "forged",
            },
            403,
        ),
        (
            {
                "event": "ONCRMLEADADD",
                "data[FIELDS][ID]": "5",
                "auth[application_token]": APP_TOKEN,
            },
            400,
        ),
        (
            {
                "event": "ONCRMDEALUPDATE",
                "data[FIELDS][ID]": "5; DROP TABLE",
                "auth[application_token]": APP_TOKEN,
            },
            400,
        ),
        (
            {
                "event": "ONCRMDEALUPDATE",
                "data[FIELDS][ID]": "5",
                "auth[application_token]": APP_TOKEN,
            },
            200,
        ),
    ],
    ids=["no-token", "wrong-token", "other-event", "garbage-id", "genuine"],
)
def test_what_each_inbound_call_gets(make_worker, db_url, form, status):
    worker = make_worker()
    url = f"http://127.0.0.1:{worker.settings.inbound_port}{PATH}"

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.post(url, data=form)
        assert answer.status_code == status, answer.text

    run(serving(worker, scenario))

    stored = inbound_events(db_url)
    assert len(stored) == (1 if status == 200 else 0)


def test_an_unknown_deal_id_is_settled_not_retried(make_worker, db_url):
    worker = make_worker()

    async def go() -> None:
        try:
            await asyncio.to_thread(worker.store.add_inbound, 999)
            await worker.process_inbound()
        finally:
            await worker.close()

    run(go())

    (event,) = inbound_events(db_url)
    assert event.processed_at is not None
    assert event.result.startswith("not a deal of ours")


def test_bitrix24_down_keeps_the_event_for_later(make_worker, portal, db_url):
    worker = make_worker()
    portal.down = True

    async def go() -> None:
        try:
            await asyncio.to_thread(worker.store.add_inbound, 5)
            await worker.process_inbound()
        finally:
            await worker.close()

    run(go())

    (event,) = inbound_events(db_url)
    assert event.processed_at is None and event.attempts == 1
    assert "INTERNAL_SERVER_ERROR" in event.last_error


def test_our_database_down_answers_503(make_worker, tmp_path):
    worker = make_worker()
    broken = Bitrix24Store(open_engine(f"sqlite:///{tmp_path}/missing/dir/crm.db"))
    worker.store = broken
    url = f"http://127.0.0.1:{worker.settings.inbound_port}{PATH}"
    form = {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": "5",
        "auth[application_token]": APP_TOKEN,
    }

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.post(url, data=form)
        assert answer.status_code == 503
        assert answer.json() == {"status": "refused", "error": "storage unavailable"}

    run(serving(worker, scenario))


def _delivered(portal) -> bool:
    return bool(portal.deals) and bool(portal.comments)


def _settled(crm, deal_id: int, status: str) -> bool:
    return crm.get_deal(deal_id).status == status


def _no_waiting(db_url: str) -> bool:
    return not waiting_deals(db_url)
