"""Figures in Russian as owners read them: percents, rubles, durations."""

from __future__ import annotations

NBSP = "\u00a0"
DASH = "—"


def percent_text(share: float | None) -> str:
    if share is None:
        return DASH
    text = f"{share * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text.replace('.', ',')}{NBSP}%"


def rubles_text(amount: float | None) -> str:
    if amount is None:
        return DASH
    text = f"{amount:,.2f}".replace(",", NBSP).replace(".", ",")
    return f"{text.removesuffix(',00')}{NBSP}₽"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest}{NBSP}с"
    return f"{minutes}{NBSP}мин {rest}{NBSP}с" if rest else f"{minutes}{NBSP}мин"
