"""Behaviour of the SQL CRM on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg2
import pytest
from sqlalchemy.exc import OperationalError

from crm_connector import (
    DEFAULT_DB_URL,
    CRMError,
    CRMUnavailableError,
    DealNotFoundError,
    InvalidTransitionError,
    SlotTakenError,
    SqlCRM,
    create_crm,
)
from tests.crm_connector.helpers import OMSK, at, booking


def test_book_creates_contact_and_deal(crm: SqlCRM) -> None:
    consent = at(14, 50)

    deal = crm.book(booking("k1", consent_at=consent, manager_id="mgr-1"))

    assert deal.status == "booked"
    assert (deal.contact_name, deal.phone) == ("Анна Петрова", "+79991234567")
    assert (deal.staff_id, deal.service_id, deal.service_name) == (
        "olga",
        "haircut",
        "Стрижка",
    )
    assert deal.starts_at == at(15)
    assert deal.starts_at.utcoffset() == timedelta(0)
    assert deal.ends_at == at(16)
    assert deal.price == Decimal("2500.00")
    assert deal.manager_id == "mgr-1"
    assert deal.created_at.tzinfo is not None
    assert crm.get_deal(deal.id) == deal


def test_same_phone_reuses_contact_and_takes_the_new_name(crm: SqlCRM) -> None:
    first = crm.book(booking("k1"))

    second = crm.book(booking("k2", contact_name="Анна", starts_at=at(17)))
    third = crm.book(booking("k3", contact_name="  ", starts_at=at(18)))

    assert first.contact_id == second.contact_id == third.contact_id
    assert second.contact_name == third.contact_name == "Анна"
    assert crm.get_deal(first.id).contact_name == "Анна"


def test_replayed_key_returns_the_first_deal(crm: SqlCRM) -> None:
    deal = crm.book(booking("k1"))

    replay = crm.book(booking("k1", starts_at=at(18), phone="+79990000000"))

    assert replay == deal
    assert crm.deals() == [deal]


def test_replayed_key_returns_the_deal_as_it_is_now(crm: SqlCRM) -> None:
    deal = crm.book(booking("k1"))
    moved = crm.reschedule(deal.id, at(18), "olga")
    assert crm.book(booking("k1")) == moved

    cancelled = crm.cancel(deal.id)

    assert crm.book(booking("k1")) == cancelled
    assert len(crm.deals()) == 1


@pytest.mark.parametrize(
    ("starts_at", "duration"),
    [
        pytest.param(at(15), 60, id="same-time"),
        pytest.param(at(15, 30), 60, id="starts-inside"),
        pytest.param(at(14, 30), 60, id="ends-inside"),
        pytest.param(at(14), 180, id="covers"),
        pytest.param(at(15, 15), 15, id="within"),
    ],
)
def test_overlap_with_same_staff_is_refused(
    crm: SqlCRM, starts_at: datetime, duration: int
) -> None:
    crm.book(booking("k1"))

    with pytest.raises(SlotTakenError):
        crm.book(booking("k2", starts_at=starts_at, duration_minutes=duration))

    assert len(crm.deals()) == 1


@pytest.mark.parametrize(
    ("staff_id", "starts_at"),
    [
        pytest.param("irina", at(15), id="other-staff"),
        pytest.param("olga", at(16), id="touching-after"),
        pytest.param("olga", at(14), id="touching-before"),
        pytest.param("olga", at(15, days=1), id="next-day"),
    ],
)
def test_other_staff_or_touching_time_is_free(
    crm: SqlCRM, staff_id: str, starts_at: datetime
) -> None:
    crm.book(booking("k1"))

    deal = crm.book(booking("k2", staff_id=staff_id, starts_at=starts_at))

    assert deal.status == "booked"
    assert len(crm.deals()) == 2


def test_cancelled_deal_frees_its_time(crm: SqlCRM) -> None:
    crm.cancel(crm.book(booking("k1")).id)

    deal = crm.book(booking("k2"))

    assert deal.status == "booked"


def test_reschedule_moves_the_deal(crm: SqlCRM) -> None:
    deal = crm.book(booking("k1"))

    moved = crm.reschedule(deal.id, at(11), "irina")

    assert (moved.id, moved.staff_id, moved.starts_at) == (deal.id, "irina", at(11))
    assert moved.duration_minutes == 60 and moved.ends_at == at(12)
    assert moved.updated_at >= deal.updated_at
    assert crm.get_deal(deal.id) == moved
    assert crm.book(booking("k2")).starts_at == at(15)


def test_reschedule_may_overlap_its_own_old_time(crm: SqlCRM) -> None:
    deal = crm.book(booking("k1"))

    moved = crm.reschedule(deal.id, at(15, 30), "olga")

    assert moved.starts_at == at(15, 30)


def test_reschedule_into_a_busy_time_is_refused(crm: SqlCRM) -> None:
    crm.book(booking("k1"))
    other = crm.book(booking("k2", starts_at=at(10)))

    with pytest.raises(SlotTakenError):
        crm.reschedule(other.id, at(15, 30), "olga")

    assert crm.get_deal(other.id) == other


@pytest.mark.parametrize("status", ["cancelled", "attended", "no_show"])
def test_only_booked_deals_can_be_rescheduled(
    crm: SqlCRM, db_url: str, status: str
) -> None:
    deal = crm.book(booking("k1"))
    _set_status(db_url, deal.id, status)

    with pytest.raises(InvalidTransitionError):
        crm.reschedule(deal.id, at(18), "olga")

    assert crm.get_deal(deal.id).starts_at == at(15)


def test_cancel_is_idempotent(crm: SqlCRM) -> None:
    deal = crm.book(booking("k1"))

    cancelled = crm.cancel(deal.id)
    again = crm.cancel(deal.id)

    assert cancelled.status == "cancelled"
    assert again == cancelled


def test_visited_deal_cannot_be_cancelled(crm: SqlCRM, db_url: str) -> None:
    deal = crm.book(booking("k1"))
    _set_status(db_url, deal.id, "attended")

    with pytest.raises(InvalidTransitionError):
        crm.cancel(deal.id)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda crm: crm.get_deal(999), id="get_deal"),
        pytest.param(lambda crm: crm.cancel(999), id="cancel"),
        pytest.param(lambda crm: crm.reschedule(999, at(9), "olga"), id="reschedule"),
    ],
)
def test_unknown_deal_is_not_found(crm: SqlCRM, call) -> None:
    with pytest.raises(DealNotFoundError):
        call(crm)


def test_busy_intervals(crm: SqlCRM) -> None:
    crm.book(booking("late", starts_at=at(17), duration_minutes=30))
    crm.book(booking("early", starts_at=at(9, 30), duration_minutes=90))
    crm.book(booking("irina", staff_id="irina", starts_at=at(12)))
    crm.cancel(crm.book(booking("gone", starts_at=at(13))).id)
    crm.book(booking("tomorrow", starts_at=at(12, days=1)))

    busy = crm.busy_intervals(at(10), at(20))
    chosen = crm.busy_intervals(at(10), at(20), staff_ids=["olga", "marina"])

    assert busy == {
        "olga": [(at(9, 30), at(11)), (at(17), at(17, 30))],
        "irina": [(at(12), at(13))],
    }
    assert chosen == {"olga": busy["olga"], "marina": []}
    assert all(s.utcoffset() == timedelta(0) for s, _ in busy["olga"])
    assert crm.busy_intervals(at(11), at(17)) == {"irina": [(at(12), at(13))]}


def test_handoffs(crm: SqlCRM) -> None:
    first = crm.record_handoff(
        "conv-1", "telegram", "asked_for_manager", "+79991234567"
    )
    second = crm.record_handoff("conv-2", "rest", "complaint")

    everything = crm.handoffs()
    only_first = crm.handoffs("conv-1")

    assert [h.id for h in everything] == [first, second]
    assert only_first == [everything[0]]
    handoff = only_first[0]
    assert (handoff.conversation_id, handoff.channel, handoff.reason) == (
        "conv-1",
        "telegram",
        "asked_for_manager",
    )
    assert handoff.phone == "+79991234567"
    assert handoff.created_at.tzinfo is not None
    assert (handoff.taken_by, handoff.taken_at) == (None, None)
    assert everything[1].phone is None


def test_deals_filters(crm: SqlCRM) -> None:
    late = crm.book(booking("late", starts_at=at(18)))
    early = crm.book(
        booking(
            "early", starts_at=at(9), conversation_id="conv-2", phone="+77001112233"
        )
    )
    gone = crm.cancel(crm.book(booking("gone", starts_at=at(12))).id)

    assert crm.deals() == [early, gone, late]
    assert crm.deals(conversation_id="conv-1") == [gone, late]
    assert crm.deals(phone="+77001112233") == [early]
    assert crm.deals(status="cancelled") == [gone]
    assert crm.deals(status="booked", starts_after=at(12)) == [late]
    assert crm.deals(starts_after=at(12)) == [gone, late]
    assert crm.deals(phone="+70000000000") == []


def test_money_keeps_kopecks(crm: SqlCRM) -> None:
    deal = crm.book(booking("k1", price=Decimal("1234567890.05")))

    assert crm.get_deal(deal.id).price == Decimal("1234567890.05")


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(booking("k1", starts_at=datetime(2030, 3, 4, 15)), id="naive"),
        pytest.param(booking("k1", duration_minutes=0), id="zero-duration"),
        pytest.param(booking("k1", price=Decimal("-1")), id="negative-price"),
    ],
)
def test_bad_requests_are_rejected(crm: SqlCRM, request_) -> None:
    with pytest.raises(ValueError):
        crm.book(request_)

    assert crm.deals() == []


def test_logs_carry_no_phone_and_no_name(
    crm: SqlCRM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="crm_connector")

    deal = crm.book(booking("k1"))
    crm.reschedule(deal.id, at(18), "olga")
    crm.cancel(deal.id)
    crm.record_handoff("conv-1", "telegram", "asked", "+79991234567")

    ours = [r.getMessage() for r in caplog.records if r.name.startswith("crm_")]
    assert len(ours) == 4
    assert not any("79991234567" in line or "Анна" in line for line in ours)


def test_unreachable_postgres_is_unavailable_without_the_password() -> None:
    crm = SqlCRM("postgresql://postgres:hunter2@127.0.0.1:1/test")

    with pytest.raises(CRMUnavailableError) as caught:
        crm.book(booking("k1"))

    assert "hunter2" not in str(caught.value)
    assert isinstance(caught.value.__cause__, OperationalError)
    crm.close()


def test_lock_held_too_long_is_unavailable(crm: SqlCRM, db_url: str) -> None:
    crm.deals()  # creates the tables before someone else takes the lock
    holder = _hold_staff_lock(db_url, "olga")
    impatient = SqlCRM(db_url, lock_timeout=0.3)
    try:
        with pytest.raises(CRMUnavailableError) as caught:
            impatient.book(booking("k1"))
    finally:
        holder.rollback()
        holder.close()
        impatient.close()

    assert "79991234567" not in str(caught.value)
    assert crm.book(booking("k1")).status == "booked"


@pytest.mark.parametrize(
    "url", ["not a url", "mysql+nosuchdriver://x/y", "oracle://", "sqlite://"]
)
def test_bad_url_is_a_crm_error(url: str) -> None:
    with pytest.raises(CRMError):
        SqlCRM(url)


def test_create_crm_reads_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")

    crm = create_crm()
    crm.book(booking("k1"))
    crm.close()

    assert (tmp_path / "env.db").exists()
    assert not (tmp_path / "var").exists()


def test_create_crm_defaults_to_var_crm_db(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRM_DB_URL", raising=False)

    crm = create_crm()
    crm.book(booking("k1"))
    crm.close()

    assert DEFAULT_DB_URL == "sqlite:///var/crm.db"
    assert (tmp_path / "var" / "crm.db").exists()


def test_stored_times_are_utc(crm: SqlCRM, db_url: str) -> None:
    deal = crm.book(booking("k1", starts_at=datetime(2030, 3, 4, 15, tzinfo=OMSK)))

    assert deal.starts_at == datetime(2030, 3, 4, 9, tzinfo=timezone.utc)
    assert _raw_starts_at(db_url, deal.id).startswith("2030-03-04 09:00:00")


def _set_status(db_url: str, deal_id: int, status: str) -> None:
    # Visits and no-shows are marked by a later issue; set them directly until then.
    connection = _raw_connection(db_url)
    try:
        cursor = connection.cursor()
        placeholder = "?" if db_url.startswith("sqlite") else "%s"
        cursor.execute(
            f"UPDATE deals SET status = {placeholder} WHERE id = {placeholder}",
            (status, deal_id),
        )
        connection.commit()
    finally:
        connection.close()


def _raw_starts_at(db_url: str, deal_id: int) -> str:
    connection = _raw_connection(db_url)
    try:
        cursor = connection.cursor()
        if db_url.startswith("sqlite"):
            cursor.execute("SELECT starts_at FROM deals WHERE id = ?", (deal_id,))
        else:
            cursor.execute(
                "SELECT to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
                " FROM deals WHERE id = %s",
                (deal_id,),
            )
        return str(cursor.fetchone()[0])
    finally:
        connection.close()


def _hold_staff_lock(db_url: str, staff_id: str):
    """Open a transaction that holds what a booking for ``staff_id`` must wait for."""
    connection = _raw_connection(db_url)
    cursor = connection.cursor()
    if db_url.startswith("sqlite"):
        cursor.execute("BEGIN IMMEDIATE")
    else:
        cursor.execute(
            "INSERT INTO staff_locks (staff_id) VALUES (%s) ON CONFLICT DO NOTHING",
            (staff_id,),
        )
        cursor.execute(
            "SELECT staff_id FROM staff_locks WHERE staff_id = %s FOR UPDATE",
            (staff_id,),
        )
    return connection


def _raw_connection(db_url: str):
    if db_url.startswith("sqlite"):
        return sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    return psycopg2.connect(db_url)
