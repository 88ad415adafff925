"""Database fixtures: every CRM test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_connector import SqlCRM


@pytest.fixture
def crm(db_url: str) -> Iterator[SqlCRM]:
    crm = SqlCRM(db_url)
    yield crm
    crm.close()
