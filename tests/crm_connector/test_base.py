"""The CRM records: the JSON shape of a deal."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm_connector import Deal

JSON_KEYS = {
    "id",
    "conversation_id",
    "channel",
    "contact_name",
    "phone",
    "service_id",
    "service_name",
    "staff_id",
    "starts_at",
    "ends_at",
    "duration_minutes",
    "price",
    "status",
    "manager_id",
    "created_at",
    "updated_at",
}


def make_deal(price: Decimal = Decimal("2500.00")) -> Deal:
    created = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
    return Deal(
        id=7,
        conversation_id="conv-1",
        channel="whatsapp",
        contact_id=3,
        contact_name="Анна",
        phone="+79991234567",
        service_id="haircut",
        service_name="Стрижка",
        staff_id="olga",
        starts_at=datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc),
        duration_minutes=90,
        price=price,
        status="booked",
        manager_id=None,
        created_at=created,
        updated_at=created,
    )


def test_json_has_the_documented_keys_and_business_offset() -> None:
    payload = make_deal().to_json(ZoneInfo("Asia/Omsk"))

    assert JSON_KEYS <= payload.keys()
    assert payload["starts_at"] == "2026-12-04T15:00:00+06:00"
    assert payload["ends_at"] == "2026-12-04T16:30:00+06:00"
    assert payload["created_at"] == "2026-12-01T09:00:00+06:00"
    assert payload["phone"] == "+79991234567"
    assert payload["manager_id"] is None
    assert json.loads(json.dumps(payload)) == payload


@pytest.mark.parametrize(
    ("price", "number"),
    [
        pytest.param(Decimal("2500.00"), 2500, id="whole"),
        pytest.param(Decimal("1999.90"), 1999.9, id="kopecks"),
    ],
)
def test_json_price_is_a_number(price: Decimal, number: float) -> None:
    payload = make_deal(price).to_json(timezone.utc)

    assert payload["price"] == number
    assert json.dumps(payload["price"]) == json.dumps(number)


def test_ends_at_adds_the_duration() -> None:
    assert make_deal().ends_at == datetime(2026, 12, 4, 10, 30, tzinfo=timezone.utc)
