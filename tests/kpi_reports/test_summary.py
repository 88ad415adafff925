"""The summary tables: folding in parts, in small chunks or after a rules change gives
the report a single fold of the whole log gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, update

from business.profile import BusinessProfile
from kpi_reports import compute_report, summary
from kpi_reports.engine import refresh_summary
from tests.kpi_reports.conftest import EventLog, lavanda_week
from tests.kpi_reports.test_engine import WEEK


def _report_at_once(tmp_path: Path, profile: BusinessProfile) -> dict:
    url = f"sqlite:///{tmp_path / 'at-once.db'}"
    lavanda_week().write(url)
    return compute_report(url, profile, *WEEK)


@pytest.mark.parametrize("share", [0.2, 0.5, 0.8], ids=["fifth", "half", "most"])
def test_a_log_folded_in_two_reports_gives_the_same_report(
    db_url: str, profile: BusinessProfile, tmp_path: Path, share: float
):
    rows = lavanda_week().rows
    cut = int(len(rows) * share)
    EventLog(rows[:cut]).write(db_url)
    compute_report(db_url, profile, *WEEK)  # folds the first part

    EventLog(rows[cut:]).write(db_url)
    report = compute_report(db_url, profile, *WEEK)

    assert report == _report_at_once(tmp_path, profile)


def test_chunks_that_cut_conversations_in_pieces_change_nothing(
    week_url: str, profile: BusinessProfile, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(summary, "CHUNK", 3)

    report = compute_report(week_url, profile, *WEEK)

    assert report == _report_at_once(tmp_path, profile)


def test_a_second_refresh_with_nothing_new_folds_nothing(
    week_url: str, profile: BusinessProfile
):
    first = refresh_summary(week_url, profile)

    assert first > 0
    assert refresh_summary(week_url, profile) == 0


def test_a_summary_made_by_older_rules_is_rebuilt(
    week_url: str, profile: BusinessProfile, tmp_path: Path
):
    refresh_summary(week_url, profile)
    engine = create_engine(week_url, future=True)
    with engine.begin() as connection:
        connection.execute(update(summary.DEALS).values(status="attended"))
        connection.execute(update(summary.STATE).values(version=0))
    engine.dispose()

    report = compute_report(week_url, profile, *WEEK)

    assert report == _report_at_once(tmp_path, profile)
