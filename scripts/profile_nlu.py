"""Writes data/generated/profile_nlu.yml: NLU examples made from the business profile.

Only the profile's vocabulary goes in (service names and synonyms, staff names, FAQ
questions and keywords), never prices or hours, and the file is rewritten only when
its content changes: Rasa retrains only when the words the bot must know change.

Usage: PYTHONPATH=. python scripts/profile_nlu.py [--profile business.yml] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from business.profile import BusinessProfile, ProfileError, load_profile
from nlu_ru.matching import Vocabulary, find_services, morph

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "data" / "generated" / "profile_nlu.yml"

# Templates by the case the service phrase takes in them.
BOOK = {
    "accs": (
        "хочу записаться на {}",
        "запишите меня на {}",
        "можно на {} [завтра](when)?",
        "есть время на {}?",
    ),
    "nomn": ("нужна запись, {}",),
    "infn": ("хочу {}", "можно {} у вас?"),
}
PRICES = {
    "nomn": ("сколько стоит {}", "{} цена"),
    "accs": ("цены на {}",),
    "gent": ("стоимость {}",),
    "infn": ("сколько стоит {}",),
}
INFORM = {"nomn": ("{}",), "accs": ("на {}",), "infn": ("{}",)}
STAFF_INFORM = (("datv", "к {}"), ("datv", "хочу к {}"), ("gent", "у {}"))


def inflect_phrase(phrase: str, case: str) -> str | None:
    """The phrase with its leading adjectives and head noun put in `case`.

    Words after the head noun ("бровей" in "коррекция бровей") keep their form.
    None when the phrase starts with a verb, which has no case.
    """
    words = phrase.lower().split()
    out = []
    for index, full in enumerate(words):
        # "гель-лак": only the last part declines ("гель-лаком").
        prefix, _, word = full.rpartition("-")
        prefix = f"{prefix}-" if prefix else ""
        parse = _nominative_reading(word)
        if index == 0 and parse.tag.POS == "INFN":
            return None
        if parse.tag.POS not in ("NOUN", "ADJF"):
            out.extend(words[index:])
            break
        wanted = {case, parse.tag.number} if parse.tag.number else {case}
        inflected = parse.inflect(wanted)
        out.append(prefix + (inflected.word if inflected else word))
        if parse.tag.POS == "NOUN":
            out.extend(words[index + 1 :])
            break
    return " ".join(out)


def _nominative_reading(word: str) -> Any:
    """The reading of a profile word as written there: nominative, inanimate first
    ("стопы" is the plural of "стопа", "гель-лак" a thing, not a person)."""
    parses = morph().parse(word)
    nominative = [p for p in parses if p.tag.case == "nomn"] or parses
    return next((p for p in nominative if p.tag.animacy != "anim"), nominative[0])


def _entity(text: str, entity: str, value: str) -> str:
    return f"[{text}]" + json.dumps(
        {"entity": entity, "value": value}, ensure_ascii=False
    )


def _service_examples(
    profile: BusinessProfile, templates: dict[str, tuple[str, ...]]
) -> set[str]:
    vocabulary = Vocabulary.from_profile(profile)
    examples = set()
    for service in profile.services:
        for phrase in (service.name, *service.synonyms):
            starts_with_verb = inflect_phrase(phrase, "nomn") is None
            for case, patterns in templates.items():
                if (case == "infn") != starts_with_verb:
                    continue
                form = (
                    phrase.lower() if case == "infn" else inflect_phrase(phrase, case)
                )
                # A form the extractor would not find as this service (the
                # genitive "стоп" of "стопы" reads as "stop!") would teach the
                # classifier a word the extractor ignores: leave it out.
                if form is None or [
                    (f.value, f.start, f.end) for f in find_services(form, vocabulary)
                ] != [(service.id, 0, len(form))]:
                    continue
                for pattern in patterns:
                    examples.add(pattern.format(_entity(form, "service", service.id)))
    return examples


def _staff_examples(profile: BusinessProfile) -> set[str]:
    examples = set()
    for member in profile.staff:
        for name in (member.name, *member.aliases):
            readings = [p for p in morph().parse(name) if "Name" in p.tag]
            if not readings:
                continue
            for case, pattern in STAFF_INFORM:
                form = readings[0].inflect({case, "sing"})
                if form is not None:
                    word = form.word.capitalize()
                    examples.add(pattern.format(_entity(word, "staff", member.id)))
    return examples


def _faq_examples(profile: BusinessProfile) -> set[str]:
    texts = set()
    for entry in profile.faq:
        texts.add(entry.question)
        texts.add(entry.question.lower().rstrip("?"))
        texts.update(keyword.lower() for keyword in entry.keywords)

    # Questions may name a service ("какой гель-лак"): annotate it as the extractor
    # will find it, or `rasa test nlu` counts it as a false positive.
    vocabulary = Vocabulary.from_profile(profile)
    examples = set()
    for text in texts:
        for found in reversed(find_services(text, vocabulary)):
            marked = _entity(text[found.start : found.end], "service", found.value)
            text = text[: found.start] + marked + text[found.end :]
        examples.add(text)
    return examples


def render(profile: BusinessProfile) -> str:
    """The generated NLU file for `profile`: sorted, so the same profile gives the same
    bytes."""
    intents = {
        "book": _service_examples(profile, BOOK),
        "ask_prices": _service_examples(profile, PRICES),
        "inform": _service_examples(profile, INFORM) | _staff_examples(profile),
        "faq": _faq_examples(profile),
    }
    lines = [
        "# Generated by scripts/profile_nlu.py from the business profile; do not edit.",
        'version: "3.1"',
        "nlu:",
    ]
    for intent, examples in intents.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {example}" for example in sorted(examples)]
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, content: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="default: $BUSINESS_PROFILE or business.yml")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        profile = load_profile(args.profile)
    except ProfileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    changed = write_if_changed(args.out, render(profile))
    print(f"{args.out}: {'written' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
