"""The profile's crm section: the Bitrix24 mirror's settings, and each mistake named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from business.profile import ProfileError, load_profile
from tests.conftest import DEMO_PROFILE


def with_crm(tmp_path: Path, section: Any) -> Path:
    raw = yaml.safe_load(DEMO_PROFILE.read_text(encoding="utf-8"))
    raw["crm"] = section
    path = tmp_path / "business.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_without_a_crm_section_the_built_in_crm_stands_alone(profile):
    assert profile.crm.backend == "sql"


def test_a_full_bitrix24_section(tmp_path):
    path = with_crm(
        tmp_path,
        {
            "backend": "bitrix24",
            "bitrix24": {
                "category_id": 2,
                "currency": "rub",
                "stages": {"attended": "C2:WON", "no_show": "Не дошёл"},
                "fields": {"starts_at": "UF_CRM_VISIT_AT", "service": None},
                "users": {"irina": 12},
                "sources": {"telegram": "TELEGRAM"},
                "conversation_url": "https://crm.example/c/{id}",
                "inbound": {"host": "0.0.0.0", "port": 8099},
                "rate": {"burst": 250, "per_second": 5},
            },
        },
    )

    settings = load_profile(path).crm.bitrix24

    assert settings.category_id == 2 and settings.currency == "RUB"
    assert settings.stages == {
        "booked": "Записан",
        "attended": "C2:WON",
        "no_show": "Не дошёл",
        "cancelled": "Отменена",
    }
    assert settings.starts_at_field == "UF_CRM_VISIT_AT"
    assert settings.service_field is None
    assert settings.users == {"irina": 12}
    assert (settings.inbound_host, settings.inbound_port) == ("0.0.0.0", 8099)
    assert (settings.burst, settings.per_second) == (250, 5.0)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("bitrix", "crm: a mapping with backend"),
        ({"backend": "amo"}, "crm.backend: use one of: sql, bitrix24"),
        ({"backend": "bitrix24", "url": "x"}, "crm: unknown setting 'url'"),
        (
            {"bitrix24": {"stages": {"visited": "WON"}}},
            "crm.bitrix24.stages.visited: use one of: booked, attended",
        ),
        (
            {"bitrix24": {"fields": {"service": "SERVICE"}}},
            "crm.bitrix24.fields.service: a user field name like UF_CRM_SERVICE",
        ),
        (
            {"bitrix24": {"users": {"olga": 3}}},
            "crm.bitrix24.users.olga: no such manager",
        ),
        (
            {"bitrix24": {"users": {"irina": "boss"}}},
            "crm.bitrix24.users.irina: a Bitrix24 user id",
        ),
        (
            {"bitrix24": {"conversation_url": "crm.example/c"}},
            "crm.bitrix24.conversation_url: an http(s) link with {id} in it",
        ),
        (
            {"bitrix24": {"rate": {"per_second": 0}}},
            "crm.bitrix24.rate.per_second: a number between 0.01 and 10000",
        ),
        (
            {"bitrix24": {"inbound": {"port": 70000}}},
            "crm.bitrix24.inbound.port: a number between 1 and 65535",
        ),
        ({"bitrix24": {"webhook": "https://x"}}, "crm.bitrix24.webhook: unknown"),
    ],
    ids=[
        "not-a-mapping",
        "unknown-backend",
        "unknown-key",
        "unknown-status",
        "not-a-user-field",
        "unknown-manager",
        "user-id-not-a-number",
        "link-without-id",
        "zero-rate",
        "port-out-of-range",
        "secret-in-the-file",
    ],
)
def test_each_mistake_is_named(tmp_path, section, message):
    with pytest.raises(ProfileError) as caught:
        load_profile(with_crm(tmp_path, section))
    assert message in str(caught.value)
