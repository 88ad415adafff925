"""Deals reach the fake portal as contacts, deals, stages and comments, exactly once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from crm_connector import SqlCRM
from crm_connector.bitrix24.backend import phone_forms
from crm_connector.outbox import Outbox
from crm_connector.sql import open_engine
from tests.crm_connector.bitrix24.conftest import drain, run, waiting_deals
from tests.crm_connector.helpers import at, booking
from tests.fakes.bitrix24_api import Fault


def deliver(make_worker) -> None:
    async def go() -> None:
        worker = make_worker()
        try:
            await drain(worker)
        finally:
            await worker.close()

    run(go())


def queued(db_url: str) -> list:
    return waiting_deals(db_url)


def only_deal(portal) -> dict:
    (deal,) = portal.deals.values()
    return deal


def test_a_booking_becomes_a_contact_and_a_deal(
    outbox_crm, make_worker, portal, db_url
):
    deal = outbox_crm.book(booking("k1", manager_id="irina"))

    deliver(make_worker)

    (contact,) = portal.contacts.values()
    assert contact["NAME"] == "Анна Петрова"
    assert [p["VALUE"] for p in contact["PHONE"]] == ["+79991234567"]
    remote = only_deal(portal)
    assert remote["TITLE"] == "Стрижка: запись 04.03.2030 15:00"
    assert remote["CONTACT_ID"] == str(contact["ID"])
    assert remote["STAGE_ID"] == "PREPARATION"
    assert remote["OPPORTUNITY"] == "2500.00"
    assert remote["CURRENCY_ID"] == "RUB"
    assert remote["ASSIGNED_BY_ID"] == "7"
    assert remote["SOURCE_ID"] == "TELEGRAM"
    assert remote["UF_CRM_BOOKING_AT"] == "2030-03-04T15:00:00+06:00"
    assert remote["UF_CRM_SERVICE"] == "Стрижка"
    assert remote["COMMENTS"] == (
        "Диалог: https://crm.lavanda.example/conversations/conv-1"
    )
    assert (remote["ORIGINATOR_ID"], remote["ORIGIN_ID"]) == (
        "booking-assistant",
        str(deal.id),
    )
    (comment,) = portal.comments
    assert comment["ENTITY_ID"] == str(remote["ID"])
    assert comment["COMMENT"] == (
        "Клиент записался через Telegram.\n"
        "Услуга: Стрижка, мастер: Ольга.\n"
        "Время: 04.03.2030 15:00, 60 минут.\n"
        "Стоимость: 2 500 ₽.\n"
        "Диалог: https://crm.lavanda.example/conversations/conv-1"
    )
    assert queued(db_url) == []


def test_an_existing_contact_is_reused_whatever_form_its_phone_has(
    outbox_crm, make_worker, portal
):
    known = portal.add_contact("Анна", "89991234567")
    outbox_crm.book(booking("k1"))

    deliver(make_worker)

    assert list(portal.contacts) == [known]
    assert only_deal(portal)["CONTACT_ID"] == str(known)
    assert portal.calls.by_method["crm.contact.add"] == 0


@pytest.mark.parametrize(
    ("phone", "forms"),
    [
        ("+79131234567", ["+79131234567", "79131234567", "89131234567"]),
        ("89131234567", ["+79131234567", "79131234567", "89131234567"]),
        ("+380441234567", ["+380441234567", "380441234567"]),
    ],
    ids=["e164", "eight", "foreign"],
)
def test_phone_forms(phone, forms):
    assert phone_forms(phone) == forms


def test_cancel_visit_and_move_follow_the_deal(outbox_crm, make_worker, portal):
    first = outbox_crm.book(booking("k1"))
    second = outbox_crm.book(booking("k2", starts_at=at(17), phone="+79990000002"))
    deliver(make_worker)

    outbox_crm.cancel(first.id)
    outbox_crm.mark(second.id, "attended", Decimal("2700"))
    deliver(make_worker)

    by_origin = {d["ORIGIN_ID"]: d for d in portal.deals.values()}
    assert by_origin[str(first.id)]["STAGE_ID"] == "APOLOGY"
    assert by_origin[str(second.id)]["STAGE_ID"] == "WON"
    assert by_origin[str(second.id)]["OPPORTUNITY"] == "2700.00"
    assert len(portal.comments) == 2


def test_a_moved_booking_updates_the_time_field(outbox_crm, make_worker, portal):
    deal = outbox_crm.book(booking("k1"))
    deliver(make_worker)

    outbox_crm.reschedule(deal.id, at(18), "olga")
    deliver(make_worker)

    assert only_deal(portal)["UF_CRM_BOOKING_AT"] == "2030-03-04T18:00:00+06:00"


def test_an_unchanged_deal_costs_no_update(outbox_crm, make_worker, portal):
    deal = outbox_crm.book(booking("k1"))
    deliver(make_worker)

    outbox_crm.assign(deal.id, "dmitry")  # not mapped to a Bitrix24 user
    deliver(make_worker)

    assert portal.calls.by_method["crm.deal.update"] == 0


def test_a_dropped_answer_after_the_create_makes_no_second_deal(
    outbox_crm, make_worker, portal, db_url
):
    deal = outbox_crm.book(booking("k1"))
    portal.faults.append(Fault("drop_after", "batch"))

    async def go() -> None:
        worker = make_worker(backoff_seconds=0.01)
        try:
            await worker.deliver_due()
            assert queued(db_url)[0].last_error.startswith("Bitrix24 batch failed")
            await asyncio.sleep(0.05)
            await drain(worker)
        finally:
            await worker.close()

    run(go())

    assert portal.deals_by_origin() == {str(deal.id): 1}
    assert portal.calls.by_method["crm.deal.add"] == 1
    assert portal.calls.by_method["crm.deal.list"] == 1
    assert len(portal.contacts) == 1 and len(portal.comments) == 1
    assert queued(db_url) == []


def test_a_timed_out_create_is_looked_up_only_once_bitrix24_is_done(
    outbox_crm, make_worker, portal, db_url
):
    deal = outbox_crm.book(booking("k1"))
    portal.faults.append(Fault("slow", "batch", seconds=0.8))

    async def go() -> float:
        worker = make_worker(timeout=0.3, settle_seconds=1.5, backoff_seconds=0.01)
        try:
            await worker.deliver_due()
            waits = queued(db_url)[0].next_attempt_at - datetime.now(timezone.utc)
            assert await worker.deliver_due() == 0  # not due before it settles
            await asyncio.sleep(1.6)
            await drain(worker)
            return waits.total_seconds()
        finally:
            await worker.close()

    waited = run(go())

    assert waited > 1.2
    assert portal.deals_by_origin() == {str(deal.id): 1}
    assert portal.calls.by_method["crm.deal.list"] == 1
    assert queued(db_url) == []


def test_bitrix24_down_keeps_the_delivery_queued_with_its_error(
    outbox_crm, make_worker, portal, db_url
):
    outbox_crm.book(booking("k1"))
    portal.down = True

    deliver(make_worker)

    (waiting,) = queued(db_url)
    assert waiting.attempts == 1
    assert "HTTP 500" in waiting.last_error
    assert "INTERNAL_SERVER_ERROR" in waiting.last_error
    assert portal.secret not in waiting.last_error

    portal.down = False
    engine = open_engine(db_url)
    assert Outbox(engine).retry_now() == 1
    engine.dispose()
    deliver(make_worker)
    assert queued(db_url) == [] and len(portal.deals) == 1


def test_a_stage_missing_in_the_portal_is_a_clear_error(
    outbox_crm, make_worker, portal, db_url
):
    portal.stages = [s for s in portal.stages if s[1] != "Пришёл"]
    outbox_crm.book(booking("k1"))

    deliver(make_worker)

    (waiting,) = queued(db_url)
    assert "no stage 'Пришёл' for attended in funnel 0" in waiting.last_error
    assert portal.deals == {}


def test_the_plain_sql_crm_queues_nothing(db_url):
    crm = SqlCRM(db_url)
    crm.cancel(crm.book(booking("k1")).id)
    crm.close()

    assert queued(db_url) == []
