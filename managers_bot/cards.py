"""The lead card in the managers' chat: its Russian text and its buttons."""

from __future__ import annotations

from datetime import datetime, tzinfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from business.profile import BusinessProfile
from business.russian import MONTHS_GENITIVE, channel_name
from managers_bot.leads import HotLead, LeadDetails
from managers_bot.store import Card

TITLES = {
    "booking": "Новая запись",
    "handoff": "Клиент просит менеджера",
    "misunderstood": "Бот дважды не понял клиента",
    "keywords": "Сообщение требует внимания",
}
OUTCOMES = {
    "attended": "клиент пришёл",
    "no_show": "клиент не пришёл",
    "cancelled": "запись отменена",
}
WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
_MAX_LINE = 120

# Callback data: "<action>:<card id>"; Telegram allows at most 64 bytes.
TAKE, CAME, NO_SHOW, CANCEL, BACK_TO_BOT = "take", "came", "noshow", "cancel", "bot"


def when_text(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return (
        f"{local.day} {MONTHS_GENITIVE[local.month - 1]} "
        f"({WEEKDAYS[local.weekday()]}), {local:%H:%M}"
    )


def card_text(
    card: Card,
    lead: HotLead | None,
    details: LeadDetails,
    profile: BusinessProfile,
) -> str:
    title = TITLES.get(card.kind, "Заявка")
    if lead is not None and lead.keyword:
        title += f" («{lead.keyword}»)"
    staff = profile.staff_member(details.staff_id or "")
    lines = [
        f"🔥 {title}",
        f"Клиент: {details.name or 'не представился'}",
        f"Телефон: {details.phone or 'не оставил'}",
        f"Услуга: {details.service or '—'}",
    ]
    if details.starts_at is not None:
        slot = when_text(details.starts_at, profile.timezone)
        lines.append(f"Время: {slot}" + (f", мастер {staff.name}" if staff else ""))
    lines.append(f"Канал: {channel_name(details.channel)}")
    if details.history:
        lines += ["", "Последние сообщения:"]
        for who, text in details.history:
            short = text if len(text) <= _MAX_LINE else text[: _MAX_LINE - 1] + "…"
            lines.append(f"{'Клиент' if who == 'client' else 'Бот'}: {short}")
    return "\n".join(lines)


def status_lines(card: Card, profile: BusinessProfile) -> list[str]:
    names = {m.id: m.name for m in profile.managers}
    lines = []
    if card.taken_by and card.taken_at is not None:
        taken = datetime.fromtimestamp(card.taken_at, profile.timezone)
        lines.append(
            f"✅ Ведёт: {names.get(card.taken_by, card.taken_by)} "
            f"(взято в {taken:%H:%M})"
        )
    if card.takeover:
        lines.append(
            "Бот молчит в этом разговоре. Ответьте на эту карточку, чтобы написать "
            "клиенту; /bot в ответе вернёт разговор боту."
        )
    elif card.taken_by and card.kind != "booking":
        lines.append("Разговор ведёт бот.")
    if card.outcome:
        lines.append(f"Итог: {OUTCOMES.get(card.outcome, card.outcome)}")
    return lines


def keyboard(card: Card) -> InlineKeyboardMarkup:
    rows = []
    if card.taken_by is None:
        rows.append([InlineKeyboardButton("Взять", callback_data=f"{TAKE}:{card.id}")])
    if card.outcome is None:
        rows.append(
            [
                InlineKeyboardButton("Пришёл", callback_data=f"{CAME}:{card.id}"),
                InlineKeyboardButton("Не пришёл", callback_data=f"{NO_SHOW}:{card.id}"),
                InlineKeyboardButton("Отменить", callback_data=f"{CANCEL}:{card.id}"),
            ]
        )
    if card.takeover:
        rows.append(
            [
                InlineKeyboardButton(
                    "Вернуть боту", callback_data=f"{BACK_TO_BOT}:{card.id}"
                )
            ]
        )
    return InlineKeyboardMarkup(rows)
