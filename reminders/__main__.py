"""The reminders command line: ``python -m reminders serve | once | list``.

Settings come from the environment: ``CRM_DB_URL`` (where deals and reminders live),
``BUSINESS_PROFILE``, ``RASA_URL`` (default http://127.0.0.1:5005),
``RASA_API_TOKEN`` (Rasa's ``--auth-token``; without it reminders stay off),
``TRACKER_STORE_URL`` (the conversation log, to never send twice a reminder that a
dying worker had already handed to Rasa), ``REMINDERS_INTERVAL`` (seconds between
passes, default 30) and ``ASSISTANT_NOW``
(an ISO 8601 time that pins the clock, for tests).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime
from typing import Any

from business.profile import BusinessProfile, ProfileError, load_profile
from crm_connector import DEFAULT_DB_URL
from reminders.delivery import DeliveryLog, RasaDelivery
from reminders.errors import ReminderError
from reminders.scheduler import Clock, Scheduler
from reminders.store import ReminderStore

logger = logging.getLogger("reminders")

DEFAULT_RASA_URL = "http://127.0.0.1:5005"


def clock_for(profile: BusinessProfile) -> Clock:
    """The real clock, or the one `ASSISTANT_NOW` pins (the action server's too)."""
    pinned = os.environ.get("ASSISTANT_NOW")
    if pinned:
        moment = datetime.fromisoformat(pinned).astimezone(profile.timezone)
        return lambda: moment
    return profile.now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reminders")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="deliver reminders until stopped")
    serve.add_argument(
        "--interval",
        type=float,
        default=float(os.environ.get("REMINDERS_INTERVAL") or 30),
        help="seconds between passes (default 30)",
    )
    commands.add_parser("once", help="one pass: plan and deliver what is due")
    listing = commands.add_parser("list", help="the reminders and their states")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO: Rasa takes its token in the query string
    # and the URL names the client's conversation.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    try:
        profile = load_profile()
        store = ReminderStore(os.environ.get("CRM_DB_URL") or DEFAULT_DB_URL)
        if args.command == "list":
            return _list(store, profile, args.format)
        token = os.environ.get("RASA_API_TOKEN", "")
        if not token:
            return _off(args.command)
        delivery = RasaDelivery(os.environ.get("RASA_URL") or DEFAULT_RASA_URL, token)
        log_url = os.environ.get("TRACKER_STORE_URL")
        scheduler = Scheduler(
            store,
            delivery,
            profile,
            clock_for(profile),
            delivered=DeliveryLog(log_url) if log_url else None,
        )
        if args.command == "once":
            result = scheduler.run_once()
            print(
                f"planned {result.planned}, sent {len(result.sent)}, "
                f"skipped {len(result.skipped)}, retry {len(result.retried)}, "
                f"failed {len(result.failed)}"
            )
            return 0
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        scheduler.serve(stop, args.interval)
        return 0
    except (ProfileError, ReminderError) as error:
        print(f"reminders: {error}", file=sys.stderr)
        return 1


def _off(command: str) -> int:
    logger.info("Reminders are off: RASA_API_TOKEN is not set")
    if command == "once":
        return 2
    # Stay up quietly, so a supervisor that expects the process does not restart it.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    return 0


def _list(store: ReminderStore, profile: BusinessProfile, form: str) -> int:
    tz = profile.timezone
    rows: list[dict[str, Any]] = [
        {
            "id": r.id,
            "deal_id": r.deal_id,
            "before_minutes": r.before_minutes,
            "starts_at": r.starts_at.astimezone(tz).isoformat(),
            "fire_at": r.fire_at.astimezone(tz).isoformat(),
            "state": r.state,
            "reason": r.reason,
            "attempts": r.attempts,
        }
        for r in store.reminders()
    ]
    if form == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("No reminders yet: each pass plans them from the booked deals.")
    for row in rows:
        print(
            f"{row['id']:>5}  deal {row['deal_id']:>5}  {row['fire_at'][:16]}"
            f"  visit {row['starts_at'][:16]}  {row['state']}"
            + (f" ({row['reason']})" if row["reason"] else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
