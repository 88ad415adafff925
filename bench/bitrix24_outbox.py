"""Times N queued deliveries to the fake Bitrix24 at a given rate limit.

Books N deals in a fresh CRM with the outbox on (SQLite by default, `--db` for another
URL), starts the fake portal (tests/fakes/bitrix24_api.py) with the plan's bucket
(`--burst`, `--rate`), and lets one in-process worker deliver them with the client
throttled to the same limit. Prints the time per delivery (median, p95, max), the
total, the calls and the 503 QUERY_LIMIT_EXCEEDED answers (0 expected), N and the
machine, and checks that the portal holds exactly N deals, one per booking.

    .venv/bin/python bench/bitrix24_outbox.py --n 60                # the real 50 + 2/s
    .venv/bin/python bench/bitrix24_outbox.py --n 1000 --rate 100   # scaled rate
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from business.profile import load_profile  # noqa: E402
from crm_connector import BookingRequest, SqlCRM  # noqa: E402
from crm_connector.bitrix24.client import Bitrix24Client  # noqa: E402
from crm_connector.bitrix24.worker import Worker  # noqa: E402
from tests.fakes.bitrix24_api import FakeBitrix24  # noqa: E402

OMSK = ZoneInfo("Asia/Omsk")
SECTION = """
crm:
  backend: bitrix24
  bitrix24:
    users: {irina: 3}
"""


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="deliveries (60)")
    parser.add_argument("--rate", type=float, default=2.0, help="calls a second (2)")
    parser.add_argument("--burst", type=int, default=50, help="bucket size (50)")
    parser.add_argument(
        "--db",
        help="a PostgreSQL URL to run in a fresh schema of (dropped afterwards);"
        " default a fresh SQLite file",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    return parser.parse_args()


@contextmanager
def fresh_database(pg_url: str | None, tmp: str) -> Iterator[str]:
    if not pg_url:
        yield f"sqlite:///{tmp}/crm.db"
        return
    schema = f"bench_b24_{os.getpid()}"
    admin = create_engine(pg_url, future=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def book(url: str, n: int) -> float:
    crm = SqlCRM(url, outbox=True)
    start = datetime(2031, 1, 6, 9, 0, tzinfo=OMSK)
    started = time.monotonic()
    try:
        for i in range(n):
            crm.book(
                BookingRequest(
                    idempotency_key=f"bench-{i}",
                    conversation_id=f"bench-{i}",
                    channel="telegram",
                    contact_name="Клиент",
                    phone=f"+7913{i:07d}",
                    service_id="manicure",
                    service_name="Маникюр",
                    staff_id=f"staff-{i % 10}",
                    starts_at=start + timedelta(days=i // 10),
                    duration_minutes=60,
                    price=1500,
                    manager_id="irina",
                )
            )
    finally:
        crm.close()
    return time.monotonic() - started


async def deliver(url: str, profile_path: Path, portal: FakeBitrix24, args) -> dict:
    profile = load_profile(profile_path)
    client = Bitrix24Client(portal.webhook_url, burst=args.burst, per_second=args.rate)
    worker = Worker(
        crm_url=url,
        log_url=f"sqlite:///{profile_path.parent / 't.db'}",
        profile=profile,
        client=client,
    )
    started = time.monotonic()
    try:
        while await worker.deliver_due(limit=100):
            pass
    finally:
        await worker.close()
    total = time.monotonic() - started
    times = sorted(worker.stats.delivery_seconds)
    return {
        "total_seconds": round(total, 1),
        "delivered": worker.stats.delivered,
        "failed": worker.stats.failed,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1),
        "calls": client.calls,
        "calls_per_second": round(client.calls / total, 2),
        "client_saw_503": client.limit_hits,
    }


def main() -> int:
    args = parse()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.db, tmp) as url:
        profile_path = Path(tmp) / "business.yml"
        text = (ROOT / "business.yml").read_text(encoding="utf-8")
        profile_path.write_text(text + SECTION, encoding="utf-8")
        booking_seconds = book(url, args.n)
        with FakeBitrix24(burst=args.burst, per_second=args.rate) as portal:
            figures = asyncio.run(deliver(url, profile_path, portal, args))
            origins = portal.deals_by_origin()
            figures["portal_503"] = portal.calls.limit_hits
        figures.update(
            n=args.n,
            burst=args.burst,
            rate=args.rate,
            db=url.split(":", 1)[0],
            booking_seconds=round(booking_seconds, 1),
            deals_in_portal=len(origins),
            doubled=sum(1 for c in origins.values() if c > 1),
            machine=f"{platform.machine()}, {os.cpu_count()} CPUs,"
            f" Python {platform.python_version()}",
            date=datetime.now().astimezone().isoformat(timespec="minutes"),
        )
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
    ok = figures["deals_in_portal"] == args.n and not figures["doubled"]
    return 0 if ok and figures["portal_503"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
