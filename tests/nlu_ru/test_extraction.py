"""Tests of the Russian entity matchers and of the ProfileEntityExtractor component."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from business.profile import load_profile
from nlu_ru.matching import Vocabulary, extract_entities, find_fields, find_services
from nlu_ru.phones import find_phones, normalize_phone

DEMO_PROFILE = Path(__file__).resolve().parents[2] / "business.yml"


@pytest.fixture(autouse=True)
def demo_profile_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSINESS_PROFILE", str(DEMO_PROFILE))


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary.from_profile(load_profile(DEMO_PROFILE))


@pytest.fixture(scope="module")
def extractor():
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from nlu_ru import ProfileEntityExtractor

    return ProfileEntityExtractor.create(
        {"profile_path": str(DEMO_PROFILE)},
        LocalModelStorage(Path("/nonexistent")),
        Resource("profile_entity_extractor"),
        None,
    )


def entities(text: str, vocabulary: Vocabulary) -> list[tuple[str, str]]:
    from schedule.when import parse_when

    now = datetime(2026, 12, 3, 13, 0, tzinfo=load_profile(DEMO_PROFILE).timezone)
    found = extract_entities(text, vocabulary, now, parse_when)
    return [(f.entity, f.value) for f in found]


@pytest.mark.parametrize(
    ("text", "service_id", "matched"),
    [
        ("на маникюр", "manicure", "маникюр"),
        ("доволен маникюром", "manicure", "маникюром"),
        ("хочу стрижку", "haircut_women", "стрижку"),
        ("нужна покраска волос", "coloring", "покраска волос"),
        ("на покраску волос", "coloring", "покраску волос"),
        ("мужскую стрижку", "haircut_men", "мужскую стрижку"),
        ("гель-лак", "manicure", "гель-лак"),
        ("гель лаком", "manicure", "гель лаком"),
        ("окрашивание бровей", "brows", "окрашивание бровей"),
        ("подстричься", "haircut_women", "подстричься"),
        ("на стопы", "pedicure", "стопы"),
    ],
    ids=[
        "accusative",
        "instrumental",
        "haircut-accusative",
        "two-words",
        "two-words-accusative",
        "longest-wins-over-haircut",
        "hyphen",
        "hyphen-as-space-instrumental",
        "longest-wins-over-coloring",
        "verb-synonym",
        "plural-synonym",
    ],
)
def test_service_found_in_any_case(
    text: str, service_id: str, matched: str, vocabulary: Vocabulary
) -> None:
    found = find_services(text, vocabulary)

    assert [(f.value, text[f.start : f.end]) for f in found] == [(service_id, matched)]


@pytest.mark.parametrize(
    "text",
    ["стоп", "хочу записаться", "сколько стоит", "наращивание ресниц"],
    ids=["stop-is-not-feet", "no-service", "prices-no-service", "not-in-profile"],
)
def test_no_service(text: str, vocabulary: Vocabulary) -> None:
    assert find_services(text, vocabulary) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("к Анне", [("staff", "anna")]),
        ("у Ольги", [("staff", "olga")]),
        ("с Мариной", [("staff", "marina")]),
        ("мастер Сергей", [("staff", "sergey")]),
        ("хочу к Оле", [("staff", "olga")]),
        ("к серёже", [("staff", "sergey")]),
        ("Анна", [("person", "Анна")]),
        ("анна", [("person", "Анна")]),
        ("меня зовут Анна", [("person", "Анна")]),
        ("меня зовут Айгерим", [("person", "Айгерим")]),
        ("к Анне, я Ольга", [("staff", "anna"), ("person", "Ольга")]),
        ("любой мастер", [("staff", "any")]),
        ("к любому", [("staff", "any")]),
        ("неважно к кому", [("staff", "any")]),
        ("всё равно кто", [("staff", "any")]),
        ("вера в лучшее", []),
        ("хелоу", []),
    ],
    ids=[
        "dative",
        "genitive",
        "instrumental",
        "after-master",
        "alias-dative",
        "alias-lowercase-yo",
        "bare-nominative-is-client",
        "lowercase-client-name",
        "introduced-name",
        "introduced-unknown-name",
        "master-and-client",
        "any-master",
        "any-dative",
        "does-not-matter-whom",
        "all-the-same-who",
        "common-noun-not-name",
        "unknown-word-not-name",
    ],
)
def test_staff_and_person(
    text: str, expected: list[tuple[str, str]], vocabulary: Vocabulary
) -> None:
    assert entities(text, vocabulary) == expected


def test_full_booking_message(vocabulary: Vocabulary) -> None:
    text = "Запишите на маникюр завтра в 15:00, Анна, 8 913 123-45-67"

    assert entities(text, vocabulary) == [
        ("service", "manicure"),
        ("when", "завтра в 15:00"),
        ("person", "Анна"),
        ("phone", "8 913 123-45-67"),
    ]


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("8 913 123-45-67", "8 913 123-45-67"),
        ("мой +7(913)1234567", "+7(913)1234567"),
        ("89131234567.", "89131234567"),
        ("8 (913) 123 45 67", "8 (913) 123 45 67"),
        ("номер 8 913 12", "8 913 12"),
        ("89131234567890", "89131234567890"),
    ],
    ids=["spaces-dashes", "brackets", "plain", "spaced-brackets", "short", "long"],
)
def test_phone_found(text: str, raw: str) -> None:
    assert [found[2] for found in find_phones(text)] == [raw]


@pytest.mark.parametrize(
    "text",
    [
        "15.12",
        "15.12.2026",
        "в 14:30",
        "15.12 в 14:30",
        "стоит 1500 руб",
        "1 500 000 ₽",
        "2026-12-15",
        "с 10 до 12",
    ],
    ids=[
        "date",
        "date-year",
        "time",
        "date-time",
        "price",
        "big-price",
        "iso-date",
        "hour-range",
    ],
)
def test_not_a_phone(text: str) -> None:
    assert find_phones(text) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8 913 123-45-67", "+79131234567"),
        ("+7(913)1234567", "+79131234567"),
        ("123", None),
        ("+7 000 000 00 00", None),
        ("8 913 12", None),
        ("не номер", None),
    ],
    ids=["russian-8", "plus-seven", "too-short", "invalid-range", "cut-off", "text"],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("телефон другой", "phone"),
        ("ошиблась в номере", "phone"),
        ("не тот номер", "phone"),
        ("имя неправильное", "client_name"),
        ("давайте другое время", "when"),
        ("можно другую дату", "when"),
        ("другого мастера", "staff"),
        ("поменяйте мастера", "staff"),
        ("другую услугу", "service"),
    ],
    ids=[
        "phone-other",
        "phone-mistake",
        "phone-not-that",
        "name-wrong",
        "time-other",
        "date-other",
        "master-other",
        "master-change",
        "service-other",
    ],
)
def test_correction_field(text: str, field: str) -> None:
    assert [f.value for f in find_fields(text)] == [field]


@pytest.mark.parametrize(
    "text",
    ["какой у вас телефон", "часы работы", "мастер Анна", "я ошиблась"],
    ids=["asks-phone", "opening-hours", "names-master", "no-field-word"],
)
def test_no_correction_field(text: str) -> None:
    assert find_fields(text) == []


GARBAGE = [
    "",
    "   ",
    "😀",
    "😀😀😀",
    "<b>",
    "'; DROP TABLE",
    "а" * 10_000,
    "1" * 10_000,
]


@pytest.mark.parametrize(
    "text",
    GARBAGE,
    ids=["empty", "spaces", "emoji", "emojis", "html", "sql", "long-word", "digits"],
)
def test_component_survives_garbage(text: str, extractor) -> None:
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={"text": text})

    extractor.process([message])

    assert all(
        e["extractor"] == "ProfileEntityExtractor" for e in message.get("entities", [])
    )


def test_component_adds_entities_and_keeps_existing(extractor) -> None:
    from rasa.shared.nlu.training_data.message import Message

    existing = {"entity": "service", "value": "pedicure", "start": 0, "end": 0}
    message = Message(data={"text": "хочу к Анне на маникюр", "entities": [existing]})

    extractor.process([message])

    found = message.get("entities")
    assert found[0] == existing
    assert [(e["entity"], e["value"]) for e in found[1:]] == [
        ("staff", "anna"),
        ("service", "manicure"),
    ]
    assert all(e["confidence_entity"] == 1.0 for e in found[1:])


def test_component_reports_broken_profile(tmp_path: Path) -> None:
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from business.profile import ProfileError
    from nlu_ru import ProfileEntityExtractor

    broken = tmp_path / "business.yml"
    broken.write_text("name: [unclosed", encoding="utf-8")

    with pytest.raises(ProfileError, match="business.yml"):
        ProfileEntityExtractor.create(
            {"profile_path": str(broken)},
            LocalModelStorage(tmp_path),
            Resource("profile_entity_extractor"),
            None,
        )


def test_tokenizer_sets_lemmas() -> None:
    from rasa.shared.nlu.training_data.message import Message

    from nlu_ru import RussianTokenizer

    tokenizer = RussianTokenizer(RussianTokenizer.get_default_config())
    message = Message(data={"text": "Маникюром и стрижку, Ёлки"})

    tokens = tokenizer.tokenize(message, "text")

    assert [t.lemma for t in tokens] == ["маникюр", "и", "стрижка", "елка"]
