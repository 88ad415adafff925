"""The owner's command line over the CRM: ``python -m crm_connector deals``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from crm_connector import DEAL_STATUSES, CRMError, Deal, create_crm

DEFAULT_PROFILE = "business.yml"
DEFAULT_TIMEZONE = "Asia/Omsk"

STATUS_NAMES = {
    "booked": "записан",
    "cancelled": "отменена",
    "attended": "пришёл",
    "no_show": "не пришёл",
}
HEADERS = ("№", "Клиент", "Телефон", "Услуга", "Мастер", "Начало", "Цена", "Статус")


class CLIError(Exception):
    """A problem outside the CRM (the profile), shown as a one-line message."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (CRMError, CLIError) as exc:
        print(f"crm_connector: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m crm_connector", description="The built-in CRM."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    deals = commands.add_parser("deals", help="list deals")
    deals.add_argument("--format", choices=("table", "json"), default="table")
    deals.add_argument("--status", choices=DEAL_STATUSES)
    deals.add_argument("--phone", help="E.164, e.g. +79991234567")
    deals.add_argument("--conversation", metavar="ID", help="conversation id")
    deals.add_argument("--db", metavar="URL", help="default: $CRM_DB_URL or var/crm.db")
    deals.set_defaults(handler=list_deals)
    return parser


def list_deals(args: argparse.Namespace) -> None:
    tz = business_timezone()
    crm = create_crm(args.db)
    try:
        deals = crm.deals(
            status=args.status, phone=args.phone, conversation_id=args.conversation
        )
    finally:
        crm.close()

    if args.format == "json":
        payload = [deal.to_json(tz) for deal in deals]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(render_table(deals, tz))


def business_timezone() -> tzinfo:
    """Read ``timezone`` from the business profile, or Asia/Omsk without one."""
    path = Path(os.environ.get("BUSINESS_PROFILE") or DEFAULT_PROFILE)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ZoneInfo(DEFAULT_TIMEZONE)
    except OSError as exc:
        raise CLIError(f"cannot read business profile {path}: {exc.strerror}") from exc
    try:
        profile = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CLIError(f"business profile {path} is not valid YAML") from exc

    name = profile.get("timezone") if isinstance(profile, dict) else None
    if not name:
        return ZoneInfo(DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CLIError(f"unknown time zone {name!r} in {path}") from exc


def render_table(deals: Sequence[Deal], tz: tzinfo) -> str:
    if not deals:
        return "Записей нет."
    rows = [
        (
            str(deal.id),
            deal.contact_name,
            deal.phone,
            deal.service_name,
            deal.staff_id,
            deal.starts_at.astimezone(tz).strftime("%d.%m.%Y %H:%M"),
            _rubles(deal.price),
            STATUS_NAMES.get(deal.status, deal.status),
        )
        for deal in deals
    ]
    widths = [max(len(row[i]) for row in (HEADERS, *rows)) for i in range(len(HEADERS))]
    lines = [_line(HEADERS, widths), _line(tuple("-" * w for w in widths), widths)]
    lines.extend(_line(row, widths) for row in rows)
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
    return "  ".join(padded).rstrip()


def _rubles(amount: object) -> str:
    # Russian grouping: a space between thousands and a comma before kopecks.
    return f"{amount:,.2f}".replace(",", " ").replace(".", ",")
