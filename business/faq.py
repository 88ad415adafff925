"""Answers to free questions from the profile's FAQ, matched by shared word lemmas."""

from __future__ import annotations

import re

from business.profile import FaqEntry
from business.russian import lemma, normalize_word

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


def topic_lemmas(text: str) -> set[str]:
    return {lemma(normalize_word(w)) for w in _WORD.findall(text)} - _STOP


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
