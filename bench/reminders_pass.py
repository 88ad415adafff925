"""Times the reminder scheduler's pass over many upcoming bookings.

Fills a fresh CRM with N booked deals spread over the next two weeks, then times the
first pass (plans every reminder), a second pass (nothing changed) and a pass after 10%
of the deals were cancelled, with delivery going to a local fake of Rasa's API.

    .venv/bin/python bench/reminders_pass.py --deals 2000
    .venv/bin/python bench/reminders_pass.py --deals 2000 --db postgresql://...
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from business.profile import load_profile
from crm_connector import BookingRequest, SqlCRM
from reminders.delivery import RasaDelivery
from reminders.scheduler import Scheduler
from reminders.store import ReminderStore
from tests.fakes.rasa_api import FakeRasa


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=2000)
    parser.add_argument("--db", help="a CRM database URL (default: a temporary SQLite)")
    args = parser.parse_args()
    profile = load_profile()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'crm.db'}"
    start = datetime(2026, 12, 7, 9, 0, tzinfo=profile.timezone)
    now = start - timedelta(days=1)

    crm = SqlCRM(url)
    ids = []
    for index in range(args.deals):
        # One staff member per deal keeps the overlap check out of the way.
        day, slot = divmod(index, 40)
        ids.append(
            crm.book(
                BookingRequest(
                    idempotency_key=f"bench-{index}",
                    conversation_id=f"bench-{index}",
                    channel="rest",
                    contact_name="Клиент",
                    phone=f"+7913{index:07d}",
                    service_id="manicure",
                    service_name="Маникюр",
                    staff_id=f"staff-{slot}",
                    starts_at=start
                    + timedelta(days=day % 14, minutes=15 * (day // 14)),
                    duration_minutes=10,
                    price=Decimal(1500),
                )
            ).id
        )

    rasa = FakeRasa()
    store = ReminderStore(url)
    delivery = RasaDelivery(rasa.url, rasa.token, timeout=5)
    scheduler = Scheduler(store, delivery, profile, lambda: now, worker="bench")
    for label in ("first pass (plans)", "second pass (no change)"):
        began = time.perf_counter()
        result = scheduler.run_once()
        print(f"{label}: {time.perf_counter() - began:.3f} s, planned {result.planned}")
    for deal_id in ids[:: max(1, len(ids) // (len(ids) // 10 or 1))]:
        crm.cancel(deal_id)
    began = time.perf_counter()
    scheduler.run_once()
    print(f"pass after 10% cancelled: {time.perf_counter() - began:.3f} s")
    print(f"deals {args.deals}, reminders {len(store.reminders())}, engine {url[:10]}")
    delivery.close()
    rasa.stop()
    store.close()
    crm.close()


if __name__ == "__main__":
    main()
