"""Rule-based Russian entity matching against the business profile: plain functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from business.russian import lemma, morph, normalize_word
from nlu_ru.phones import find_phones

if TYPE_CHECKING:
    from business.profile import BusinessProfile

ANY_STAFF = "any"
FIELDS = ("phone", "client_name", "when", "staff", "service")

_WORD = re.compile(r"[^\W_]+")
# Parts of speech whose other readings must not count: "стоп" is an interjection,
# not the genitive plural of "стопа" (a pedicure synonym).
_FUNCTION_POS = {"INTJ", "PRCL", "CONJ", "PREP", "NPRO", "ADVB", "PRED"}
_STAFF_CASES = {"datv", "gent", "ablt", "gen2"}
_STAFF_TRIGGERS = {
    "к",
    "ко",
    "у",
    "с",
    "со",
    "мастер",
    "мастеру",
    "мастера",
    "мастером",
    "мастерица",
    "мастерице",
    "мастерицы",
    "мастерицей",
}
_INTRODUCTIONS = {"зовут", "я", "это", "имя"}
_ANY_STAFF = re.compile(
    r"(?:\bк\s+)?\bлюбо(?:й|му|го)\s+мастер\w*"
    r"|\bк\s+любому\b|\bлюбому\b"
    r"|\b(?:не\s*важно|все\s*равно|без\s+разницы)\s*,?\s*"
    r"(?:к\s+)?(?:кому|кто|какой\s+мастер|какому\s+мастеру|какого\s+мастера)\b"
    r"|\bмастер\w*\s*,?\s*(?:не\s*важно|любой|без\s+разницы|все\s*равно)"
    r"|^\s*любой\s*[.!]*\s*$"
)
_CHANGE = re.compile(
    r"друг(?:ой|ая|ое|ую|ого|ому|им|ие|их)|неправильн\w*|неверн\w*|ошиб\w*|"
    r"поменя\w*|помени\w*|измен\w*|смен\w*|исправ\w*|перепут\w*|опечат\w*|"
    r"не(?:\s+|-)?(?:тот|та|то|ту|той|того)"
)
_FIELD_WORDS: dict[str, re.Pattern[str]] = {
    "phone": re.compile(r"телефон\w*|номер\w*|тел|тлф"),
    "client_name": re.compile(r"имя|имени|именем|фамили\w*"),
    "when": re.compile(r"врем\w*|день|дня|дне|дат[аыуе]?|числ[оа]|час|часы|дни"),
    "staff": re.compile(r"мастер\w*"),
    "service": re.compile(r"услуг\w*|процедур\w*"),
}
_FIELD_DISTANCE = 3
_DANGLING = re.compile(r"(?:[\s,]+(?:к|ко|у|с|со|в|во|на|и|а|или))+$", re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    """One entity found in a message: its label, normalised value and char span."""

    entity: str
    value: str
    start: int
    end: int

    def as_rasa(self, extractor: str) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "confidence_entity": 1.0,
            "extractor": extractor,
        }


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    text: str
    key: str


@lru_cache(maxsize=100_000)
def lemmas(key: str) -> frozenset[str]:
    """Every normal form a word may have, unless its best reading is a function word."""
    parses = morph().parse(key)
    if not parses:
        return frozenset({key})
    if parses[0].tag.POS in _FUNCTION_POS:
        parses = parses[:1]
    return frozenset({key} | {normalize_word(p.normal_form) for p in parses})


@lru_cache(maxsize=100_000)
def _name_reading(key: str) -> tuple[bool, bool, bool]:
    """Whether a known word reads as a nominative first name; whether that is its
    top reading; whether it may be a name at all (a known name or an unknown word)."""
    parses = morph().parse(key)
    names = [p for p in parses if "Name" in p.tag]
    nominative = any(p.tag.case == "nomn" and p.tag.number != "plur" for p in names)
    known = morph().word_is_known(key)
    top = bool(parses) and "Name" in parses[0].tag
    # pymorphy3 guesses a reading for any unknown word ("хелоу" as a name), so an
    # unknown word is only a name right after "меня зовут"/"я"/"это".
    return nominative and known, top, (bool(names) and known) or not known


@lru_cache(maxsize=32)
def _tokens(text: str) -> tuple[_Token, ...]:
    # Cached: every finder of extract_entities tokenises the same message.
    return tuple(
        _Token(m.start(), m.end(), m.group(), normalize_word(m.group()))
        for m in _WORD.finditer(text)
    )


@dataclass(frozen=True)
class Vocabulary:
    """The profile's service terms and staff names, prepared for fast matching."""

    # A lemma of a term's first word -> (lemma sets of the term's words, service
    # id), longest terms first.
    service_terms: dict[str, tuple[tuple[tuple[frozenset[str], ...], str], ...]]
    # A word form of a staff name or alias -> (staff id, grammatical cases).
    staff_forms: dict[str, tuple[str, frozenset[str]]]

    @classmethod
    def from_profile(cls, profile: BusinessProfile) -> Vocabulary:
        terms: dict[tuple[frozenset[str], ...], str] = {}
        for service in profile.services:
            for phrase in (service.name, *service.synonyms):
                variants = [phrase]
                if "-" in phrase:  # "гель-лак" is also typed as "гельлак"
                    variants.append(phrase.replace("-", ""))
                for variant in variants:
                    words = [normalize_word(w) for w in _WORD.findall(variant)]
                    if words:
                        # Only the best reading of a profile word: "стопы" must not
                        # also stand for the noun "стоп" (and so for "стоп!").
                        term = tuple(frozenset({w, lemma(w)}) for w in words)
                        terms.setdefault(term, service.id)
        by_first: dict[str, list[tuple[tuple[frozenset[str], ...], str]]] = {}
        for term, service_id in sorted(terms.items(), key=lambda item: -len(item[0])):
            for first in term[0]:
                by_first.setdefault(first, []).append((term, service_id))

        forms: dict[str, tuple[str, frozenset[str]]] = {}
        for member in profile.staff:
            for name in (member.name, *member.aliases):
                for form, cases in _name_forms(normalize_word(name)).items():
                    forms.setdefault(form, (member.id, cases))
        return cls(
            service_terms={k: tuple(v) for k, v in by_first.items()},
            staff_forms=forms,
        )


def _name_forms(key: str) -> dict[str, frozenset[str]]:
    """Singular forms of a first name -> the cases each form may stand for."""
    readings = [p for p in morph().parse(key) if "Name" in p.tag]
    forms: dict[str, set[str]] = {}
    for reading in readings[:1]:
        for form in reading.lexeme:
            if form.tag.number == "plur":
                continue
            forms.setdefault(normalize_word(form.word), set()).add(form.tag.case)
    # Known limit: a name pymorphy3 does not know only matches after "к"/"у"/...;
    # lifts when the profile gets an explicit list of its forms.
    forms.setdefault(key, set())
    return {form: frozenset(cases) for form, cases in forms.items()}


def find_services(text: str, vocabulary: Vocabulary) -> list[Found]:
    """Service mentions in any case; the longest profile term wins."""
    tokens = _tokens(text)
    token_lemmas = [lemmas(t.key) for t in tokens]
    found = []
    i = 0
    while i < len(tokens):
        candidates = sorted(
            {
                candidate
                for key in token_lemmas[i]
                for candidate in vocabulary.service_terms.get(key, ())
            },
            key=lambda candidate: -len(candidate[0]),
        )
        for term, service_id in candidates:
            end = i + len(term)
            if end <= len(tokens) and all(
                word & token_lemmas[i + k] for k, word in enumerate(term)
            ):
                found.append(
                    Found("service", service_id, tokens[i].start, tokens[end - 1].end)
                )
                i = end
                break
        else:
            i += 1
    return found


def find_staff(text: str, vocabulary: Vocabulary) -> list[Found]:
    """Staff named as the wanted master, and "any master" phrases (value "any")."""
    tokens = _tokens(text)
    found = []
    for i, token in enumerate(tokens):
        known = vocabulary.staff_forms.get(token.key)
        if known is None:
            continue
        staff_id, cases = known
        after_trigger = i > 0 and tokens[i - 1].key in _STAFF_TRIGGERS
        if after_trigger or cases & _STAFF_CASES:
            found.append(Found("staff", staff_id, token.start, token.end))

    lowered = normalize_word(text)
    for match in _ANY_STAFF.finditer(lowered):
        span = match.span()
        if not any(f.start < span[1] and span[0] < f.end for f in found):
            found.append(Found("staff", ANY_STAFF, span[0], span[1]))
    return sorted(found, key=lambda f: f.start)


def find_people(text: str) -> list[Found]:
    """First names the client wrote in the nominative, or right after "меня зовут"."""
    tokens = _tokens(text)
    found = []
    for i, token in enumerate(tokens):
        if not token.text.isalpha() or len(token.text) < 2:
            continue
        nominative, top, name_or_unknown = _name_reading(token.key)
        capitalised = token.text[0].isupper()
        introduced = i > 0 and tokens[i - 1].key in _INTRODUCTIONS and name_or_unknown
        if (nominative and (top or capitalised)) or (introduced and capitalised):
            value = token.text[0].upper() + token.text[1:].lower()
            found.append(Found("person", value, token.start, token.end))
    return found


def find_fields(text: str) -> list[Found]:
    """Which field a correction is about ("телефон другой" -> phone)."""
    tokens = _tokens(text)
    changes = []
    for i, token in enumerate(tokens):
        if _CHANGE.fullmatch(token.key):
            changes.append(i)
        elif i + 1 < len(tokens) and _CHANGE.fullmatch(
            f"{token.key} {tokens[i + 1].key}"
        ):
            changes.append(i + 1)
    if not changes:
        return []

    found = []
    for j, token in enumerate(tokens):
        for field, pattern in _FIELD_WORDS.items():
            if pattern.fullmatch(token.key) and any(
                abs(i - j) <= _FIELD_DISTANCE for i in changes
            ):
                found.append(Found("field", field, token.start, token.end))
                break
    return found


def find_phone_entities(text: str) -> list[Found]:
    return [Found("phone", raw, start, end) for start, end, raw in find_phones(text)]


WhenParser = Callable[[str, datetime], Any]


def find_when(text: str, now: datetime, parse_when: WhenParser | None) -> list[Found]:
    """The date/time expression `schedule.when.parse_when` recognises, as written."""
    if parse_when is None:
        return []
    preference = parse_when(text, now)
    if preference is None or preference.end <= preference.start:
        return []
    raw = text[preference.start : preference.end]
    return [Found("when", raw, preference.start, preference.end)]


def extract_entities(
    text: str,
    vocabulary: Vocabulary,
    now: datetime,
    parse_when: WhenParser | None = None,
) -> list[Found]:
    """All entities of a message, without overlaps, in the order they appear.

    On overlap the earlier kind in this order wins: phone, staff, service, field,
    when, person (a phone's digits are never a time, a master is never the client).
    """
    if not text or not text.strip():
        return []
    kept: list[Found] = []
    taken = bytearray(len(text))
    finders: tuple[Callable[[], list[Found | None]], ...] = (
        lambda: find_phone_entities(text),
        lambda: find_staff(text, vocabulary),
        lambda: find_services(text, vocabulary),
        lambda: find_fields(text),
        lambda: [_trim(w, text, kept) for w in find_when(text, now, parse_when)],
        lambda: find_people(text),
    )
    for finder in finders:
        for item in finder():
            if item is None:
                continue
            if not any(taken[item.start : item.end]):
                kept.append(item)
                taken[item.start : item.end] = b"\x01" * (item.end - item.start)
    return sorted(kept, key=lambda f: f.start)


def _trim(item: Found, text: str, kept: list[Found]) -> Found | None:
    """The longest part of a `when` span that no other entity covers.

    parse_when's span runs from its first to its last expression, so in
    "завтра к Анне в 15" it covers the master too.
    """
    cuts = sorted(
        (k.start, k.end) for k in kept if k.start < item.end and item.start < k.end
    )
    pieces = []
    position = item.start
    for start, end in cuts:
        pieces.append((position, start))
        position = max(position, end)
    pieces.append((position, item.end))
    best = None
    for start, end in pieces:
        raw = text[start:end]
        stripped = _DANGLING.sub("", raw.strip(" \t\n,.;:!?-"))
        if not any(ch.isalnum() for ch in stripped):
            continue
        start += raw.index(stripped)
        end = start + len(stripped)
        if best is None or end - start > best.end - best.start:
            best = Found("when", stripped, start, end)
    return best
