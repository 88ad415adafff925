"""Rasa's own checks of the project: data validation and the conversation tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import BIN, ROOT, environment

pytestmark = pytest.mark.e2e


def test_rasa_data_validate_finds_no_conflicts(demo_model: Path):
    data = demo_model.parent.parent / "data"  # the data the model was trained on

    done = subprocess.run(
        [
            str(BIN / "rasa"),
            "data",
            "validate",
            "--data",
            str(data),
            "--domain",
            str(ROOT / "domain.yml"),
            "--config",
            str(ROOT / "config.yml"),
        ],
        capture_output=True,
        text=True,
        env=environment(ROOT / "business.yml"),
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "No story structure conflicts found" in done.stdout + done.stderr


def test_conversation_tests_pass(demo_model: Path, tmp_path: Path):
    done = subprocess.run(
        [
            str(BIN / "rasa"),
            "test",
            "core",
            "--stories",
            str(ROOT / "tests" / "test_stories.yml"),
            "--model",
            str(demo_model),
            "--out",
            str(tmp_path),
            "--fail-on-prediction-errors",
        ],
        capture_output=True,
        text=True,
        env=environment(ROOT / "business.yml"),
        cwd=ROOT,
    )

    report = json.loads((tmp_path / "story_report.json").read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert report["conversation_accuracy"]["accuracy"] == 1.0
