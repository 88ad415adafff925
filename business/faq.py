"""Answers to free questions from the profile's FAQ, matched by shared word lemmas."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from business.profile import FaqEntry

_WORD = re.compile(r"[а-яёa-z0-9]+", re.IGNORECASE)
# Words that say nothing about the topic of a question.
_STOP = {
    "а",
    "в",
    "во",
    "и",
    "или",
    "к",
    "ли",
    "можно",
    "на",
    "не",
    "у",
    "вы",
    "вас",
    "ваш",
    "есть",
    "как",
    "какой",
    "что",
    "это",
    "с",
    "со",
    "по",
    "для",
    "мочь",
    "быть",
    "я",
    "мы",
    "бы",
    "же",
    "за",
    "о",
    "об",
    "от",
    "до",
    "сколько",
}


@lru_cache(maxsize=1)
def _morph() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=20000)
def _lemma(word: str) -> str:
    return _morph().parse(word.lower().replace("ё", "е"))[0].normal_form


def topic_lemmas(text: str) -> set[str]:
    return {_lemma(w) for w in _WORD.findall(text)} - _STOP


def best_answer(question: str, faq: tuple[FaqEntry, ...]) -> FaqEntry | None:
    """The FAQ entry sharing the most topic words with the question, if any is shared.

    Keywords weigh double: an owner lists them exactly for this matching.
    """
    asked = topic_lemmas(question)
    best, best_score = None, 0.0
    for entry in faq:
        keywords = set().union(*(topic_lemmas(k) for k in entry.keywords))
        score = 2 * len(asked & keywords) + len(asked & topic_lemmas(entry.question))
        if score > best_score:
            best, best_score = entry, score
    return best
