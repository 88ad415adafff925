"""Tests of scripts/profile_nlu.py: NLU examples generated from the business profile."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from business.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def profile_nlu():
    spec = importlib.util.spec_from_file_location(
        "profile_nlu", ROOT / "scripts" / "profile_nlu.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_cover_cases_staff_and_faq(profile_nlu) -> None:
    text = profile_nlu.render(load_profile(ROOT / "business.yml"))

    assert 'на [покраску волос]{"entity": "service", "value": "coloring"}' in text
    assert 'стоимость [окрашивания]{"entity": "service", "value": "coloring"}' in text
    assert 'к [Анне]{"entity": "staff", "value": "anna"}' in text
    assert "- Есть ли парковка?" in text


def test_no_prices_or_hours(profile_nlu) -> None:
    text = profile_nlu.render(load_profile(ROOT / "business.yml"))

    for price_or_hours in ("1500", "3500", "09:00", "21:00", "₽"):
        assert price_or_hours not in text


def test_written_only_when_changed(profile_nlu, tmp_path: Path) -> None:
    out = tmp_path / "profile_nlu.yml"
    content = profile_nlu.render(load_profile(ROOT / "business.yml"))

    first = profile_nlu.write_if_changed(out, content)
    mtime = out.stat().st_mtime_ns
    second = profile_nlu.write_if_changed(out, content)

    assert (first, second) == (True, False)
    assert out.stat().st_mtime_ns == mtime
