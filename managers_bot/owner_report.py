"""The owner's weekly KPI report: which week is due, and its text and HTML file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from business.profile import BusinessProfile, OwnerReport
from kpi_reports import ReportError, compute_report
from kpi_reports.html import render_html
from kpi_reports.render import render_table

TELEGRAM_TEXT_LIMIT = 4096


@dataclass(frozen=True)
class WeeklyReport:
    since: date
    until: date
    text: str
    html: str | None

    @property
    def period(self) -> str:
        return f"week:{self.since.isoformat()}"

    @property
    def filename(self) -> str:
        return f"kpi-{self.since.isoformat()}--{self.until.isoformat()}.html"

    @property
    def caption(self) -> str:
        return f"Отчёт за неделю {self.since:%d.%m}–{self.until:%d.%m.%Y} (HTML)"


def last_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the week before the one holding `today`."""
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def due_week(schedule: OwnerReport, now: datetime) -> tuple[date, date]:
    """The week whose report is due at `now` (aware, in the business timezone).

    At the scheduled weekday and time the last whole Monday-to-Sunday week before
    that day becomes due, and stays due until the next scheduled moment, so a bot that
    was down at the hour sends it when it comes back.
    """
    monday = now.date() - timedelta(days=now.weekday())
    moment = datetime.combine(
        monday + timedelta(days=schedule.weekday), schedule.at, now.tzinfo
    )
    if now < moment:
        moment -= timedelta(days=7)
    return last_week(moment.date())


def build(
    tracker_url: str, profile: BusinessProfile, since: date, until: date
) -> WeeklyReport:
    """The report of the period; an unreadable or empty log gives a one-line text."""
    try:
        report = compute_report(tracker_url, profile, since, until)
    except ReportError as error:
        return WeeklyReport(
            since,
            until,
            f"{profile.name}: отчёт с {since:%d.%m.%Y} по {until:%d.%m.%Y} составить "
            f"не удалось ({error}).",
            None,
        )
    text = render_table(report, profile.name)
    if len(text) > TELEGRAM_TEXT_LIMIT:
        text = text[: TELEGRAM_TEXT_LIMIT - 40] + "\n… полный отчёт в файле"
    return WeeklyReport(since, until, text, render_html(report, profile.name))
