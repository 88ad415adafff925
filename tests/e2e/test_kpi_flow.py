"""From chat to KPI: book through the running bot, mark visits, read the report."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import pytest

from tests.e2e.conftest import deals_json, make_bot
from tests.e2e.harness import ROOT, text_of
from tests.e2e.test_rest_booking import pick

pytestmark = pytest.mark.e2e


def book(bot, sender: str, time_title: str, name: str, phone: str) -> None:
    replies = bot.say(sender, "Хочу записаться на маникюр завтра после 15")
    bot.say(sender, pick(replies, time_title))
    bot.say(sender, "да")
    bot.say(sender, name)
    bot.say(sender, phone)
    assert "Готово" in text_of(bot.say(sender, "да"))


def run(bot, module: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=bot.env,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_visits_marked_after_the_chat_count_in_the_report(demo_model, tmp_path):
    bot = make_bot(demo_model, ROOT / "business.yml", tmp_path)
    bot.start()
    try:
        book(bot, "kpi-1", "15:00", "Мария", "8 913 100-00-01")
        book(bot, "kpi-2", "16:30", "Ольга", "8 913 100-00-02")
    finally:
        bot.stop()
    first, second = sorted(deals_json(bot), key=lambda d: d["id"])
    stores = ["--db", bot.crm_url, "--log", bot.tracker_url]
    run(
        bot,
        "crm_connector",
        "mark",
        str(first["id"]),
        "attended",
        "--amount",
        "1800",
        *stores,
    )
    run(bot, "crm_connector", "mark", str(second["id"]), "no_show", *stores)

    # Messages carry the real clock; the visits are on the pinned 4 December.
    until = max(date.today(), date(2026, 12, 4)) + timedelta(days=1)
    done = run(
        bot,
        "kpi_reports",
        "--since",
        "2026-12-01",
        "--until",
        until.isoformat(),
        "--format",
        "json",
        "--db",
        bot.tracker_url,
    )

    report = json.loads(done.stdout)
    assert (report["leads"], report["qualified_leads"], report["missed_leads"]) == (
        2,
        2,
        0,
    )
    assert (report["bookings"], report["visits"], report["no_shows"]) == (2, 1, 1)
    assert report["show_rate"] == 0.5
    assert report["revenue"] == 1800
    assert report["by_channel"]["rest"]["leads"] == 2
    assert report["first_response_seconds"]["under_5_min_share"] == 1.0
    managers = {m["id"]: m for m in report["managers"]}
    assert (first["manager_id"], second["manager_id"]) == ("irina", "dmitry")
    assert (managers["irina"]["visits"], managers["irina"]["bonus"]) == (1, 90)
    assert (managers["dmitry"]["visits"], managers["dmitry"]["bonus"]) == (0, 0)
