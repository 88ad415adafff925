"""Fixtures shared by every test package: the demo profile and a pinned clock."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from business.profile import BusinessProfile, load_profile

ROOT = Path(__file__).resolve().parent.parent
DEMO_PROFILE = ROOT / "business.yml"
OMSK = ZoneInfo("Asia/Omsk")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")


@pytest.fixture()
def profile() -> BusinessProfile:
    return load_profile(DEMO_PROFILE)


@pytest.fixture()
def thursday_morning() -> datetime:
    """2026-12-03 10:00 in Omsk, a Thursday: the salon is open 09:00-21:00."""
    return datetime(2026, 12, 3, 10, 0, tzinfo=OMSK)
