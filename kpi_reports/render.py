"""Renderers of a report: a Russian terminal table, JSON and a two-column CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from business.russian import channel_name, counted
from kpi_reports.compare import comparison_rows
from kpi_reports.wording import duration_text, percent_text, rubles_text


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def render_csv(report: dict[str, Any]) -> str:
    """One ``metric,value`` row per figure; nested keys joined with dots."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "value"])
    for key, value in _flat(report):
        writer.writerow([key, "" if value is None else value])
    return out.getvalue()


_ITEM_NAMES = ("id", "date", "bucket")


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flat(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        # Managers by their id, days by their date, buckets by their label.
        for item in value:
            name = next(key for key in _ITEM_NAMES if key in item)
            fields = {k: v for k, v in item.items() if k != name}
            yield from _flat(fields, f"{prefix}{item[name]}.")
    else:
        yield prefix.rstrip("."), value


def render_table(report: dict[str, Any], business_name: str) -> str:
    """A readable report in Russian for the owner's terminal."""
    period = report["period"]
    since = date.fromisoformat(period["since"])
    until = date.fromisoformat(period["until"])
    response = report["first_response_seconds"]
    lines = [
        f"{business_name}: отчёт с {since:%d.%m.%Y} по {until:%d.%m.%Y} "
        f"({period['timezone']})",
        "",
        _row(
            "Заявки",
            f"{_leads(report['leads'])}, с телефоном {report['qualified_leads']}, "
            f"пропущено {report['missed_leads']}, "
            f"обработано {percent_text(report['processed_share'])}",
        ),
        _row(
            "Первый ответ",
            f"медиана {duration_text(response['median'])}, "
            f"p90 {duration_text(response['p90'])}, "
            f"до 5 минут {percent_text(response['under_5_min_share'])}",
        ),
        _row(
            "Записи",
            f"{_bookings(report['bookings'])}, "
            f"конверсия из заявки {percent_text(report['lead_to_booking'])}",
        ),
        _row(
            "Визиты",
            f"{_visits(report['visits'])}, "
            f"{counted(report['no_shows'], 'неявка', 'неявки', 'неявок')}, "
            f"{counted(report['cancellations'], 'отмена', 'отмены', 'отмен')}; "
            f"доходимость {percent_text(report['show_rate'])}",
        ),
        _row(
            "Выручка",
            f"{rubles_text(report['revenue'])}, "
            f"средний чек {rubles_text(report['average_check'])}",
        ),
        _row(
            "Клиенты",
            f"повторные {percent_text(report['repeat_client_share'])}, "
            f"LTV {rubles_text(report['ltv'])}",
        ),
        _row("Напоминания", _reminders_text(report)),
    ]
    handoffs = report.get("handoffs")
    if handoffs and handoffs["count"]:
        pickup = handoffs["pickup_seconds"]
        sla = round(handoffs["sla_seconds"] / 60)
        lines.append(
            _row(
                "Передачи",
                f"{counted(handoffs['count'], 'передача', 'передачи', 'передач')}, "
                f"взято {handoffs['taken']}, "
                f"реакция: медиана {duration_text(pickup['median'])}, "
                f"p90 {duration_text(pickup['p90'])}, "
                f"за {counted(sla, 'минуту', 'минуты', 'минут')} "
                f"{percent_text(pickup['under_sla_share'])}",
            )
        )
    if report["by_channel"]:
        lines += ["", "По каналам"]
        for channel, figures in report["by_channel"].items():
            lines.append(
                _row(
                    f"  {channel_name(channel)}",
                    f"{_leads(figures['leads'])}, {_bookings(figures['bookings'])}, "
                    f"{_visits(figures['visits'])}, {rubles_text(figures['revenue'])}",
                )
            )
    if report["managers"]:
        lines += ["", "Менеджеры"]
        for manager in report["managers"]:
            lines.append(
                _row(
                    f"  {manager['name']}",
                    f"{_leads(manager['leads'])}, {_bookings(manager['bookings'])}, "
                    f"{_visits(manager['visits'])}, "
                    f"выручка {rubles_text(manager['revenue'])}, "
                    f"бонус {rubles_text(manager['bonus'])}",
                )
            )
    if "compare" in report:
        lines += ["", *_comparison_lines(report)]
    return "\n".join(lines) + "\n"


def _comparison_lines(report: dict[str, Any]) -> list[str]:
    other = report["compare"]["period"]
    since = date.fromisoformat(other["since"])
    until = date.fromisoformat(other["until"])
    lines = [
        f"Сравнение с периодом {since:%d.%m.%Y}–{until:%d.%m.%Y}",
        f"{'':<24}{'сейчас':>14}{'было':>14}{'изменение':>16}",
    ]
    for label, now, before, change in comparison_rows(report):
        lines.append(f"{label:<24}{now:>14}{before:>14}{change:>16}")
    return lines


def _reminders_text(report: dict[str, Any]) -> str:
    return (
        f"отправлено {report['reminders_sent']}, подтвердили {report['reminder_confirmations']}, "
        f"отменили {report['reminder_cancellations']}, "
        f"перенесли {report['reminder_moves']}"
    )


def _row(label: str, text: str) -> str:
    return f"{label:<15} {text}"  # at least one space after a long label


def _leads(count: int) -> str:
    return counted(count, "заявка", "заявки", "заявок")


def _bookings(count: int) -> str:
    return counted(count, "запись", "записи", "записей")


def _visits(count: int) -> str:
    return counted(count, "визит", "визита", "визитов")
