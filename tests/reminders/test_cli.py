"""`python -m reminders`: off without a token, one pass, the list, clear failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import DEMO_PROFILE, ROOT
from tests.reminders.conftest import at, book


def env_for(db_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RASA_API_TOKEN", "RASA_URL", "TRACKER_STORE_URL")
    }
    env.update(
        CRM_DB_URL=db_url,
        BUSINESS_PROFILE=str(DEMO_PROFILE),
        ASSISTANT_NOW="2026-12-03T15:00:00+06:00",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reminders", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'crm.db'}"


def test_without_a_token_one_pass_says_reminders_are_off(sqlite_url):
    done = cli("once", env=env_for(sqlite_url))

    assert done.returncode == 2
    assert "Reminders are off: RASA_API_TOKEN is not set" in done.stderr


def test_without_a_token_serve_stays_up_quietly_until_stopped(sqlite_url):
    process = subprocess.Popen(
        [sys.executable, "-m", "reminders", "serve"],
        cwd=ROOT,
        env=env_for(sqlite_url),
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)

    assert process.returncode == 0
    assert stderr.count("Reminders are off") == 1


def test_an_empty_list_says_so(sqlite_url):
    done = cli("list", env=env_for(sqlite_url))

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("No reminders yet")


def test_one_pass_delivers_and_the_list_shows_it(crm, rasa, db_url):
    deal = book(crm, "a", at(4, 15))
    env = env_for(db_url, RASA_URL=rasa.url, RASA_API_TOKEN=rasa.token)

    done = cli("once", env=env)
    listed = json.loads(cli("list", "--format", "json", env=env).stdout)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "planned 2, sent 1, skipped 0, retry 0, failed 0"
    assert [(r["deal_id"], r["fire_at"], r["state"]) for r in listed] == [
        (deal.id, "2026-12-03T15:00:00+06:00", "sent"),
        (deal.id, "2026-12-04T13:00:00+06:00", "pending"),
    ]


def test_a_refused_token_is_reported_without_the_token(crm, rasa, db_url):
    book(crm, "a", at(4, 15))
    env = env_for(db_url, RASA_URL=rasa.url, RASA_API_TOKEN="s3cret-t0ken")

    done = cli("once", env=env)

    assert done.returncode == 0
    assert "retry 1" in done.stdout
    assert "HTTP 401" in done.stderr and "s3cret-t0ken" not in done.stderr


def test_a_broken_profile_is_one_line(sqlite_url, tmp_path):
    broken = tmp_path / "business.yml"
    broken.write_text("name: [", encoding="utf-8")

    done = cli("once", env=env_for(sqlite_url, BUSINESS_PROFILE=str(broken)))

    assert done.returncode == 1
    assert done.stderr.startswith("reminders: business.yml: not valid YAML")


DOWN = "postgresql://reminders:pa55word@127.0.0.1:1/crm"  # nothing listens on port 1


def test_an_unreachable_database_is_one_line_without_the_password(rasa):
    env = env_for(DOWN, RASA_URL=rasa.url, RASA_API_TOKEN=rasa.token)

    done = cli("once", env=env)

    assert done.returncode == 1
    assert done.stderr.startswith("reminders: reminders table unavailable:")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "pa55word" not in done.stderr


def test_serve_outlives_an_unreachable_database(rasa):
    env = env_for(DOWN, RASA_URL=rasa.url, RASA_API_TOKEN=rasa.token)
    process = subprocess.Popen(
        [sys.executable, "-m", "reminders", "serve", "--interval", "0.3"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)

    assert process.returncode == 0
    assert stderr.count("Reminder pass failed") >= 2
    assert "pa55word" not in stderr
