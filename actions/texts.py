"""Russian wording shared by the actions: dates, money, plurals and buttons."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import phonenumbers

from business.profile import Service
from business.russian import MONTHS_GENITIVE, counted, plural  # noqa: F401

WEEKDAYS_SHORT = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")


def day_text(day: date, today: date | None = None) -> str:
    """'сегодня, 3 декабря', 'завтра, 4 декабря' or 'пт, 5 декабря'."""
    label = f"{day.day} {MONTHS_GENITIVE[day.month - 1]}"
    if today is not None and (day - today).days == 0:
        return f"сегодня, {label}"
    if today is not None and (day - today).days == 1:
        return f"завтра, {label}"
    return f"{WEEKDAYS_SHORT[day.weekday()]}, {label}"


def moment_text(moment: datetime, today: date | None = None) -> str:
    return f"{day_text(moment.date(), today)}, {moment:%H:%M}"


def money(amount: Decimal | int) -> str:
    """Rubles as an owner writes them: '1 500 ₽', '1 250,50 ₽'."""
    value = Decimal(amount)
    whole = int(value)
    text = f"{whole:,}".replace(",", "\u00a0")
    cents = int((value - whole) * 100)
    if cents:
        text += f",{cents:02d}"
    return f"{text}\u00a0₽"


def minutes_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(counted(hours, "час", "часа", "часов"))
    if rest:
        parts.append(counted(rest, "минута", "минуты", "минут"))
    return " ".join(parts)


def payload(intent: str, **entities: Any) -> str:
    """A button payload Rasa reads as an intent with entities, no NLU involved."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}"


def button(title: str, intent: str, **entities: Any) -> dict[str, str]:
    return {"title": title, "payload": payload(intent, **entities)}


def main_menu() -> list[dict[str, str]]:
    return [
        button("Записаться", "book"),
        button("Цены", "ask_prices"),
        button("Адрес и часы работы", "ask_location"),
        button("Связаться с администратором", "request_human"),
    ]


def phone_text(e164: str) -> str:
    """A stored E.164 phone as people read it: +7 913 123-45-67."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


def service_buttons(services: Iterable[Service], intent: str) -> list[dict[str, str]]:
    """One button per service with its price, sending `intent` with the service id."""
    return [
        button(f"{s.name} — {money(s.price)}", intent, service=s.id) for s in services
    ]
