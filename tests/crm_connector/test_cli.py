"""The ``python -m crm_connector`` command line, run as the owner runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm_connector import SqlCRM
from tests.crm_connector.helpers import at, booking

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "business.yml"
    path.write_text("name: Салон\ntimezone: Asia/Omsk\n", encoding="utf-8")
    return path


def run_cli(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CRM_DB_URL"}
    env["BUSINESS_PROFILE"] = str(profile)
    return subprocess.run(
        [sys.executable, "-m", "crm_connector", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def seed(db_url: str) -> None:
    crm = SqlCRM(db_url)
    crm.book(booking("k1", price=2500))
    crm.cancel(crm.book(booking("k2", starts_at=at(10), conversation_id="conv-2")).id)
    crm.close()


def test_deals_as_json(db_url: str, profile: Path) -> None:
    seed(db_url)

    result = run_cli("deals", "--format", "json", "--db", db_url, profile=profile)

    assert result.returncode == 0, result.stderr
    deals = json.loads(result.stdout)
    assert [d["status"] for d in deals] == ["cancelled", "booked"]
    booked = deals[1]
    assert booked["starts_at"] == "2030-03-04T15:00:00+06:00"
    assert booked["ends_at"] == "2030-03-04T16:00:00+06:00"
    assert booked["phone"] == "+79991234567"
    assert booked["contact_name"] == "Анна Петрова"
    assert booked["price"] == 2500
    assert booked["created_at"].endswith("+06:00")


def test_deals_filters_and_profile_timezone(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'crm.db'}"
    seed(db_url)
    moscow = tmp_path / "moscow.yml"
    moscow.write_text("timezone: Europe/Moscow\n", encoding="utf-8")

    result = run_cli(
        "deals", "--format=json", "--status=booked", f"--db={db_url}", profile=moscow
    )

    assert result.returncode == 0, result.stderr
    [deal] = json.loads(result.stdout)
    assert deal["starts_at"] == "2030-03-04T12:00:00+03:00"


def test_missing_profile_means_omsk(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'crm.db'}"
    seed(db_url)

    result = run_cli(
        "deals",
        "--format",
        "json",
        "--conversation",
        "conv-2",
        "--db",
        db_url,
        profile=tmp_path / "absent.yml",
    )

    assert result.returncode == 0, result.stderr
    [deal] = json.loads(result.stdout)
    assert deal["starts_at"] == "2030-03-04T10:00:00+06:00"


def test_deals_as_russian_table(tmp_path: Path, profile: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'crm.db'}"
    seed(db_url)

    result = run_cli("deals", "--db", db_url, profile=profile)

    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    for title in ("Клиент", "Телефон", "Услуга", "Мастер", "Начало", "Цена", "Статус"):
        assert title in header
    assert "04.03.2030 15:00" in result.stdout
    assert "2 500,00" in result.stdout
    assert "записан" in result.stdout and "отменена" in result.stdout
    assert "Анна Петрова" in result.stdout


@pytest.mark.parametrize(
    "db_url",
    [
        pytest.param(
            "postgresql://postgres:hunter2@127.0.0.1:1/test", id="unreachable"
        ),
        pytest.param("not a url", id="malformed"),
    ],
)
def test_bad_db_is_a_one_line_error(db_url: str, profile: Path) -> None:
    result = run_cli("deals", "--format", "json", "--db", db_url, profile=profile)

    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter2" not in result.stderr


def test_unknown_status_is_a_usage_error(profile: Path) -> None:
    result = run_cli("deals", "--status", "lost", profile=profile)

    assert result.returncode == 2
