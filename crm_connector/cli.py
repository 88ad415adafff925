"""The owner's command line over the CRM: ``python -m crm_connector deals``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from business.profile import ProfileError, load_profile
from conversation_log import ConversationLog, ConversationLogError
from crm_connector import DEAL_STATUSES, OUTCOMES, CRMError, Deal, create_crm
from crm_connector.outcomes import reassign, record_outcome

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
    except (CRMError, CLIError, ConversationLogError, ValueError) as exc:
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

    mark = commands.add_parser(
        "mark", help="record a visit, a no-show or a cancellation of a deal"
    )
    mark.add_argument("deal_id", type=int, metavar="DEAL_ID")
    mark.add_argument("outcome", choices=OUTCOMES, metavar="attended|no_show|cancelled")
    mark.add_argument(
        "--amount", type=_rubles_arg, metavar="RUB", help="paid at the visit"
    )
    mark.add_argument("--manager", metavar="ID", help="the manager who handled it")
    _store_options(mark)
    mark.set_defaults(handler=mark_deal)

    assign = commands.add_parser("assign", help="give a deal to a manager")
    assign.add_argument("deal_id", type=int, metavar="DEAL_ID")
    assign.add_argument("manager", metavar="MANAGER_ID")
    _store_options(assign)
    assign.set_defaults(handler=assign_deal)
    return parser


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="URL", help="default: $CRM_DB_URL or var/crm.db"
    )
    parser.add_argument(
        "--log",
        metavar="URL",
        help="the conversation log; default: $TRACKER_STORE_URL or var/tracker.db",
    )


def _rubles_arg(text: str) -> Decimal:
    try:
        amount = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount of rubles: {text!r}") from None
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError("the amount must be zero or more rubles")
    return amount


def _open_log(url: str | None) -> ConversationLog:
    return ConversationLog(
        url or os.environ.get("TRACKER_STORE_URL") or "sqlite:///var/tracker.db"
    )


def _known_manager(manager_id: str | None) -> str | None:
    if manager_id is None:
        return None
    try:
        managers = [m.id for m in load_profile().managers]
    except ProfileError as exc:
        raise CLIError(str(exc)) from exc
    if manager_id not in managers:
        known = ", ".join(managers) or "none in the profile"
        raise CLIError(f"unknown manager {manager_id!r} (managers: {known})")
    return manager_id


def mark_deal(args: argparse.Namespace) -> None:
    manager = _known_manager(args.manager)
    crm, log = create_crm(args.db), _open_log(args.log)
    try:
        done = record_outcome(
            crm, log, args.deal_id, args.outcome, amount=args.amount, manager_id=manager
        )
    finally:
        crm.close()
        log.close()
    state = "recorded" if done.changed else "already recorded, nothing changed"
    print(f"Deal {done.deal.id}: {STATUS_NAMES[done.deal.status]} ({state}).")


def assign_deal(args: argparse.Namespace) -> None:
    manager = _known_manager(args.manager)
    assert manager is not None
    crm, log = create_crm(args.db), _open_log(args.log)
    try:
        done = reassign(crm, log, args.deal_id, manager)
    finally:
        crm.close()
        log.close()
    state = "assigned" if done.changed else "already assigned, nothing changed"
    print(f"Deal {done.deal.id}: manager {manager} ({state}).")


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
