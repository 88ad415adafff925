"""Visit outcomes and manager assignment in the SQL CRM, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from crm_connector import (
    DealNotFoundError,
    InvalidTransitionError,
    SqlCRM,
)
from tests.crm_connector.helpers import booking


@pytest.fixture
def deal(crm):
    return crm.book(booking("k1"))


@pytest.mark.parametrize(
    ("status", "amount", "paid"),
    [
        ("attended", Decimal("2700"), Decimal("2700.00")),
        ("attended", None, None),
        ("no_show", None, None),
        ("cancelled", None, None),
    ],
    ids=["visit-with-amount", "visit-at-list-price", "no-show", "cancelled"],
)
def test_mark_a_booked_deal(crm, deal, status, amount, paid):
    marked = crm.mark(deal.id, status, amount)

    assert marked.status == status
    assert marked.amount_paid == paid
    assert crm.get_deal(deal.id).status == status


def test_the_same_mark_twice_changes_nothing(crm, deal):
    first = crm.mark(deal.id, "attended", Decimal("2500"))

    again = crm.mark(deal.id, "attended", Decimal("2500"))

    assert again.updated_at == first.updated_at


def test_a_no_show_can_be_corrected_to_a_visit(crm, deal):
    crm.mark(deal.id, "no_show")

    assert crm.mark(deal.id, "attended", Decimal("2500")).status == "attended"


@pytest.mark.parametrize(
    ("first", "then", "error"),
    [
        ("cancelled", "attended", InvalidTransitionError),
        ("cancelled", "no_show", InvalidTransitionError),
        ("attended", "cancelled", InvalidTransitionError),
    ],
    ids=["visit-after-cancel", "no-show-after-cancel", "cancel-after-visit"],
)
def test_forbidden_marks(crm, deal, first, then, error):
    crm.mark(deal.id, first)

    with pytest.raises(error):
        crm.mark(deal.id, then)
    assert crm.get_deal(deal.id).status == first


@pytest.mark.parametrize(
    ("status", "amount"),
    [("attended", Decimal("-1")), ("no_show", Decimal("100")), ("came", None)],
    ids=["negative-amount", "amount-without-visit", "unknown-outcome"],
)
def test_bad_marks_are_refused_before_writing(crm, deal, status, amount):
    with pytest.raises(ValueError):
        crm.mark(deal.id, status, amount)
    assert crm.get_deal(deal.id).status == "booked"


def test_unknown_deal(crm):
    with pytest.raises(DealNotFoundError):
        crm.mark(404, "attended")


def test_assign_and_last_assigned_manager(crm, deal):
    assert crm.last_assigned_manager() is None
    second = crm.book(booking("k2", phone="+79990000000", staff_id="anna"))

    crm.assign(deal.id, "irina")
    crm.assign(second.id, "dmitry")

    assert crm.get_deal(deal.id).manager_id == "irina"
    assert crm.last_assigned_manager() == "dmitry"


def test_a_database_from_before_amounts_gets_the_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    SqlCRM(url).book(booking("k1"))
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE deals DROP COLUMN amount_paid"))
    engine.dispose()

    crm = SqlCRM(url)
    marked = crm.mark(1, "attended", Decimal("900"))

    assert marked.amount_paid == Decimal("900.00")
