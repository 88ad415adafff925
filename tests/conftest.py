"""Fixtures shared by every test package: the demo profile and a pinned clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from business.profile import BusinessProfile, load_profile

ROOT = Path(__file__).resolve().parent.parent
DEMO_PROFILE = ROOT / "business.yml"
OMSK = ZoneInfo("Asia/Omsk")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")


@pytest.fixture()
def profile() -> BusinessProfile:
    return load_profile(DEMO_PROFILE)


@pytest.fixture()
def thursday_morning() -> datetime:
    """2026-12-03 10:00 in Omsk, a Thursday: the salon is open 09:00-21:00."""
    return datetime(2026, 12, 3, 10, 0, tzinfo=OMSK)


PG_URL = os.environ.get("CRM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = create_engine(PG_URL, future=True, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        reason = f"PostgreSQL at {PG_URL} is unreachable: {exc.orig}".splitlines()[0]
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL of an empty database: a fresh SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.db'}"
        return

    admin: Engine = request.getfixturevalue("pg_admin")
    schema = f"crm_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
