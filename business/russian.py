"""Russian words shared by what clients, managers and owners read (months, plurals),
and the one pymorphy3 analyser every word matcher uses (lemmas)."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymorphy3 import MorphAnalyzer

MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)

# The channels' names (channels/, the `input_channel` of a lead) as people read them.
CHANNEL_NAMES = {
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "webchat": "виджет на сайте",
    "socketio": "виджет на сайте",
    "rest": "REST API",
    "unknown": "неизвестный канал",
}


def channel_name(channel: str | None) -> str:
    """A channel's name for managers and owners; an unknown one as it is."""
    return CHANNEL_NAMES.get(channel or "unknown", channel or "—")


# "в пятницу": a weekday (Monday first) in the accusative, with its preposition.
ON_WEEKDAY = (
    "в понедельник",
    "во вторник",
    "в среду",
    "в четверг",
    "в пятницу",
    "в субботу",
    "в воскресенье",
)


def plural(count: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for `count`: 1 запись, 2 записи, 5 записей."""
    tens, units = count % 100, count % 10
    if 11 <= tens <= 14:
        return many
    if units == 1:
        return one
    if 2 <= units <= 4:
        return few
    return many


def counted(count: int, one: str, few: str, many: str) -> str:
    return f"{count} {plural(count, one, few, many)}"


@cache
def morph() -> MorphAnalyzer:
    """The one shared pymorphy3 analyser; loading its dictionaries takes about 0.2 s."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def normalize_word(word: str) -> str:
    return word.lower().replace("ё", "е")


@lru_cache(maxsize=100_000)
def lemma(key: str) -> str:
    """The most likely normal form of a lower-cased word, with "ё" written as "е"."""
    parses = morph().parse(key)
    return normalize_word(parses[0].normal_form) if parses else key
