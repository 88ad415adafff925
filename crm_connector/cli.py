"""The owner's command line over the CRM: ``python -m crm_connector deals``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from business.profile import ProfileError, load_profile
from business.russian import counted
from conversation_log import ConversationLog, ConversationLogError
from crm_connector import (
    DEAL_STATUSES,
    DEFAULT_DB_URL,
    OUTCOMES,
    CRMError,
    Deal,
    create_crm,
)
from crm_connector.bitrix24 import TOKEN_ENV, client_from_env
from crm_connector.bitrix24.client import Bitrix24ConfigError
from crm_connector.bitrix24.store import Bitrix24Store
from crm_connector.outbox import Outbox
from crm_connector.outcomes import reassign, record_outcome
from crm_connector.sql import open_engine

if TYPE_CHECKING:
    from crm_connector.bitrix24.worker import Worker

DEFAULT_PROFILE = "business.yml"
DEFAULT_TIMEZONE = "Asia/Omsk"
_DEFAULT_LOG = "sqlite:///var/tracker.db"

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

    queue = commands.add_parser(
        "queue", help="show deliveries to Bitrix24 and stage events still waiting"
    )
    queue.add_argument("--format", choices=("table", "json"), default="table")
    queue.add_argument("--db", metavar="URL", help="default: $CRM_DB_URL or var/crm.db")
    queue.set_defaults(handler=show_queue)

    retry = commands.add_parser("retry", help="try waiting deliveries again now")
    retry.add_argument("deal_id", type=int, nargs="?", metavar="DEAL_ID")
    retry.add_argument("--db", metavar="URL", help="default: $CRM_DB_URL or var/crm.db")
    retry.set_defaults(handler=retry_queue)

    worker = commands.add_parser(
        "worker", help="deliver deals to Bitrix24 and receive its stage changes"
    )
    worker.add_argument(
        "--once", action="store_true", help="deliver what is due, then exit"
    )
    worker.add_argument("--poll", type=float, default=0.5, metavar="SECONDS")
    worker.add_argument(
        "--backoff",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="first wait after a failed delivery; it doubles up to 10 minutes",
    )
    _store_options(worker)
    worker.set_defaults(handler=run_worker)
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


def _crm_url(url: str | None) -> str:
    return url or os.environ.get("CRM_DB_URL") or DEFAULT_DB_URL


def show_queue(args: argparse.Namespace) -> None:
    engine = open_engine(_crm_url(args.db))
    try:
        deliveries = Outbox(engine).queued()
        events = Bitrix24Store(engine).inbound(pending_only=True)
    finally:
        engine.dispose()
    tz = business_timezone()

    if args.format == "json":
        payload = {
            "deliveries": [
                {
                    "deal_id": d.deal_id,
                    "changes": list(d.kinds),
                    "queued_at": d.first_at.astimezone(tz).isoformat(),
                    "next_attempt_at": d.next_attempt_at.astimezone(tz).isoformat(),
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                }
                for d in deliveries
            ],
            "events": [
                {
                    "id": e.id,
                    "bitrix24_deal_id": e.b24_deal_id,
                    "received_at": e.received_at.astimezone(tz).isoformat(),
                    "attempts": e.attempts,
                    "last_error": e.last_error,
                }
                for e in events
            ],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return

    if not deliveries:
        print("Очередь в Битрикс24 пуста.")
    else:
        print(f"Ждут отправки в Битрикс24: {counted(len(deliveries), *_DEALS)}.")
        rows = [
            (
                str(d.deal_id),
                ", ".join(dict.fromkeys(d.kinds)),
                str(d.attempts),
                d.next_attempt_at.astimezone(tz).strftime("%d.%m %H:%M:%S"),
                (d.last_error or "")[:80],
            )
            for d in deliveries
        ]
        print(_table(("Сделка", "Изменения", "Попыток", "Следующая", "Ошибка"), rows))
    if events:
        print(f"Ждут обработки события Битрикс24: {len(events)}.")
        for event in events:
            state = event.last_error or "ещё не обработано"
            print(f"  №{event.id}: сделка Б24 {event.b24_deal_id}, {state}")


_DEALS = ("сделка", "сделки", "сделок")


def retry_queue(args: argparse.Namespace) -> None:
    engine = open_engine(_crm_url(args.db))
    try:
        deals = Outbox(engine).retry_now(args.deal_id)
        events = (
            Bitrix24Store(engine).retry_inbound_now() if args.deal_id is None else 0
        )
    finally:
        engine.dispose()
    print(
        f"Снова в работе: {counted(deals, *_DEALS)},"
        f" {counted(events, 'событие', 'события', 'событий')}."
        " Их отправит запущенный worker."
    )


def run_worker(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request's URL at INFO, and the webhook URL holds the secret.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        profile = load_profile()
    except ProfileError as exc:
        raise CLIError(str(exc)) from exc
    if profile.crm.backend != "bitrix24":
        logging.getLogger(__name__).warning(
            "crm.backend is %s in the profile: the Bitrix24 worker has nothing to do",
            profile.crm.backend,
        )
        return
    from crm_connector.bitrix24.worker import Worker  # aiohttp only when needed

    try:
        client = client_from_env(profile.crm.bitrix24)
    except Bitrix24ConfigError as exc:
        logging.getLogger(__name__).warning(
            "%s: deliveries wait in the queue until it is set", exc
        )
        return
    worker = Worker(
        crm_url=_crm_url(args.db),
        log_url=args.log or os.environ.get("TRACKER_STORE_URL") or _DEFAULT_LOG,
        profile=profile,
        client=client,
        app_token=os.environ.get(TOKEN_ENV) or None,
        poll_seconds=args.poll,
        backoff_seconds=args.backoff,
    )
    asyncio.run(_work(worker, args.once))


async def _work(worker: Worker, once: bool) -> None:
    if once:
        try:
            await asyncio.to_thread(worker.lock.acquire)
            while await worker.deliver_due() and not worker.stats.failed:
                pass
            await worker.process_inbound()
        finally:
            await worker.close()
        print(
            f"Отправлено: {counted(worker.stats.delivered, *_DEALS)},"
            f" не удалось: {worker.stats.failed}."
        )
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await worker.run(stop)


def list_deals(args: argparse.Namespace) -> None:
    tz = business_timezone()
    crm = create_crm(args.db, outbox=False)
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
    return _table(HEADERS, rows)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    lines = [_line(headers, widths), _line(tuple("-" * w for w in widths), widths)]
    lines.extend(_line(row, widths) for row in rows)
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
    return "  ".join(padded).rstrip()


def _rubles(amount: object) -> str:
    # Russian grouping: a space between thousands and a comma before kopecks.
    return f"{amount:,.2f}".replace(",", " ").replace(".", ",")
