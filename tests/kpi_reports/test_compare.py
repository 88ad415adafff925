"""Two periods side by side: the salon's week against the week before it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from business.profile import load_profile
from kpi_reports.compare import comparison_rows, with_comparison
from kpi_reports.engine import compute_report
from tests.conftest import DEMO_PROFILE
from tests.kpi_reports.conftest import lavanda_week
from tests.kpi_reports.test_cli import WEEK, run_cli

THIS_WEEK = (date(2026, 12, 1), date(2026, 12, 7))
WEEK_BEFORE = (date(2026, 11, 24), date(2026, 11, 30))


def test_delta_of_the_week_against_the_week_before(db_url: str):
    lavanda_week().write(db_url)
    profile = load_profile(DEMO_PROFILE)

    report = with_comparison(
        compute_report(db_url, profile, *THIS_WEEK),
        compute_report(db_url, profile, *WEEK_BEFORE),
    )

    # The week before holds one lead (B wrote at 23:50 on 30 November) and nothing
    # else: B booked on 1 December, and every visit falls in this week.
    assert report["compare"]["leads"] == 1
    assert report["compare"]["bookings"] == 0
    delta = report["delta"]
    assert (delta["leads"], delta["bookings"], delta["visits"]) == (4, 5, 3)
    assert delta["revenue"] == 4600
    assert delta["lead_to_booking"] == 1.0
    assert delta["show_rate"] is None  # no visits or no-shows the week before
    assert "period" not in delta
    # Chart data is not subtracted: days of two periods do not pair up.
    assert "by_day" not in delta
    assert "first_response_histogram" not in delta
    assert len(report["compare"]["by_day"]) == 7
    irina = next(m for m in delta["managers"] if m["id"] == "irina")
    assert (irina["visits"], irina["revenue"]) == (1, 1800)


def test_comparison_rows_say_the_change_in_russian(db_url: str):
    lavanda_week().write(db_url)
    profile = load_profile(DEMO_PROFILE)
    report = with_comparison(
        compute_report(db_url, profile, *THIS_WEEK),
        compute_report(db_url, profile, *WEEK_BEFORE),
    )

    rows = {
        label: (now, before, change)
        for label, now, before, change in comparison_rows(report)
    }

    assert rows["Заявки"] == ("5", "1", "+4")
    assert rows["Конверсия в запись"] == (
        "100\u00a0%",
        "0\u00a0%",
        "+100\u00a0п.\u00a0п.",
    )
    assert rows["Выручка"][2] == "+4\u00a0600\u00a0₽"
    assert rows["Доходимость"][1:] == ("—", "—")


def test_cli_compares_two_periods(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    other = ["--compare-since", "2026-11-24", "--compare-until", "2026-11-30"]

    done = run_cli(*WEEK, *other, "--format", "json", "--db", url, profile=DEMO_PROFILE)
    table = run_cli(*WEEK, *other, "--db", url, profile=DEMO_PROFILE)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["compare"]["period"]["since"] == "2026-11-24"
    assert report["delta"]["leads"] == 4
    assert "Сравнение с периодом 24.11.2026–30.11.2026" in table.stdout
    csv_done = run_cli(
        *WEEK, *other, "--format", "csv", "--db", url, profile=DEMO_PROFILE
    )
    assert csv_done.returncode == 0, csv_done.stderr
    assert "compare.by_day.2026-11-30.leads,1\n" in csv_done.stdout


def test_cli_last_14_days_against_the_14_before(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    today = load_profile(DEMO_PROFILE).now().date()

    done = run_cli(
        "--last-14-days", "--format", "json", "--db", url, profile=DEMO_PROFILE
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["period"]["since"] == (today - timedelta(days=14)).isoformat()
    assert report["period"]["until"] == (today - timedelta(days=1)).isoformat()
    assert (
        report["compare"]["period"]["since"] == (today - timedelta(days=28)).isoformat()
    )
    assert (
        report["compare"]["period"]["until"] == (today - timedelta(days=15)).isoformat()
    )


def test_cli_refuses_half_a_comparison(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)

    done = run_cli(
        *WEEK, "--compare-since", "2026-11-24", "--db", url, profile=DEMO_PROFILE
    )

    assert done.returncode == 2
    assert "give both --compare-since and --compare-until" in done.stderr
