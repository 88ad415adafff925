"""The outbox: filled in each change's transaction when the profile mirrors to Bitrix24."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from crm_connector import CRMError, create_crm
from crm_connector.outbox import Outbox
from crm_connector.sql import open_engine
from tests.crm_connector.helpers import at, booking


def profile_with(tmp_path: Path, backend: str | None) -> Path:
    path = tmp_path / "business.yml"
    text = "name: Салон\n"
    if backend:
        text += f"crm:\n  backend: {backend}\n"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        (None, []),
        ("sql", []),
        ("bitrix24", ["book", "reschedule", "assign", "attended"]),
    ],
    ids=["no-crm-section", "sql", "bitrix24"],
)
def test_the_profile_decides_whether_changes_are_queued(
    tmp_path, monkeypatch, db_url, backend, expected
):
    monkeypatch.setenv("BUSINESS_PROFILE", str(profile_with(tmp_path, backend)))
    crm = create_crm(db_url)
    deal = crm.book(booking("k1"))
    crm.book(booking("k1"))  # a replay changes nothing, so queues nothing
    crm.reschedule(deal.id, at(17), "olga")
    crm.assign(deal.id, "irina")
    crm.mark(deal.id, "attended", Decimal("2500"))
    crm.mark(deal.id, "attended", Decimal("2500"))
    crm.close()

    engine = open_engine(db_url)
    queued = Outbox(engine).queued()
    engine.dispose()

    assert [list(q.kinds) for q in queued] == ([expected] if expected else [])


def test_an_unknown_backend_is_a_clear_error(tmp_path, monkeypatch, db_url):
    monkeypatch.setenv("BUSINESS_PROFILE", str(profile_with(tmp_path, "amo")))

    with pytest.raises(CRMError, match="crm.backend: use one of: sql, bitrix24"):
        create_crm(db_url)


def test_a_refused_booking_queues_nothing(tmp_path, monkeypatch, db_url):
    monkeypatch.setenv("BUSINESS_PROFILE", str(profile_with(tmp_path, "bitrix24")))
    crm = create_crm(db_url)
    crm.book(booking("k1"))
    with pytest.raises(CRMError):
        crm.book(booking("k2"))  # the same staff member at the same time
    crm.close()

    engine = open_engine(db_url)
    (only,) = Outbox(engine).queued()
    engine.dispose()
    assert only.kinds == ("book",)
