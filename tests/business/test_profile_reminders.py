"""The profile's `reminders:` section: defaults, the shipped profiles, clear errors."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
import yaml

from business.profile import ProfileError, Reminders, load_profile
from tests.conftest import DEMO_PROFILE, ROOT


def _with(tmp_path: Path, section) -> Path:
    raw = yaml.safe_load(DEMO_PROFILE.read_text(encoding="utf-8"))
    if section is None:
        raw.pop("reminders", None)
    else:
        raw["reminders"] = section
    path = tmp_path / "business.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_profiles_set_their_reminders(profile):
    clinic = load_profile(ROOT / "examples" / "dental-clinic.yml")

    assert profile.reminders == Reminders((1440, 120), (time(21), time(9)))
    assert clinic.reminders == Reminders((1440, 180), (time(21), time(8)))


def test_without_a_section_the_day_before_and_two_hours_before(tmp_path):
    assert load_profile(_with(tmp_path, None)).reminders == Reminders()


def test_times_are_sorted_and_quiet_hours_can_be_off(tmp_path):
    loaded = load_profile(
        _with(tmp_path, {"before": ["30m", "2d"], "quiet_hours": "none"})
    )

    assert loaded.reminders == Reminders((2880, 30), None)


def test_an_empty_list_turns_reminders_off(tmp_path):
    assert load_profile(_with(tmp_path, {"before": []})).reminders.before_minutes == ()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        pytest.param(["1d"], "reminders: a mapping", id="not-a-mapping"),
        pytest.param({"bfore": ["1d"]}, "unknown field 'bfore'", id="typo"),
        pytest.param({"before": "1d"}, "reminders.before: a list", id="not-a-list"),
        pytest.param(
            {"before": ["1 day"]}, "reminders.before[0]: write", id="lead-in-words"
        ),
        pytest.param({"before": [24]}, "reminders.before[0]: write", id="bare-number"),
        pytest.param(
            {"before": ["5m"]}, "between 10 minutes and 14 days", id="too-soon"
        ),
        pytest.param({"before": ["15d"]}, "between 10 minutes", id="too-far"),
        pytest.param({"before": ["2h", "120m"]}, "listed twice", id="twice"),
        pytest.param(
            {"quiet_hours": "ночью"},
            "reminders.quiet_hours: write",
            id="quiet-in-words",
        ),
        pytest.param({"quiet_hours": "25:00-09:00"}, "not a valid time", id="bad-hour"),
        pytest.param({"quiet_hours": "09:00-09:00"}, "are equal", id="empty-window"),
    ],
)
def test_a_broken_section_is_named(tmp_path, section, message):
    with pytest.raises(ProfileError) as error:
        load_profile(_with(tmp_path, section))

    assert str(error.value).startswith("business.yml: reminders")
    assert message in str(error.value)
