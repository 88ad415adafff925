"""The report as one self-contained HTML page: figures, leads and bookings per day, the
first-response times, a funnel and bar charts, all drawn in SVG.

Nothing is fetched from elsewhere (no scripts, fonts or styles from a CDN), so the file
opens offline and can be sent to an owner as it is.
"""

from __future__ import annotations

import math
from datetime import date
from html import escape
from typing import Any

from business.russian import channel_name
from kpi_reports.compare import comparison_rows
from kpi_reports.wording import duration_text, percent_text, rubles_text

_BAR_HEIGHT = 26
_LABEL_WIDTH = 150
_CHART_WIDTH = 560
_DAILY_WIDTH = 720
_DAILY_HEIGHT = 220
_DAY_LABEL_WIDTH = 40  # room a "dd.mm" label needs, so long periods label fewer days
_LEADS_COLOR = "#3e7bfa"
_BOOKINGS_COLOR = "#27ab83"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
       color: #1f2933; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.period { color: #616e7c; margin-top: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr));
         gap: .8rem; margin: 1.5rem 0; }
.card { background: #f5f7fa; border-radius: .5rem; padding: .8rem 1rem; }
.card .value { font-size: 1.5rem; font-weight: 600; }
.card .label { color: #616e7c; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e4e7eb; }
td.num, th.num { text-align: right; }
svg { max-width: 100%; height: auto; }
svg text { font-size: 13px; fill: #1f2933; }
svg text.small { font-size: 11px; fill: #616e7c; }
"""


def render_html(report: dict[str, Any], business_name: str) -> str:
    period = report["period"]
    since = date.fromisoformat(period["since"])
    until = date.fromisoformat(period["until"])
    response = report["first_response_seconds"]
    cards = [
        (
            "Заявки",
            str(report["leads"]),
            f"обработано {percent_text(report['processed_share'])}",
        ),
        (
            "Первый ответ, медиана",
            duration_text(response["median"]),
            f"до 5 минут {percent_text(response['under_5_min_share'])}",
        ),
        (
            "Записи",
            str(report["bookings"]),
            f"конверсия {percent_text(report['lead_to_booking'])}",
        ),
        (
            "Визиты",
            str(report["visits"]),
            f"доходимость {percent_text(report['show_rate'])}",
        ),
        ("Неявки", str(report["no_shows"]), f"отмены: {report['cancellations']}"),
        (
            "Выручка",
            rubles_text(report["revenue"]),
            f"средний чек {rubles_text(report['average_check'])}",
        ),
        (
            "Повторные клиенты",
            percent_text(report["repeat_client_share"]),
            f"LTV {rubles_text(report['ltv'])}",
        ),
        (
            "Напоминания",
            str(report["reminders_sent"]),
            f"подтвердили {report['reminder_confirmations']}, "
            f"отменили {report['reminder_cancellations']}",
        ),
    ]
    handoffs = report.get("handoffs")
    if handoffs and handoffs["count"]:
        cards.append(
            (
                "Передачи менеджеру",
                str(handoffs["count"]),
                f"взято {handoffs['taken']}, реакция: медиана "
                f"{duration_text(handoffs['pickup_seconds']['median'])}, "
                f"в срок {percent_text(handoffs['pickup_seconds']['under_sla_share'])}",
            )
        )
    funnel = [
        ("Заявки", report["leads"]),
        ("С телефоном", report["qualified_leads"]),
        ("Записи", report["bookings"]),
        ("Визиты", report["visits"]),
    ]
    channels = [
        (channel_name(name), c["leads"]) for name, c in report["by_channel"].items()
    ]
    bonuses = [(m["name"], m["bonus"]) for m in report["managers"]]
    responses = [(b["bucket"], b["leads"]) for b in report["first_response_histogram"]]

    parts = [
        "<!doctype html>",
        '<html lang="ru"><head><meta charset="utf-8">',
        f"<title>{escape(business_name)}: отчёт</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(business_name)}</h1>",
        f'<p class="period">с {since:%d.%m.%Y} по {until:%d.%m.%Y} '
        f"({escape(period['timezone'])})</p>",
        '<div class="cards">',
        *(
            f'<div class="card"><div class="label">{escape(label)}</div>'
            f'<div class="value">{escape(value)}</div>'
            f'<div class="label">{escape(note)}</div></div>'
            for label, value, note in cards
        ),
        "</div>",
        "<h2>Заявки и записи по дням</h2>",
        _daily_chart(report["by_day"]),
        "<h2>Время первого ответа</h2>",
        _bars(responses, "#9446ed", str),
        "<h2>Воронка</h2>",
        _bars(funnel, "#3e7bfa", str),
        "<h2>Заявки по каналам</h2>",
        _bars(channels, "#27ab83", str) if channels else "<p>Заявок нет.</p>",
        "<h2>Бонусы менеджеров</h2>",
        _bars(bonuses, "#f0b429", rubles_text) if bonuses else "<p>Менеджеров нет.</p>",
        _managers_table(report["managers"]),
        _comparison_table(report) if "compare" in report else "",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _bars(items: list[tuple[str, Any]], color: str, show: Any) -> str:
    """Horizontal bars, one per item, scaled to the largest value."""
    top = max((value or 0 for _, value in items), default=0) or 1
    height = _BAR_HEIGHT * len(items) + 6
    room = _CHART_WIDTH - _LABEL_WIDTH - 110
    rows = []
    for index, (label, value) in enumerate(items):
        y = index * _BAR_HEIGHT + 3
        width = max(room * (value or 0) / top, 1)
        rows.append(
            f'<text x="0" y="{y + 17}">{escape(str(label))}</text>'
            f'<rect x="{_LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" '
            f'height="{_BAR_HEIGHT - 8}" rx="3" fill="{color}"/>'
            f'<text x="{_LABEL_WIDTH + width + 6:.1f}" y="{y + 17}">'
            f"{escape(show(value))}</text>"
        )
    return (
        f'<svg role="img" width="{_CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_CHART_WIDTH} {height}">{"".join(rows)}</svg>'
    )


def _daily_chart(days: list[dict[str, Any]]) -> str:
    """Leads and bookings of each day as pairs of bars, days labelled dd.mm."""
    left, top, bottom = 36, 30, 24
    plot_width = _DAILY_WIDTH - left - 6
    plot_height = _DAILY_HEIGHT - top - bottom
    base = top + plot_height
    highest = max((max(d["leads"], d["bookings"]) for d in days), default=0)
    scale = plot_height / (highest or 1)
    slot = plot_width / max(len(days), 1)
    bar = max(slot * 0.38, 1.0)
    every = math.ceil(_DAY_LABEL_WIDTH / slot)

    parts = [
        _legend(left, _LEADS_COLOR, "Заявки"),
        _legend(left + 90, _BOOKINGS_COLOR, "Записи"),
        f'<line x1="{left}" y1="{base}" x2="{left + plot_width}" y2="{base}" '
        'stroke="#9aa5b1"/>',
        f'<text class="small" x="{left - 6}" y="{base + 4}" text-anchor="end">0</text>',
    ]
    if highest:
        parts += [
            f'<line x1="{left}" y1="{top}" x2="{left + plot_width}" y2="{top}" '
            'stroke="#e4e7eb"/>',
            f'<text class="small" x="{left - 6}" y="{top + 4}" text-anchor="end">'
            f"{highest}</text>",
        ]
    for index, day in enumerate(days):
        x = left + index * slot + (slot - 2 * bar) / 2
        shown = f"{date.fromisoformat(day['date']):%d.%m}"
        for offset, key, color, name in (
            (0.0, "leads", _LEADS_COLOR, "заявки"),
            (bar, "bookings", _BOOKINGS_COLOR, "записи"),
        ):
            height = day[key] * scale
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{base - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}" fill="{color}">'
                f"<title>{escape(shown)}: {name} {day[key]}</title></rect>"
            )
        if index % every == 0:
            parts.append(
                f'<text class="small" x="{x + bar:.1f}" y="{base + 16}" '
                f'text-anchor="middle">{escape(shown)}</text>'
            )
    return (
        f'<svg role="img" aria-label="Заявки и записи по дням" width="{_DAILY_WIDTH}" '
        f'height="{_DAILY_HEIGHT}" viewBox="0 0 {_DAILY_WIDTH} {_DAILY_HEIGHT}">'
        f"{''.join(parts)}</svg>"
    )


def _legend(x: int, color: str, label: str) -> str:
    return (
        f'<rect x="{x}" y="6" width="12" height="12" fill="{color}"/>'
        f'<text x="{x + 18}" y="17">{escape(label)}</text>'
    )


def _managers_table(managers: list[dict[str, Any]]) -> str:
    if not managers:
        return ""
    head = (
        "<tr><th>Менеджер</th><th class=num>Заявки</th><th class=num>Записи</th>"
        "<th class=num>Визиты</th><th class=num>Выручка</th><th class=num>Бонус</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{escape(m['name'])}</td><td class=num>{m['leads']}</td>"
        f"<td class=num>{m['bookings']}</td><td class=num>{m['visits']}</td>"
        f"<td class=num>{escape(rubles_text(m['revenue']))}</td>"
        f"<td class=num>{escape(rubles_text(m['bonus']))}</td></tr>"
        for m in managers
    )
    return f"<table>{head}{rows}</table>"


def _comparison_table(report: dict[str, Any]) -> str:
    other = report["compare"]["period"]
    since = date.fromisoformat(other["since"])
    until = date.fromisoformat(other["until"])
    head = (
        f"<h2>Сравнение с {since:%d.%m.%Y}–{until:%d.%m.%Y}</h2>"
        "<table><tr><th></th><th class=num>Сейчас</th><th class=num>Было</th>"
        "<th class=num>Изменение</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{escape(label)}</td><td class=num>{escape(now)}</td>"
        f"<td class=num>{escape(before)}</td><td class=num>{escape(change)}</td></tr>"
        for label, now, before, change in comparison_rows(report)
    )
    return f"{head}{rows}</table>"
