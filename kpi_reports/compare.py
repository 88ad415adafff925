"""Two periods side by side: the figures of both and the change from one to the other.

Owners typically compare the 14 days after switching the bot on with the 14 before.
`delta` holds current minus previous for every number both periods have (null where
either is null), per channel and per manager too. It leaves out the period itself and
the chart data (``by_day``, ``first_response_histogram``): days of two periods do not
pair up, and a bucket's change says little that the figures do not.
"""

from __future__ import annotations

from typing import Any

from kpi_reports.wording import duration_text, percent_text, rubles_text

_NOT_SUBTRACTED = ("period", "by_day", "first_response_histogram")

# Figures rendered in the comparison table, with how to show a value and a change.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("Заявки", "leads", "count"),
    ("Обработано", "processed_share", "share"),
    ("Первый ответ, медиана", "first_response_seconds.median", "seconds"),
    ("Записи", "bookings", "count"),
    ("Конверсия в запись", "lead_to_booking", "share"),
    ("Визиты", "visits", "count"),
    ("Доходимость", "show_rate", "share"),
    ("Неявки", "no_show_rate", "share"),
    ("Выручка", "revenue", "rubles"),
    ("Средний чек", "average_check", "rubles"),
)


def with_comparison(
    current: dict[str, Any], previous: dict[str, Any]
) -> dict[str, Any]:
    return {**current, "compare": previous, "delta": delta(current, previous)}


def delta(current: Any, previous: Any) -> Any:
    """Current minus previous, key by key; managers matched by their id."""
    if isinstance(current, dict) and isinstance(previous, dict):
        return {
            key: delta(value, previous.get(key))
            for key, value in current.items()
            if key not in _NOT_SUBTRACTED
        }
    if isinstance(current, list):
        before = {item["id"]: item for item in previous or []}
        return [
            {
                "id": item["id"],
                **delta(
                    {k: v for k, v in item.items() if k not in ("id", "name")},
                    before.get(item["id"], {}),
                ),
            }
            for item in current
        ]
    if _number(current) and _number(previous):
        return round(current - previous, 4)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def pick(report: dict[str, Any], path: str) -> Any:
    value: Any = report
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def show(value: Any, kind: str, signed: bool = False) -> str:
    if value is None:
        return "—"
    sign = "+" if signed and value > 0 else ""
    if kind == "share" and signed:
        # A change of a share is in percentage points: 12 % → 26 % is +14 п. п.
        points = f"{abs(value) * 100:.1f}".rstrip("0").rstrip(".").replace(".", ",")
        return f"{'−' if value < 0 else sign}{points}\u00a0п.\u00a0п."
    if kind == "share":
        return percent_text(value)
    if kind == "rubles":
        return f"{'−' if value < 0 else sign}{rubles_text(abs(value))}"
    if kind == "seconds":
        return f"{'−' if value < 0 else sign}{duration_text(abs(value))}"
    return f"{'−' if value < 0 else sign}{abs(value)}"


def comparison_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(label, this period, the other period, change) for the table and the page."""
    rows = []
    for label, path, kind in ROWS:
        rows.append(
            (
                label,
                show(pick(report, path), kind),
                show(pick(report["compare"], path), kind),
                show(pick(report["delta"], path), kind, signed=True),
            )
        )
    return rows
