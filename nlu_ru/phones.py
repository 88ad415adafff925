"""Phone numbers in client messages: finding what looks like one and normalising it."""

from __future__ import annotations

import re

import phonenumbers

# Digits joined by spaces, dashes and brackets, optionally led by "+" or "(".
# Dots, colons and slashes are left out on purpose: they mark dates and times.
_CANDIDATE = re.compile(r"(?<![\w+.,:/])\+?\(?\d[\d \t\-()]*\d(?![\w:/]|[.,]\d)")
_PRICE_AFTER = re.compile(r"\s*(?:руб|р\b|р\.|₽|rub|тыс|k\b|к\b)", re.IGNORECASE)
_DATE_LIKE = re.compile(r"\d{1,2}[-\s]\d{1,2}[-\s]\d{2,4}|\d{4}-\d{1,2}-\d{1,2}")
_MIN_DIGITS = 7
_MIN_DIGITS_WITH_PREFIX = 5


def find_phones(text: str) -> list[tuple[int, int, str]]:
    """Spans (start, end, raw text) of everything a client probably meant as a phone.

    Too short or too long numbers are kept when they look like an attempt at a
    phone (a "+" or a leading 89/79), so the dialogue can ask for a correction.
    """
    found = []
    for match in _CANDIDATE.finditer(text):
        raw = match.group()
        digits = re.sub(r"\D", "", raw)
        looks_prefixed = raw.startswith("+") or digits.startswith(("89", "79"))
        if len(digits) < _MIN_DIGITS and not (
            looks_prefixed and len(digits) >= _MIN_DIGITS_WITH_PREFIX
        ):
            continue
        if _DATE_LIKE.fullmatch(raw) or _PRICE_AFTER.match(text, match.end()):
            continue
        found.append((match.start(), match.end(), raw))
    return found


def normalize_phone(raw: str, region: str = "RU") -> str | None:
    """The number in E.164 form ("+79131234567") when it is a valid one, else None."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
