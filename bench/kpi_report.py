"""Times the KPI report against loading every tracker through Rasa's TrackerStore API.

Fills a tracker store (Rasa's `events` table) with N synthetic conversations made from
the events of real conversations captured once through the running bot, then, in the
same run and each in a fresh subprocess (clean timings and peak memory):

- `kpi_reports.compute_report` for a 14-day period in the middle of ~8 weeks of data;
- the obvious alternative: `SQLTrackerStore.keys()` and `retrieve_full_tracker()` for
  every conversation, counting leads/bookings/visits in Python. On a random sample of
  `--sample` conversations (2,000 by default) and extrapolated linearly to N, which the
  output says.

The generator also keeps the true counts for the period, so the report and the
per-tracker counts are checked against them.

    .venv/bin/python bench/kpi_report.py --sizes 10000,100000 --engines sqlite,postgresql
    .venv/bin/python bench/kpi_report.py --sizes 1000000 --engines sqlite --keep

Only 127.0.0.1: the bot for the capture, PostgreSQL (a fresh schema, dropped afterwards
unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import io
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

CACHE = Path(tempfile.gettempdir()) / "booking-bench" / "cache"
TEMPLATES = Path(tempfile.gettempdir()) / "booking-bench" / "kpi-templates.json"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
CHANNELS = (("telegram", 0.45), ("whatsapp", 0.25), ("webchat", 0.2), ("rest", 0.1))
WEEKS = 8
# The last moment of the synthetic history (business time): outcomes are never later.
END_DAY = date(2026, 11, 30)
BATCH = 20_000
MARK = "\x00"  # marks the varying parts of a template event's JSON


# -- templates: real events, captured once through the running bot -------------------


def capture(path: Path) -> None:
    """Runs one real booking and one greeting through the bot; their events, as JSON."""
    import booking_dialogues as bd  # bench/booking_dialogues.py

    from business.profile import DEFAULT_PROFILE, load_profile
    from tests.e2e.harness import Bot, train

    profile = load_profile(DEFAULT_PROFILE)
    scratch = Path(tempfile.mkdtemp(prefix="kpi-capture-"))
    bot = None
    try:
        model = CACHE / "models" / "booking.tar.gz"
        if not model.exists():
            with bd.output_to(scratch / "train.log"):
                model = train(DEFAULT_PROFILE, CACHE)
        bot = Bot(
            model=model,
            profile=DEFAULT_PROFILE,
            workdir=scratch,
            crm_url=f"sqlite:///{scratch}/crm.db",
            tracker_url=f"sqlite:///{scratch}/tracker.db",
            extra_env={"ASSISTANT_NOW": "2026-12-03T10:00:00+06:00"},
        ).start()
        url = f"http://127.0.0.1:{bot.rasa_port}/webhooks/rest/webhook"
        asyncio.run(bd.warm_up(url))  # sender bench-warm-up: a greeting, no booking
        dialogues, _ = asyncio.run(
            bd.run_clients(url, bd.plans(profile, 1, 1), 20, 300)
        )
        if not dialogues[0].booked:
            raise RuntimeError(
                "the capture dialogue did not book:\n"
                + "\n".join(dialogues[0].transcript())
            )
        booked_sender = dialogues[0].plan.sender
    finally:
        if bot is not None:
            bot.stop()
    templates = {
        "captured": datetime.now().astimezone().isoformat(timespec="seconds"),
        "booking": _events_of(scratch / "tracker.db", booked_sender),
        "greeting": _events_of(scratch / "tracker.db", "bench-warm-up"),
    }
    shutil.rmtree(scratch, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(templates, ensure_ascii=False), encoding="utf-8")


def _events_of(db: Path, sender: str) -> list[list[Any]]:
    import sqlite3

    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT type_name, timestamp, intent_name, action_name, data FROM events"
            " WHERE sender_id = ? ORDER BY id",
            (sender,),
        ).fetchall()
    if not rows:
        raise RuntimeError(f"no events of {sender} in {db}")
    return [list(row) for row in rows]


class Template:
    """One captured conversation, compiled so that a copy is a few string joins."""

    def __init__(self, events: list[list[Any]]) -> None:
        self.events = []
        t0 = events[0][1]
        user_seen = 0
        self.user_turns = 0
        for type_name, ts, intent, action, data in events:
            value = json.loads(data)
            value["timestamp"] = f"{MARK}ts{MARK}"
            if type_name == "user":
                user_seen += 1
                value["input_channel"] = f"{MARK}ch{MARK}"
            if type_name == "slot" and action == "phone" and value.get("value"):
                value["value"] = f"{MARK}phone{MARK}"
            if type_name == "slot" and action == "booking" and value.get("value"):
                value["value"] = f"{MARK}booking{MARK}"
            if type_name == "slot" and action == "booking_id" and value.get("value"):
                value["value"] = f"{MARK}deal{MARK}"
            text = json.dumps(value)  # Rasa writes ASCII-escaped JSON
            parts = re.split(r'"\\u0000(\w+)\\u0000"', text)
            self.events.append((type_name, ts - t0, intent, action, parts, user_seen))
        self.user_turns = user_seen
        self.has_booking = any(
            e[0] == "slot" and e[3] == "booking" for e in self.events
        )
        self.phone_turn = next(
            (e[5] for e in self.events if e[0] == "slot" and e[3] == "phone"), None
        )


def _fill(parts: list[str], values: dict[str, str]) -> str:
    if len(parts) == 1:
        return parts[0]
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        out.append(values[parts[i]])
        out.append(parts[i + 1])
    return "".join(out)


def _slot_row(sender: str, ts: float, name: str, value: Any) -> tuple:
    """A slot event as conversation_log.ConversationLog.append_slots writes it."""
    data = json.dumps(
        {
            "event": "slot",
            "timestamp": ts,
            "metadata": {},
            "name": name,
            "value": value,
        },
        ensure_ascii=False,
    )
    return (sender, "slot", ts, None, name, data)


# -- the generator ---------------------------------------------------------------------


class Truth:
    """The counts the report must give for the period, kept while generating."""

    def __init__(self, start: float, end: float, tz) -> None:
        self.start, self.end, self.tz = start, end, tz
        self.total = {
            "leads": 0,
            "bookings": 0,
            "visits": 0,
            "no_shows": 0,
            "cancellations": 0,
            "qualified_leads": 0,
        }
        self.by_sender: dict[str, list[int]] = {}  # leads, bookings, visits

    def holds(self, ts: float) -> bool:
        return self.start <= ts < self.end

    def add(self, sender: str, key: str, index: int | None = None) -> None:
        self.total[key] += 1
        if index is not None:
            self.by_sender.setdefault(sender, [0, 0, 0])[index] += 1


class Generator:
    def __init__(
        self,
        templates: dict[str, Any],
        profile,
        n: int,
        seed: int,
        period: tuple[float, float],
    ) -> None:
        self.booking = Template(templates["booking"])
        self.greeting = Template(templates["greeting"])
        if not self.booking.has_booking:
            raise RuntimeError("the captured booking has no `booking` slot event")
        self.profile = profile
        self.tz = profile.timezone
        self.rng = random.Random(seed)
        self.n = n
        self.end = datetime.combine(
            END_DAY + timedelta(days=1), datetime.min.time(), self.tz
        ).timestamp()
        self.begin = self.end - WEEKS * 7 * 86400
        self.truth = Truth(period[0], period[1], self.tz)
        self.next_id = 1
        self.deal = 0
        self.managers = [m.id for m in profile.managers] or [None]
        self.late: list[tuple] = []  # heap of (ts, seq, kind, args)
        self.seq = 0

    # a conversation's rows ---------------------------------------------------------

    def session_rows(
        self,
        sender: str,
        start: float,
        channel: str,
        phone: str,
        kind: str,
        cut: int,
        repeat: bool,
    ) -> list[tuple]:
        """One session from a template; `cut` keeps the first `cut` client messages."""
        rng = self.rng
        template = self.greeting if kind == "greeting" else self.booking
        rows = []
        shift = 0.0
        values = {"ch": json.dumps(channel), "phone": json.dumps(phone)}
        first_user = None
        deal_id = None
        booking = None
        for type_name, dt, intent, action, parts, turn in template.events:
            if turn > cut:
                break
            if type_name == "user" and turn > 1:
                shift += rng.uniform(8, 120)  # the client reads and types
            ts = start + dt + shift
            if type_name == "user" and first_user is None:
                first_user = ts
            if type_name == "slot" and action == "booking" and "booking" in parts:
                self.deal += 1
                deal_id = self.deal
                service = rng.choice(self.profile.services)
                day = datetime.fromtimestamp(ts, self.tz).date() + timedelta(
                    days=rng.randint(1, 10)
                )
                starts = datetime.combine(
                    day, datetime.min.time(), self.tz
                ) + timedelta(hours=rng.randint(10, 19), minutes=rng.choice((0, 30)))
                booking = {
                    "deal_id": deal_id,
                    "service_id": service.id,
                    "service_name": service.name,
                    "staff_id": self.profile.staff[0].id,
                    "starts_at": starts.isoformat(),
                    "duration_minutes": service.duration_minutes,
                    "price": float(service.price),
                    "manager_id": self.managers[deal_id % len(self.managers)],
                    "moved": False,
                }
                values["booking"] = json.dumps(booking)
                values["deal"] = json.dumps(str(deal_id))
            elif (
                type_name == "slot"
                and action == "booking_id"
                and "deal" in parts
                and deal_id is None
            ):
                continue  # booking_id before the booking: never in the captured order
            values["ts"] = repr(ts)
            rows.append((sender, type_name, ts, intent, action, _fill(parts, values)))
            if type_name == "session_started" and repeat:
                # Rasa carries the slots over into a new session: the old phone first.
                rows.append(_slot_row(sender, ts, "phone", phone))
        truth = self.truth
        if first_user is not None and truth.holds(first_user):
            truth.add(sender, "leads", 0)
            if template.phone_turn is not None and cut >= template.phone_turn:
                truth.add(sender, "qualified_leads")
        if booking is not None:
            booked_at = next(r[2] for r in rows if r[4] == "booking")
            if truth.holds(booked_at):
                truth.add(sender, "bookings", 1)
            self.outcome_later(sender, booking, booked_at)
        return rows

    def outcome_later(self, sender: str, booking: dict, booked_at: float) -> None:
        rng = self.rng
        starts = datetime.fromisoformat(booking["starts_at"])
        r = rng.random()
        status = (
            "attended"
            if r < 0.70
            else "no_show"
            if r < 0.85
            else "cancelled"
            if r < 0.95
            else None
        )
        if rng.random() < 0.05:  # reassigned by the owner a few hours after booking
            other = rng.choice(self.managers)
            self.push(
                booked_at + rng.uniform(600, 6 * 3600),
                "manager",
                (sender, {"deal_id": booking["deal_id"], "manager_id": other}),
            )
            booking = {**booking, "manager_id": other}
        if status is None:
            return
        if status == "cancelled":
            at = starts.timestamp() - rng.uniform(3600, 86400)
        else:
            at = starts.timestamp() + rng.uniform(1800, 3 * 86400)
        amount = None
        if status == "attended" and rng.random() < 0.4:
            amount = float(booking["price"]) + rng.choice((0, 200, 500, -100))
        outcome = {
            "deal_id": booking["deal_id"],
            "status": status,
            "amount": amount,
            "manager_id": booking["manager_id"],
            "source": "cli",
        }
        self.push(at, "outcome", (sender, outcome, starts.timestamp()))
        if rng.random() < 0.02:  # a retried mark: the same event twice
            self.push(at + 5, "outcome", (sender, outcome, None))

    def push(self, ts: float, kind: str, args: tuple) -> None:
        self.seq += 1
        heapq.heappush(self.late, (ts, self.seq, kind, args))

    def late_rows(self, until: float) -> list[tuple]:
        rows = []
        while self.late and self.late[0][0] <= until:
            ts, _, kind, args = heapq.heappop(self.late)
            if ts >= self.end:
                continue  # has not happened yet
            if kind == "outcome":
                sender, outcome, starts = args
                rows.append(_slot_row(sender, ts, "deal_outcome", outcome))
                if starts is not None and self.truth.holds(starts):
                    key = {
                        "attended": "visits",
                        "no_show": "no_shows",
                        "cancelled": "cancellations",
                    }[outcome["status"]]
                    self.truth.add(sender, key, 2 if key == "visits" else None)
            elif kind == "manager":
                sender, value = args
                rows.append(_slot_row(sender, ts, "deal_manager", value))
            else:  # a returning client's second session
                rows.extend(self.session_rows(*args))
        return rows

    # all conversations ---------------------------------------------------------------

    def sender_of(self, i: int, channel: str) -> str:
        bits = self.rng.getrandbits(64)
        # The sender ids each channel writes (channels/): tg:, wa: and web: prefixes.
        if channel == "telegram":
            return f"tg:{5_000_000_000 + i}"
        if channel == "whatsapp":
            return f"wa:7913{i:07d}"
        if channel == "webchat":
            return f"web:{bits:016x}{i:08x}"
        return f"rest-{bits:016x}-{i}"

    def start_time(self) -> float:
        rng = self.rng
        day = rng.randrange(WEEKS * 7)
        hour = min(23.9, max(0.0, rng.gauss(15, 3.5)))  # most write in the afternoon
        return self.begin + day * 86400 + hour * 3600

    def batches(self):
        """Row tuples (with ids), in time order across conversations, in batches."""
        rng = self.rng
        starts = sorted(self.start_time() for _ in range(self.n))
        names = [c for c, _ in CHANNELS]
        weights = [w for _, w in CHANNELS]
        booking_turns = self.booking.user_turns
        batch: list[tuple] = []
        for i, start in enumerate(starts):
            batch.extend(self.late_rows(start))
            channel = rng.choices(names, weights)[0]
            sender = self.sender_of(i, channel)
            phone = f"+79{(130000000 + i * 7) % 1000000000:09d}"
            r = rng.random()
            if r < 0.30:
                kind, cut = "booking", booking_turns
            elif r < 0.65:
                kind, cut = "greeting", 99
            else:  # began to book and left part way, before confirming
                kind, cut = "booking", rng.randint(1, max(1, booking_turns - 2))
            batch.extend(
                self.session_rows(sender, start, channel, phone, kind, cut, False)
            )
            if kind == "booking" and cut == booking_turns and rng.random() < 0.10:
                again = start + rng.uniform(7, 30) * 86400
                self.push(
                    again,
                    "session",
                    (sender, again, channel, phone, "booking", booking_turns, True),
                )
            if len(batch) >= BATCH:
                yield self.numbered(batch)
                batch = []
        batch.extend(self.late_rows(float("inf")))
        if batch:
            yield self.numbered(batch)

    def numbered(self, rows: list[tuple]) -> list[tuple]:
        first = self.next_id
        self.next_id += len(rows)
        return [(first + k, *row) for k, row in enumerate(rows)]


# -- stores ------------------------------------------------------------------------------


def create_store(engine_name: str, workdir: Path, tag: str) -> tuple[str, Any]:
    """A fresh, empty tracker store with Rasa's table (index built after the load)."""
    if engine_name == "sqlite":
        return f"sqlite:///{workdir / f'tracker-{tag}.db'}", None
    import psycopg2

    schema = f"bench_kpi_{tag}_{os.getpid()}"
    connection = psycopg2.connect(PG_URL)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
    connection.close()
    return f"{PG_URL}?options=-csearch_path%3D{schema}", schema


def drop_store(engine_name: str, url: str, schema: str | None) -> None:
    if engine_name == "sqlite":
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    import psycopg2

    connection = psycopg2.connect(PG_URL)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    connection.close()


def fill(engine_name: str, url: str, generator: Generator) -> dict[str, float]:
    """Writes every generated row; Rasa's index on sender_id is built after the load."""
    from sqlalchemy import create_engine

    from conversation_log.append import EVENTS

    engine = create_engine(url, future=True)
    EVENTS.metadata.create_all(engine)  # Rasa's table, with ix_events_sender_id
    engine.dispose()
    rows = 0
    started = time.perf_counter()
    if engine_name == "sqlite":
        import sqlite3

        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        connection.execute("DROP INDEX ix_events_sender_id")
        connection.execute("PRAGMA journal_mode=OFF")  # a throw-away fixture
        connection.execute("PRAGMA synchronous=OFF")
        for batch in generator.batches():
            with connection:  # one transaction per batch
                connection.executemany(
                    "INSERT INTO events (id, sender_id, type_name, timestamp,"
                    " intent_name, action_name, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    batch,
                )
            rows += len(batch)
        load = time.perf_counter() - started
        started = time.perf_counter()
        with connection:
            connection.execute("CREATE INDEX ix_events_sender_id ON events (sender_id)")
        connection.close()
    else:
        import psycopg2

        schema = url.rsplit("%3D", 1)[1]
        connection = psycopg2.connect(PG_URL)
        with connection.cursor() as cursor:
            cursor.execute(f"SET search_path TO {schema}")
            cursor.execute("DROP INDEX ix_events_sender_id")
        connection.commit()
        for batch in generator.batches():
            buffer = io.StringIO()
            for row in batch:
                buffer.write("\t".join(_copy_field(v) for v in row))
                buffer.write("\n")
            buffer.seek(0)
            with connection.cursor() as cursor:  # one transaction per batch
                cursor.copy_expert(
                    "COPY events (id, sender_id, type_name, timestamp, intent_name,"
                    " action_name, data) FROM STDIN",
                    buffer,
                )
            connection.commit()
            rows += len(batch)
        load = time.perf_counter() - started
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("CREATE INDEX ix_events_sender_id ON events (sender_id)")
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('events', 'id'),"
                " (SELECT max(id) FROM events))"
            )
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE events")  # what autovacuum does soon after
        connection.close()
    return {"rows": rows, "load_s": load, "index_s": time.perf_counter() - started}


def _copy_field(value: Any) -> str:
    if value is None:
        return r"\N"
    text = repr(value) if isinstance(value, float) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def store_size(engine_name: str, url: str, schema: str | None) -> str:
    if engine_name == "sqlite":
        return f"{Path(url.removeprefix('sqlite:///')).stat().st_size / 2**20:.0f} MB"
    import psycopg2

    connection = psycopg2.connect(PG_URL)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_total_relation_size('{schema}.events')")
        size = cursor.fetchone()[0]
    connection.close()
    return f"{size / 2**20:.0f} MB"


# -- measurements, each in its own subprocess ---------------------------------------


def child(args: list[str], timeout: float) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB.

    Not getrusage's ru_maxrss: on Linux that keeps the high-water mark of the forked
    parent across exec, so a child of the big generator would report the parent's size.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_build(url: str, hold_from: str) -> None:
    """Builds the summary from the first event up to the last day's first event."""
    from sqlalchemy import create_engine, func, select

    from business.profile import load_profile
    from kpi_reports import summary

    profile = load_profile()
    engine = create_engine(url, future=True)
    with engine.connect() as connection:
        e = summary.EVENTS.c
        upper = connection.execute(
            select(func.min(e.id)).where(e.timestamp >= float(hold_from))
        ).scalar()
    base = _rss_mb()
    started = time.perf_counter()
    folded = summary.refresh(engine, profile.timezone, upper=upper - 1)
    seconds = time.perf_counter() - started
    engine.dispose()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "folded": folded,
                "peak_mb": _rss_mb(),
                "base_mb": base,
            }
        )
    )


def measure_report(url: str, since: str, until: str) -> None:
    """One report: catching the summary up with what is new, then reading it."""
    from business.profile import load_profile
    from kpi_reports.engine import compute_report

    profile = load_profile()
    base = _rss_mb()
    started = time.perf_counter()
    report = compute_report(
        url, profile, date.fromisoformat(since), date.fromisoformat(until)
    )
    seconds = time.perf_counter() - started
    keys = (
        "leads",
        "qualified_leads",
        "bookings",
        "visits",
        "no_shows",
        "cancellations",
        "revenue",
        "missed_leads",
    )
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": _rss_mb(),
                "base_mb": base,
                "counts": {k: report[k] for k in keys},
                "channels": sorted(report["by_channel"]),
                "managers": [
                    (m["id"], m["bookings"], m["visits"]) for m in report["managers"]
                ],
            }
        )
    )


def measure_trackers(url: str, sample: int, seed: int, since: str, until: str) -> None:
    import logging

    logging.disable(logging.WARNING)
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SessionStarted, SlotSet, UserUttered

    from business.profile import load_profile

    tz = load_profile().timezone
    start = datetime.combine(date.fromisoformat(since), datetime.min.time(), tz)
    end = datetime.combine(
        date.fromisoformat(until) + timedelta(days=1), datetime.min.time(), tz
    )
    lo, hi = start.timestamp(), end.timestamp()
    base = _rss_mb()

    async def run() -> dict[str, Any]:
        store = SQLTrackerStore(domain=Domain.load(str(ROOT / "domain.yml")), host=url)
        t0 = time.perf_counter()
        keys = list(await store.keys())
        keys_s = time.perf_counter() - t0
        chosen = random.Random(seed).sample(sorted(keys), min(sample, len(keys)))
        counts = {"leads": 0, "bookings": 0, "visits": 0}
        per_sender: dict[str, list[int]] = {}
        events = 0
        t0 = time.perf_counter()
        for sender in chosen:
            tracker = await store.retrieve_full_tracker(sender)
            mine = [0, 0, 0]
            in_session_user = False
            deals: dict[int, dict] = {}
            for event in tracker.events:
                events += 1
                if isinstance(event, SessionStarted):
                    in_session_user = False
                elif isinstance(event, UserUttered):
                    if not in_session_user:
                        in_session_user = True
                        mine[0] += lo <= event.timestamp < hi
                elif isinstance(event, SlotSet) and isinstance(event.value, dict):
                    value = event.value
                    deal = deals.setdefault(value.get("deal_id"), {})
                    if event.key == "booking":
                        deal.setdefault("booked_at", event.timestamp)
                        deal["starts"] = datetime.fromisoformat(value["starts_at"])
                    elif event.key == "deal_outcome":
                        deal["status"] = value.get("status")
            for deal in deals.values():
                if "booked_at" in deal:
                    mine[1] += lo <= deal["booked_at"] < hi
                    mine[2] += (
                        deal.get("status") == "attended"
                        and start <= deal["starts"] < end
                    )
            for k, key in enumerate(("leads", "bookings", "visits")):
                counts[key] += mine[k]
            if any(mine):
                per_sender[sender] = mine
        seconds = time.perf_counter() - t0
        return {
            "keys": len(keys),
            "keys_s": keys_s,
            "sample": len(chosen),
            "seconds": seconds,
            "events": events,
            "counts": counts,
            "senders": chosen,
            "per_sender": per_sender,
        }

    result = asyncio.run(run())
    result["peak_mb"], result["base_mb"] = _rss_mb(), base
    print(json.dumps(result))


def explain(engine_name: str, url: str) -> str:
    """The plans of the summary's fold query and of its period read."""
    from sqlalchemy import create_engine, text

    from kpi_reports import summary

    engine = create_engine(url, future=True)
    prefix = "EXPLAIN QUERY PLAN " if engine_name == "sqlite" else "EXPLAIN "
    s = summary.SESSIONS.c
    queries = (
        summary._new_events(0, 10**9),
        summary.SESSIONS.select().where(s.first_user_at >= 0, s.first_user_at < 1),
    )
    lines = []
    with engine.connect() as connection:
        for query in queries:
            sql = str(
                query.compile(
                    dialect=engine.dialect, compile_kwargs={"literal_binds": True}
                )
            )
            plan = connection.execute(text(prefix + sql)).fetchall()
            lines += [
                f"      {row[-1] if engine_name == 'sqlite' else row[0]}"
                for row in plan
            ]
    engine.dispose()
    return "\n".join(lines)


# -- the run ---------------------------------------------------------------------------


def machine() -> str:
    cpu, ram = "unknown", "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in info
                if line.startswith("model name")
            ),
            cpu,
        )
    with open("/proc/meminfo", encoding="utf-8") as info:
        ram = next(
            (
                f"{int(line.split()[1]) / 2**20:.1f} GB"
                for line in info
                if line.startswith("MemTotal:")
            ),
            ram,
        )
    return (
        f"{len(os.sched_getaffinity(0))} cores ({cpu}), RAM {ram}, Python "
        f"{platform.python_version()}, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )


def period() -> tuple[date, date]:
    """14 days in the middle of the 8 weeks."""
    first = END_DAY - timedelta(days=WEEKS * 7 - 1)
    since = first + timedelta(days=(WEEKS * 7 - 14) // 2)
    return since, since + timedelta(days=13)


def one(engine_name: str, n: int, args, templates, profile, workdir: Path) -> dict:
    since, until = period()
    tz = profile.timezone
    lo = datetime.combine(since, datetime.min.time(), tz).timestamp()
    hi = datetime.combine(
        until + timedelta(days=1), datetime.min.time(), tz
    ).timestamp()
    tag = f"{n}"
    url, schema = create_store(engine_name, workdir, tag)
    out: dict[str, Any] = {"n": n, "engine": engine_name}
    try:
        generator = Generator(templates, profile, n, args.seed, (lo, hi))
        t0 = time.perf_counter()
        loaded = fill(engine_name, url, generator)
        out["gen_s"] = time.perf_counter() - t0
        out.update(loaded)
        out["size"] = store_size(engine_name, url, schema)
        truth = generator.truth
        del generator
        print(
            f"  {engine_name} {n:,}: {loaded['rows']:,} rows, {out['size']}, "
            f"generated in {out['gen_s']:.1f} s (load {loaded['load_s']:.1f} s, "
            f"index {loaded['index_s']:.1f} s)",
            flush=True,
        )
        last_day = datetime.combine(END_DAY, datetime.min.time(), tz).timestamp()
        build = child(["_build", url, str(last_day)], args.timeout)
        out["build"] = build
        print(
            f"    summary built from {build['folded']:,} events (all but the last "
            f"day) in {build['seconds']:.1f} s, peak RSS {build['peak_mb']:.0f} MB",
            flush=True,
        )
        day = child(
            ["_report", url, since.isoformat(), until.isoformat()], args.timeout
        )
        out["day"] = day
        print(
            f"    report after a day of new events {day['seconds']:.2f} s, peak RSS "
            f"{day['peak_mb']:.0f} MB (after imports {day['base_mb']:.0f} MB)",
            flush=True,
        )
        report = child(
            ["_report", url, since.isoformat(), until.isoformat()], args.timeout
        )
        out["report"] = report
        print(
            f"    report on a current summary {report['seconds']:.2f} s, peak RSS "
            f"{report['peak_mb']:.0f} MB (after imports {report['base_mb']:.0f} MB): "
            f"{report['counts']}",
            flush=True,
        )
        if day["counts"] != report["counts"]:
            raise RuntimeError(f"reports differ: {day['counts']} {report['counts']}")
        out["truth"] = dict(truth.total)
        mismatch = {
            k: (report["counts"][k], v)
            for k, v in truth.total.items()
            if report["counts"].get(k) != v
        }
        out["report_ok"] = not mismatch and all(
            truth.total[k] > 0 for k in ("leads", "bookings", "visits")
        )
        print(
            f"    generator's truth {truth.total}: "
            f"{'report matches' if not mismatch else f'MISMATCH (report, truth) {mismatch}'}",
            flush=True,
        )
        if args.explain:
            out["plan"] = explain(engine_name, url)
            print("    plan of the report's scan:\n" + out["plan"], flush=True)
        if args.sample > 0:
            trackers = child(
                [
                    "_trackers",
                    url,
                    str(args.sample),
                    str(args.seed),
                    since.isoformat(),
                    until.isoformat(),
                ],
                args.timeout,
            )
            sampled = trackers["sample"]
            per_tracker = trackers["seconds"] / sampled
            out["trackers"] = {
                k: v for k, v in trackers.items() if k not in ("senders", "per_sender")
            }
            out["per_tracker_s"] = trackers["keys_s"] + per_tracker * trackers["keys"]
            out["extrapolated"] = sampled < trackers["keys"]
            want = [0, 0, 0]
            for sender in trackers["senders"]:
                for k, v in enumerate(truth.by_sender.get(sender, (0, 0, 0))):
                    want[k] += v
            got = [trackers["counts"][k] for k in ("leads", "bookings", "visits")]
            out["trackers_ok"] = got == want
            scale = trackers["keys"] / sampled
            print(
                f"    per-tracker: {sampled:,} of {trackers['keys']:,} conversations in "
                f"{trackers['seconds']:.1f} s ({per_tracker * 1000:.1f} ms each, "
                f"{trackers['events'] / sampled:.0f} events each), keys() "
                f"{trackers['keys_s']:.2f} s, peak RSS {trackers['peak_mb']:.0f} MB"
                f" -> {'EXTRAPOLATED linearly' if out['extrapolated'] else 'measured'}"
                f" {out['per_tracker_s']:.0f} s for all; sample counts {got} "
                f"(generator's truth for the sample {want}: "
                f"{'match' if got == want else 'MISMATCH'}); scaled x{scale:.1f}: "
                f"{[round(g * scale) for g in got]} vs report "
                f"{[report['counts'][k] for k in ('leads', 'bookings', 'visits')]}",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"    kept: {url}", flush=True)
        else:
            drop_store(engine_name, url, schema)
    return out


def table(results: list[dict]) -> str:
    head = (
        "N",
        "engine",
        "rows",
        "size",
        "summary build s",
        "report after a new day s",
        "report s",
        "report peak MB",
        "per-tracker s",
        "speed-up",
        "checks",
    )
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    nan = float("nan")
    for r in results:
        build, day, report = r.get("build", {}), r.get("day", {}), r.get("report", {})
        pt = r.get("per_tracker_s")
        peak = max(day.get("peak_mb", 0), report.get("peak_mb", 0))
        lines.append(
            " | ".join(
                (
                    f"{r['n']:,}",
                    r["engine"],
                    f"{r.get('rows', 0):,}",
                    r.get("size", "?"),
                    f"{build.get('seconds', nan):.1f}",
                    f"{day.get('seconds', nan):.2f}",
                    f"{report.get('seconds', nan):.2f}",
                    f"{peak:.0f} (+{peak - report.get('base_mb', 0):.0f})",
                    "-"
                    if pt is None
                    else f"{pt:,.0f}"
                    + (
                        f" (extrapolated from {r['trackers']['sample']:,})"
                        if r.get("extrapolated")
                        else " (measured)"
                    ),
                    "-" if pt is None or not day else f"{pt / day['seconds']:,.0f}x",
                    ("report=truth" if r.get("report_ok") else "REPORT WRONG")
                    + (
                        ""
                        if pt is None
                        else ", sample=truth"
                        if r.get("trackers_ok")
                        else ", SAMPLE WRONG"
                    ),
                )
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_build":
        measure_build(*argv[1:])
        return 0
    if argv and argv[0] == "_report":
        measure_report(*argv[1:])
        return 0
    if argv and argv[0] == "_trackers":
        url, sample, seed, since, until = argv[1:]
        measure_trackers(url, int(sample), int(seed), since, until)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000",
        help="conversations per store, comma-separated",
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--sample",
        type=int,
        default=2000,
        help="conversations loaded per-tracker (0: skip)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--workdir", type=Path, help="where the SQLite files go")
    parser.add_argument(
        "--recapture",
        action="store_true",
        help="capture the template conversations through the bot again",
    )
    parser.add_argument("--explain", action="store_true", help="print query plans")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="per measurement, s"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if any(e not in ("sqlite", "postgresql") for e in engines):
        parser.error("--engines: sqlite and/or postgresql")

    from business.profile import load_profile

    profile = load_profile()
    if args.recapture or not TEMPLATES.exists():
        print("capturing a real booking and a greeting through the bot ...", flush=True)
        t0 = time.perf_counter()
        capture(TEMPLATES)
        print(f"  captured in {time.perf_counter() - t0:.0f} s into {TEMPLATES}")
    templates = json.loads(TEMPLATES.read_text(encoding="utf-8"))
    print(
        f"templates: {TEMPLATES} (captured {templates['captured']}): booking "
        f"{len(templates['booking'])} events, greeting {len(templates['greeting'])}"
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    since, until = period()
    print(
        f"period {since}..{until} ({profile.timezone.key}) of {WEEKS} weeks ending "
        f"{END_DAY}; {machine()}",
        flush=True,
    )
    results = []
    try:
        for n in sizes:
            for engine_name in engines:
                try:
                    results.append(
                        one(engine_name, n, args, templates, profile, workdir)
                    )
                except Exception as error:  # report and go on with the next size
                    print(f"  {engine_name} {n:,} FAILED: {error}", flush=True)
                    results.append({"n": n, "engine": engine_name, "error": str(error)})
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(machine())
    print(table([r for r in results if "error" not in r]))
    if args.json:
        args.json.write_text(
            json.dumps(results, indent=2, default=str), encoding="utf-8"
        )
    return 0 if all(r.get("report_ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
