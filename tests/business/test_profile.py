"""The business profile: the demo loads, and every broken field is named clearly."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from business.profile import Motivation, ProfileError, load_profile
from tests.conftest import DEMO_PROFILE


def test_demo_profile_loads(profile):
    assert profile.name == "Салон красоты «Лаванда»"
    assert str(profile.timezone) == "Asia/Omsk"
    assert profile.service("manicure").price == Decimal("1500.00")
    assert [s.id for s in profile.staff_for("manicure")] == ["anna", "olga"]
    assert profile.hours[6] is None  # Sunday closed


def test_staff_own_hours_override_the_business_hours(profile):
    olga = profile.staff_member("olga")
    monday, tuesday = date(2026, 12, 7), date(2026, 12, 8)

    assert profile.hours_of(olga, monday) is None
    assert profile.hours_of(olga, tuesday) == (time(12), time(21))
    assert profile.hours_of(profile.staff_member("anna"), monday) == (time(9), time(21))


def test_hours_text_groups_days(profile):
    assert profile.hours_text() == ("пн–пт: 09:00–21:00, сб: 10:00–18:00, вс: выходной")


def test_env_variable_chooses_the_file(tmp_path, monkeypatch):
    raw = yaml.safe_load(DEMO_PROFILE.read_text(encoding="utf-8"))
    raw["name"] = "Клиника «Дента»"
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("BUSINESS_PROFILE", str(path))

    assert load_profile().name == "Клиника «Дента»"


def _broken(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(DEMO_PROFILE.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "business.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


BROKEN = [
    ("no-name", lambda r: r.pop("name"), "name"),
    ("bad-timezone", lambda r: r.update(timezone="Omsk/Nowhere"), "timezone"),
    ("bad-phone", lambda r: r.update(phone="123"), "phone"),
    (
        "policy-not-link",
        lambda r: r.update(privacy_policy_url="ask us"),
        "privacy_policy_url",
    ),
    ("hours-garbage", lambda r: r["hours"].update(mon="nine to five"), "hours.mon"),
    ("hours-reversed", lambda r: r["hours"].update(tue="21:00-09:00"), "hours.tue"),
    ("unknown-weekday", lambda r: r["hours"].update(funday="10:00-12:00"), "hours"),
    ("zero-step", lambda r: r.update(slot_step_minutes=0), "slot_step_minutes"),
    (
        "negative-price",
        lambda r: r["services"][0].update(price=-5),
        "services[0].price",
    ),
    (
        "text-price",
        lambda r: r["services"][1].update(price="дорого"),
        "services[1].price",
    ),
    (
        "duration-not-number",
        lambda r: r["services"][2].update(duration_minutes="час"),
        "services[2].duration_minutes",
    ),
    (
        "duplicate-id",
        lambda r: r["services"][1].update(id="manicure"),
        "services[1].id",
    ),
    ("cyrillic-id", lambda r: r["services"][0].update(id="маникюр"), "services[0].id"),
    ("no-services", lambda r: r.update(services=[]), "services"),
    (
        "staff-unknown-service",
        lambda r: r["staff"][0].update(services=["massage"]),
        "staff[0].services",
    ),
    (
        "nobody-does-service",
        lambda r: r["staff"][2].update(services=["brows"]),
        "services",
    ),
    ("faq-without-answer", lambda r: r["faq"][0].pop("answer"), "faq[0].answer"),
    (
        "unknown-assignment",
        lambda r: r.update(manager_assignment="random"),
        "manager_assignment",
    ),
]


def _bot(raw, **changes):
    raw["managers_bot"].update(changes)


BROKEN += [
    ("bot-not-mapping", lambda r: r.update(managers_bot=[1]), "managers_bot"),
    ("bot-unknown-key", lambda r: _bot(r, chat=1), "managers_bot.chat"),
    ("chat-id-text", lambda r: _bot(r, chat_ids=["abc"]), "managers_bot.chat_ids[0]"),
    (
        "sla-zero",
        lambda r: _bot(r, handoff_sla_minutes=0),
        "managers_bot.handoff_sla_minutes",
    ),
    (
        "unknown-hot-lead",
        lambda r: _bot(r, hot_leads=["vip"]),
        "managers_bot.hot_leads",
    ),
    (
        "keywords-rule-no-words",
        lambda r: _bot(r, hot_keywords=[]),
        "managers_bot.hot_keywords",
    ),
    (
        "report-weekday",
        lambda r: r["managers_bot"]["owner_report"].update(weekday="понедельник"),
        "managers_bot.owner_report.weekday",
    ),
    (
        "report-time",
        lambda r: r["managers_bot"]["owner_report"].update(time="25:00"),
        "managers_bot.owner_report.time",
    ),
    (
        "report-two-chats",
        lambda r: r["managers_bot"]["owner_report"].update(chat_id=5),
        "managers_bot.owner_report",
    ),
    (
        "manager-id-text",
        lambda r: r["managers"][0].update(telegram_user_id="@irina"),
        "managers[0].telegram_user_id",
    ),
    (
        "no-manager-on-telegram",
        lambda r: [m.pop("telegram_user_id") for m in r["managers"]],
        "managers[].telegram_user_id",
    ),
]


@pytest.mark.parametrize(
    ("change", "field"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_field_is_named(tmp_path, change, field):
    path = _broken(tmp_path, change)

    with pytest.raises(ProfileError) as caught:
        load_profile(path)

    assert f": {field}" in str(caught.value)


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(ProfileError, match="missing"):
        load_profile(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(bad)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (None, Motivation(Decimal(0), Decimal(5))),
        ({"fixed": 20000, "percent": 7.5}, Motivation(Decimal(20000), Decimal("7.5"))),
        ({"percent": 3}, Motivation(Decimal(0), Decimal(3))),
    ],
    ids=["default", "both", "percent-only"],
)
def test_motivation_rule(tmp_path, section, expected):
    path = _broken(tmp_path, lambda r: r.update(motivation=section))

    assert load_profile(path).motivation == expected


@pytest.mark.parametrize("bad", [-1, "lots", True], ids=["negative", "text", "bool"])
def test_bad_motivation_rule_is_named(tmp_path, bad):
    path = _broken(tmp_path, lambda r: r.update(motivation={"fixed": bad}))

    with pytest.raises(ProfileError, match="motivation.fixed"):
        load_profile(path)


def test_managers_bot_settings(profile):
    settings = profile.managers_bot

    assert [m.telegram_user_id for m in profile.managers] == [700000001, 700000002]
    assert settings.handoff_sla_minutes == 15
    assert settings.hot_keywords == ("жалоб", "недовол", "претензи")
    assert (settings.owner_report.weekday, settings.owner_report.at) == (0, time(9))


def test_owner_chat_is_read_from_the_named_variable(profile, monkeypatch):
    monkeypatch.setenv("OWNER_CHAT_ID", "123456789")
    assert profile.managers_bot.owner_report.resolve_chat_id() == 123456789
    monkeypatch.setenv("OWNER_CHAT_ID", "not a number")
    assert profile.managers_bot.owner_report.resolve_chat_id() is None


def test_a_profile_without_the_managers_bot_loads_with_defaults(tmp_path):
    path = _broken(tmp_path, lambda r: r.pop("managers_bot"))

    settings = load_profile(path).managers_bot

    assert (settings.owner_report, settings.handoff_sla_minutes) == (None, 15)
