"""The HTML report: one offline file with the figures and SVG charts."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from business.profile import BusinessProfile
from kpi_reports import compute_report
from kpi_reports.html import render_html
from tests.kpi_reports.conftest import lavanda_week
from tests.kpi_reports.test_cli import WEEK, run_cli


def test_html_file_is_self_contained(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    out = tmp_path / "week.html"
    profile = Path(__file__).resolve().parents[2] / "business.yml"

    done = run_cli(
        *WEEK, "--db", url, "--format", "html", "--output", str(out), profile=profile
    )

    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    # Per day, first responses, funnel, channels, bonuses.
    assert page.count("<svg") == 5
    # Nothing to fetch: no links, scripts or remote resources.
    assert not re.search(r"https?://|<script|<link|@import|src=", page)
    assert "4\u00a0600\u00a0₽" in page
    assert "Ирина" in page


def test_html_escapes_what_the_events_carry(tmp_path: Path, profile: BusinessProfile):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    report = compute_report(url, profile, date(2026, 12, 1), date(2026, 12, 7))
    report["managers"][0]["name"] = "<script>alert(1)</script>"
    report["by_channel"]["<b>"] = report["by_channel"]["widget"]

    page = render_html(report, "Салон «А&Б»")

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;" in page
    assert "Салон «А&amp;Б»" in page


def test_html_of_an_empty_period(tmp_path: Path, profile: BusinessProfile):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    report = compute_report(url, profile, date(2026, 1, 1), date(2026, 1, 1))

    page = render_html(report, profile.name)

    assert "Заявок нет." in page
    assert page.count("<svg") == 4  # per day and first responses drawn with zeros
    assert "Заявки и записи по дням" in page
    assert "01.01" in page


def test_html_charts_per_day_and_response_times(
    tmp_path: Path, profile: BusinessProfile
):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    report = compute_report(url, profile, date(2026, 12, 1), date(2026, 12, 7))

    page = render_html(report, profile.name)

    per_day = page.index("Заявки и записи по дням")
    responses = page.index("Время первого ответа</h2>")
    assert per_day < responses < page.index("Воронка")
    # Every day labelled dd.mm, and one bar for leads and one for bookings each.
    for day in range(1, 8):
        assert f">0{day}.12</text>" in page
    assert "<title>01.12: заявки 2</title>" in page
    assert "<title>05.12: записи 1</title>" in page
    for bucket in ("&lt;1 мин", "1–5 мин", "5–15 мин", "15–60 мин", "&gt;1 ч"):
        assert f">{bucket}</text>" in page
    assert ">без ответа</text>" in page
    assert "http" not in page


def test_html_of_a_month_labels_every_other_day(
    tmp_path: Path, profile: BusinessProfile
):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    report = compute_report(url, profile, date(2026, 12, 1), date(2026, 12, 31))

    page = render_html(report, profile.name)

    assert page.count("</title></rect>") == 2 * 31
    assert ">01.12</text>" in page and ">31.12</text>" in page
    assert ">02.12</text>" not in page  # labels 40 px wide would overlap
