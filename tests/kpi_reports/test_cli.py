"""The ``python -m kpi_reports`` command line, run as the owner runs it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from kpi_reports import summary
from kpi_reports.__main__ import last_week, main
from tests.conftest import DEMO_PROFILE, ROOT
from tests.kpi_reports.conftest import EventLog, lavanda_week, omsk

WEEK = ["--since", "2026-12-01", "--until", "2026-12-07"]


@pytest.fixture()
def salon_profile(tmp_path: Path) -> Path:
    """The demo profile with the bonus rule: 20 000 ₽ fixed plus 5 %."""
    path = tmp_path / "business.yml"
    text = DEMO_PROFILE.read_text(encoding="utf-8")
    path.write_text(text + "\nmotivation:\n  fixed: 20000\n  percent: 5\n", "utf-8")
    return path


def run_cli(
    *args: str, profile: Path, db: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TRACKER_STORE_URL"}
    env["BUSINESS_PROFILE"] = str(profile)
    if db is not None:
        env["TRACKER_STORE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "kpi_reports", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def test_json_report_of_the_week(week_url: str, salon_profile: Path):
    done = run_cli(*WEEK, "--format", "json", profile=salon_profile, db=week_url)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert list(report) == [
        "period",
        "leads",
        "qualified_leads",
        "missed_leads",
        "processed_share",
        "first_response_seconds",
        "bookings",
        "lead_to_booking",
        "visits",
        "no_shows",
        "cancellations",
        "show_rate",
        "no_show_rate",
        "revenue",
        "average_check",
        "repeat_client_share",
        "ltv",
        "reminders_sent",
        "reminder_confirmations",
        "reminder_cancellations",
        "reminder_moves",
        "by_channel",
        "handoffs",
        "managers",
        "by_day",
        "first_response_histogram",
    ]
    assert (report["leads"], report["bookings"], report["visits"]) == (5, 5, 3)
    assert (report["revenue"], report["average_check"]) == (4600, 1533.33)
    assert [(m["id"], m["bonus"]) for m in report["managers"]] == [
        ("irina", 20090),
        ("dmitry", 20140),
        ("pavel", 20000),
    ]


def test_table_in_russian(tmp_path: Path, salon_profile: Path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)

    week = run_cli(*WEEK, "--db", url, profile=salon_profile)
    next_day = run_cli(
        "--since",
        "2026-12-08",
        "--until",
        "2026-12-08",
        "--db",
        url,
        profile=salon_profile,
    )

    assert week.returncode == 0, week.stderr
    assert "с 01.12.2026 по 07.12.2026 (Asia/Omsk)" in week.stdout
    for text in ("5 заявок", "5 записей", "3 визита", "1 неявка", "1 отмена"):
        assert text in week.stdout
    assert "средний чек 1\u00a0533,33\u00a0₽" in week.stdout
    assert "бонус 20\u00a0090\u00a0₽" in week.stdout
    # Channels by the names people know, not the ids the channels write.
    assert "  Telegram      3 заявки" in week.stdout
    assert "  WhatsApp      1 заявка" in week.stdout
    assert "1 заявка, 1 запись, 0 визитов" in next_day.stdout


def test_csv_to_a_file(tmp_path: Path, salon_profile: Path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    out = tmp_path / "week.csv"

    done = run_cli(
        *WEEK,
        "--db",
        url,
        "--format",
        "csv",
        "--output",
        str(out),
        profile=salon_profile,
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    rows = dict(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows["leads"] == "5"
    assert rows["first_response_seconds.p90"] == "384.0"
    assert rows["by_channel.whatsapp.bookings"] == "2"
    assert rows["managers.irina.bonus"] == "20090"
    assert rows["average_check"] == "1533.33"
    assert rows["by_day.2026-12-01.leads"] == "2"
    assert rows["by_day.2026-12-06.visits"] == "1"
    assert rows["first_response_histogram.1–5 мин.leads"] == "2"
    assert list(tmp_path.glob("*.part")) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_one_line_erased_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(summary, "CHUNK", 21)

    code = main([*WEEK, "--db", url, "--profile", str(DEMO_PROFILE)])

    assert code == 0
    assert terminal.getvalue() == (
        "\rпрочитано 21 событие…\rпрочитано 42 события…\rпрочитано 49 событий…\r\x1b[K"
    )
    assert "5 заявок" in capsys.readouterr().out


def test_last_week_is_monday_to_sunday_before_this_week():
    # 2026-12-03 is a Thursday.
    assert last_week(date(2026, 12, 3)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert last_week(date(2026, 11, 30)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert last_week(date(2026, 12, 6)) == (date(2026, 11, 23), date(2026, 11, 29))


def test_last_week_shortcut(tmp_path: Path, salon_profile: Path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    lavanda_week().write(url)

    done = run_cli("--last-week", "--format", "json", profile=salon_profile, db=url)

    assert done.returncode == 0, done.stderr
    period = json.loads(done.stdout)["period"]
    since, until = (
        date.fromisoformat(period["since"]),
        date.fromisoformat(period["until"]),
    )
    assert (since.weekday(), (until - since).days) == (0, 6)


def _empty_table(url: str) -> None:
    EventLog().write(url)


def _no_table(url: str) -> None:
    create_engine(url).connect().close()


@pytest.mark.parametrize(
    ("args", "prepare", "message"),
    [
        pytest.param(
            ["--since", "2026-12-08", "--until", "2026-12-01"],
            lavanda_week().write,
            "after it ends",
            id="since-after-until",
        ),
        pytest.param(
            ["--since", "2026-12-32", "--until", "2026-12-01"],
            lavanda_week().write,
            "not a date",
            id="bad-date",
        ),
        pytest.param(["--last-week", *WEEK], None, "use one of --last-week", id="both"),
        pytest.param([], None, "give --since and --until", id="no-period"),
        pytest.param(WEEK, _empty_table, "holds no events", id="empty-store"),
        pytest.param(WEEK, _no_table, "no events table", id="no-events-table"),
        pytest.param(WEEK, None, "no tracker store file", id="missing-file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, salon_profile: Path, args, prepare, message
):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    if prepare is not None:
        prepare(url)
    out = tmp_path / "report.json"

    done = run_cli(*args, "--db", url, "--output", str(out), profile=salon_profile)

    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("kpi_reports: error: ")
    assert message in done.stderr
    assert not out.exists()


def test_unreachable_postgresql_is_one_line(salon_profile: Path):
    url = "postgresql://postgres@127.0.0.1:1/test?connect_timeout=2"

    done = run_cli(*WEEK, "--db", url, profile=salon_profile)

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "cannot read the tracker store" in done.stderr


def test_broken_profile_is_one_line(tmp_path: Path):
    profile = tmp_path / "business.yml"
    profile.write_text("name: [unclosed\n", encoding="utf-8")

    done = run_cli(*WEEK, profile=profile)

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_refresh_brings_the_summary_up_to_date_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    log = lavanda_week()
    log.write(url)

    code = main(["--refresh", "--db", url, "--profile", str(DEMO_PROFILE)])

    engine = create_engine(url, future=True)
    with engine.connect() as connection:
        watermark = connection.execute(select(summary.STATE.c.watermark)).scalar()
    engine.dispose()
    assert (code, capsys.readouterr()) == (0, ("", ""))
    assert watermark == len(log.rows)


def test_refresh_of_a_missing_store_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
):
    url = f"sqlite:///{tmp_path / 'nowhere.db'}"

    code = main(["--refresh", "--db", url, "--profile", str(DEMO_PROFILE)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("kpi_reports: error: no tracker store file at ")
    assert err.count("\n") == 1


def test_a_channel_name_longer_than_the_column_keeps_a_space(
    tmp_path: Path, salon_profile: Path
):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    log = EventLog()
    at = omsk((2026, 12, 2), 12, 0)
    log.session("web:abc", at)
    log.user("web:abc", at, channel="webchat")
    log.write(url)

    done = run_cli(*WEEK, "--db", url, profile=salon_profile)

    assert "  виджет на сайте 1 заявка, 0 записей" in done.stdout
