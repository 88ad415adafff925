"""Fixtures that train models and run the real Rasa and action servers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, Bot, train

PINNED_NOW = "2026-12-03T10:00:00+06:00"  # a Thursday morning in Omsk
MODELS = ROOT / "var" / "test-models"


@pytest.fixture(scope="session")
def demo_model() -> Path:
    return train(ROOT / "business.yml", MODELS / "demo")


@pytest.fixture(scope="session")
def clinic_model() -> Path:
    return train(ROOT / "examples" / "dental-clinic.yml", MODELS / "dental-clinic")


def make_bot(model: Path, profile: Path, workdir: Path) -> Bot:
    return Bot(
        model=model,
        profile=profile,
        workdir=workdir,
        crm_url=f"sqlite:///{workdir}/crm.db",
        tracker_url=f"sqlite:///{workdir}/tracker.db",
        extra_env={"ASSISTANT_NOW": PINNED_NOW},
    )


@pytest.fixture(scope="module")
def demo_bot(demo_model: Path, tmp_path_factory) -> Iterator[Bot]:
    bot = make_bot(demo_model, ROOT / "business.yml", tmp_path_factory.mktemp("demo"))
    bot.start()
    yield bot
    bot.stop()


def deals_json(bot: Bot) -> list[dict]:
    """The deals as the owner's CLI prints them."""
    import json

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "crm_connector",
            "deals",
            "--format",
            "json",
            "--db",
            bot.crm_url,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=bot.env,
    )
    return json.loads(done.stdout)
