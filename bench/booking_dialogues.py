"""Drives real booking dialogues through Rasa's REST webhook with concurrent clients.

Each client is a distinct sender that books, one dialogue after another, by answering
whatever the bot asks (the questions of `actions/questions.py`). The script prints the
latency per message, the throughput, the bot time per booking, how many bookings were
completed, and what the CRM holds afterwards, together with the machine it ran on.

    .venv/bin/python bench/booking_dialogues.py --clients 1 --dialogues 10
    .venv/bin/python bench/booking_dialogues.py --clients 20 --dialogues 5 --json

Both servers run from the repo's files in a fresh temporary directory, with the SQLite
CRM and the SQLite tracker store a user gets from `make run`; everything is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from business.profile import DEFAULT_PROFILE, BusinessProfile, load_profile  # noqa: E402
from tests.e2e.harness import Bot, train  # noqa: E402

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "booking-bench" / "cache"
REQUEST_TIMEOUT_S = 60.0
# The same question this many times in a row means the bot did not take the answer.
REPEATS_STUCK = 3

# How a client opens the conversation; {service} is the service in the accusative.
OPENINGS = (
    "Здравствуйте! Хочу записаться на {service}",
    "Запишите на {service} в пятницу после 15",
    "Можно на {service} завтра вечером?",
    "Добрый день! Нужна запись на {service} на ближайшее время",
    "Хочу на {service} послезавтра в 12:00",
)
# Answers to "Когда вам удобно?" when the opening named no time the bot could use.
WHEN_ANSWERS = ("завтра после 15", "в пятницу утром", "ближайшее время", "в субботу")
CLIENT_NAMES = (
    "Екатерина",
    "Дмитрий Соколов",
    "Наталья",
    "Игорь",
    "Елена Смирнова",
    "Павел",
    "Татьяна",
    "Алексей",
    "Ирина",
    "Михаил",
)

# The bot's questions, as `actions/questions.py` words them, and the answer kind.
QUESTIONS = (
    ("Готово", "done"),
    ("На какую услугу", "service"),
    ("Когда вам удобно", "when"),
    ("К какому мастеру", "staff"),
    ("Выберите удобное время", "slot"),
    ("Ближайшее свободное время", "slot"),
    ("Вот что свободно", "slot"),
    ("согласие", "consent"),
    ("Как вас зовут", "name"),
    ("просто ваше имя", "name"),
    ("номер телефона", "phone"),
    ("Проверьте", "confirm"),
)
SLOT_TAKEN = ("успели занять", "уже занято")


@dataclass
class Plan:
    """What one simulated client wants, fixed before the dialogue starts."""

    client: int
    dialogue: int
    sender: str
    service_id: str
    opening: str
    when: str
    name: str
    phone: str
    slot_pick: int

    @property
    def phone_e164(self) -> str:
        return "+7" + "".join(c for c in self.phone if c.isdigit())[1:]


@dataclass
class Turn:
    sent: str
    replies: list[dict[str, Any]]
    latency_ms: float


@dataclass
class Dialogue:
    plan: Plan
    turns: list[Turn] = field(default_factory=list)
    outcome: str = "unfinished"
    slot_conflicts: int = 0

    @property
    def booked(self) -> bool:
        return self.outcome == "booked"

    @property
    def bot_time_ms(self) -> float:
        return sum(t.latency_ms for t in self.turns)

    def transcript(self) -> list[str]:
        lines = []
        for turn in self.turns:
            lines.append(f"> {turn.sent}   [{turn.latency_ms:.0f} ms]")
            for reply in turn.replies:
                for text_line in (reply.get("text") or "").splitlines():
                    lines.append(f"< {text_line}")
                for button in reply.get("buttons") or []:
                    lines.append(f"<   [{button.get('title')}] {button.get('payload')}")
        lines.append(f"= {self.outcome}")
        return lines


# -- what the client says ------------------------------------------------------------


def accusative(phrase: str) -> str:
    """'Женская стрижка' -> 'женскую стрижку': what a client types after 'на'."""
    from nlu_ru.matching import morph

    words = []
    for word in phrase.lower().split():
        parse = morph().parse(word)[0]
        inflected = parse.inflect({"accs"}) if "nomn" in parse.tag else None
        words.append(inflected.word if inflected else word)
    return " ".join(words)


def plans(profile: BusinessProfile, clients: int, dialogues: int) -> list[list[Plan]]:
    """The dialogues of each client; openings and services vary independently."""
    services = profile.services
    result = []
    for client in range(clients):
        own = []
        for dialogue in range(dialogues):
            number = client * dialogues + dialogue
            service = services[number % len(services)]
            opening = OPENINGS[(number * 2) % len(OPENINGS)]
            own.append(
                Plan(
                    client=client,
                    dialogue=dialogue,
                    sender=f"bench-{client:02d}-{dialogue:02d}",
                    service_id=service.id,
                    opening=opening.format(service=accusative(service.name)),
                    when=WHEN_ANSWERS[number % len(WHEN_ANSWERS)],
                    name=CLIENT_NAMES[number % len(CLIENT_NAMES)],
                    phone=f"+7 913 1{client:02d}-{dialogue:02d}-{number % 100:02d}",
                    slot_pick=client,
                )
            )
        result.append(own)
    return result


def question_of(text: str) -> str | None:
    """The kind of the last question in the bot's replies."""
    found = [(text.rfind(marker), kind) for marker, kind in QUESTIONS]
    found = [(at, kind) for at, kind in found if at >= 0]
    if any(kind == "done" for _, kind in found):
        return "done"
    return max(found)[1] if found else None


def payload_with(buttons: list[dict[str, Any]], key: str, value: str) -> str | None:
    for button in buttons:
        if f'"{key}": "{value}"' in (button.get("payload") or ""):
            return button["payload"]
    return None


def answer(
    kind: str,
    buttons: list[dict[str, Any]],
    plan: Plan,
    offers: int,
    first_slot: bool = False,
) -> str:
    """The client's next message, or "" when the question cannot be answered."""
    if kind == "service":
        return payload_with(buttons, "service", plan.service_id) or ""
    if kind == "when":
        return plan.when
    if kind == "staff":
        return payload_with(buttons, "staff", "any") or ""
    if kind == "slot":
        slots = [b for b in buttons if "slot_key" in (b.get("payload") or "")]
        if not slots:
            return ""
        pick = 0 if first_slot else plan.slot_pick + offers
        return slots[pick % len(slots)]["payload"]
    if kind in ("consent", "confirm"):
        return "да"
    if kind == "name":
        return plan.name
    if kind == "phone":
        return plan.phone
    return ""


# -- driving the dialogues -------------------------------------------------------------


async def say(
    session: aiohttp.ClientSession, url: str, sender: str, text: str
) -> tuple[list[dict[str, Any]], float]:
    started = time.perf_counter()
    async with session.post(url, json={"sender": sender, "message": text}) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
    latency_ms = (time.perf_counter() - started) * 1000
    return json.loads(body), latency_ms


async def run_dialogue(
    session: aiohttp.ClientSession,
    url: str,
    plan: Plan,
    max_turns: int,
    max_seconds: float,
) -> Dialogue:
    dialogue = Dialogue(plan)
    deadline = time.monotonic() + max_seconds
    message, offers = plan.opening, 0
    asked: list[str | None] = []
    for _ in range(max_turns):
        if time.monotonic() > deadline:
            dialogue.outcome = f"time cap ({max_seconds:.0f} s)"
            return dialogue
        try:
            replies, latency_ms = await say(session, url, plan.sender, message)
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError) as error:
            dialogue.outcome = f"error: {type(error).__name__}: {error}"
            return dialogue
        dialogue.turns.append(Turn(message, replies, latency_ms))

        text = "\n".join(r.get("text") or "" for r in replies)
        buttons = [b for r in replies for b in r.get("buttons") or []]
        taken = any(marker in text for marker in SLOT_TAKEN)
        dialogue.slot_conflicts += taken
        kind = question_of(text)
        if kind == "done":
            dialogue.outcome = "booked"
            return dialogue
        # New times offered because another client took the chosen one is the bot
        # working, not a stuck dialogue; the turn cap still bounds it.
        asked.append(None if taken else kind)
        if len(asked) >= REPEATS_STUCK and len(set(asked[-REPEATS_STUCK:])) == 1:
            if asked[-1] is not None:
                dialogue.outcome = f"stuck: asked {kind} {REPEATS_STUCK} times in a row"
                return dialogue
        # After losing a time, a client takes the first one still free.
        message = answer(kind, buttons, plan, offers, first_slot=taken) if kind else ""
        if not message:
            dialogue.outcome = f"stuck: no answer to {kind or 'an unknown question'}"
            return dialogue
        offers += kind == "slot"
    dialogue.outcome = f"turn cap ({max_turns})"
    return dialogue


async def run_clients(
    url: str, all_plans: list[list[Plan]], max_turns: int, max_seconds: float
) -> tuple[list[Dialogue], float]:
    """Every client's dialogues, clients concurrently; and the wall time in seconds."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=len(all_plans))
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def client(own: list[Plan]) -> list[Dialogue]:
            return [
                await run_dialogue(session, url, plan, max_turns, max_seconds)
                for plan in own
            ]

        started = time.perf_counter()
        done = await asyncio.gather(*(client(own) for own in all_plans))
        wall = time.perf_counter() - started
    return [d for own in done for d in own], wall


async def warm_up(url: str) -> None:
    """One greeting, so the first measured message does not pay for lazy loading."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await say(session, url, "bench-warm-up", "Здравствуйте")


# -- what the CRM holds afterwards -----------------------------------------------------


def check_crm(crm_url: str, dialogues: list[Dialogue]) -> dict[str, Any]:
    """Deals in the CRM compared with the dialogues that said "Готово"."""
    from crm_connector import create_crm

    deals = create_crm(crm_url).deals()
    by_sender: dict[str, list[Any]] = {}
    for deal in deals:
        by_sender.setdefault(deal.conversation_id, []).append(deal)

    matching, mismatched, missing, renamed = 0, [], [], []
    for dialogue in dialogues:
        if not dialogue.booked:
            continue
        plan = dialogue.plan
        found = by_sender.get(plan.sender, [])
        if not found:
            missing.append(plan.sender)
        elif len(found) == 1 and (
            found[0].phone == plan.phone_e164 and found[0].service_id == plan.service_id
        ):
            matching += 1
            if found[0].contact_name != plan.name:
                renamed.append(f"{plan.name!r} stored as {found[0].contact_name!r}")
        else:
            mismatched.append(
                f"{plan.sender}: {len(found)} deal(s), "
                + ", ".join(f"{d.service_id}/{d.phone[-4:]}" for d in found)
                + f"; wanted {plan.service_id}/{plan.phone_e164[-4:]}"
            )

    booked_senders = {d.plan.sender for d in dialogues if d.booked}
    unexpected = [
        d.conversation_id for d in deals if d.conversation_id not in booked_senders
    ]

    overlaps = 0
    active = sorted(
        (d for d in deals if d.status == "booked"),
        key=lambda d: (d.staff_id, d.starts_at),
    )
    busy_until: dict[str, Any] = {}
    for deal in active:
        until = busy_until.get(deal.staff_id)
        if until is not None and deal.starts_at < until:
            overlaps += 1
        busy_until[deal.staff_id] = max(until or deal.ends_at, deal.ends_at)

    return {
        "deals": len(deals),
        "matching": matching,
        "mismatched": mismatched,
        "missing": missing,
        "unexpected": unexpected,
        "double_booked": overlaps,
        "name_differs": sorted(set(renamed)),
    }


# -- figures ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, so every figure is a latency that was measured."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "rasa": metadata.version("rasa"),
        "rasa_sdk": metadata.version("rasa-sdk"),
    }


def summarise(
    dialogues: list[Dialogue], wall_s: float, crm: dict[str, Any]
) -> dict[str, Any]:
    latencies = [t.latency_ms for d in dialogues for t in d.turns]
    per_booking = [d.bot_time_ms for d in dialogues if d.booked]
    failed = [d for d in dialogues if not d.booked]

    def rounded(value: float | None, digits: int = 0) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "messages": len(latencies),
        "wall_s": round(wall_s, 2),
        "messages_per_s": round(len(latencies) / wall_s, 2) if wall_s else None,
        "latency_ms": {
            "p50": rounded(percentile(latencies, 50)),
            "p95": rounded(percentile(latencies, 95)),
            "max": rounded(max(latencies, default=None)),
        },
        "booking_bot_time_ms": {
            "median": rounded(statistics.median(per_booking) if per_booking else None),
            "p95": rounded(percentile(per_booking, 95)),
        },
        "turns_per_booking": rounded(
            statistics.mean(len(d.turns) for d in dialogues if d.booked)
            if per_booking
            else None,
            1,
        ),
        "bookings": {"completed": len(per_booking), "attempted": len(dialogues)},
        "slot_conflicts": sum(d.slot_conflicts for d in dialogues),
        "failures": [
            {
                "sender": d.plan.sender,
                "outcome": d.outcome,
                "transcript": d.transcript(),
            }
            for d in failed
        ],
        "crm": crm,
    }


def print_report(report: dict[str, Any]) -> None:
    m, r = report["machine"], report["results"]
    lat, per = r["latency_ms"], r["booking_bot_time_ms"]
    crm = r["crm"]
    print(f"Booking dialogues benchmark, {report['date']}")
    print(
        f"machine:   {m['nproc']} CPUs ({m['cpu']}), {m['ram_gb']} GB RAM; "
        f"Python {m['python']}, Rasa {m['rasa']}, rasa-sdk {m['rasa_sdk']}"
    )
    print(f"profile:   {report['profile']}")
    print(f"clock:     {report['clock']}")
    print(f"stores:    {report['stores']}")
    print(f"training:  {report['training']}")
    print(
        f"load:      N={report['clients']} clients x {report['dialogues']} dialogues, "
        f"no pause between messages, 1 warm-up message not counted"
    )
    print(
        f"messages:  {r['messages']} in {r['wall_s']} s = {r['messages_per_s']} msg/s"
    )
    print(
        f"latency:   p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms "
        f"(per message, N={r['messages']})"
    )
    print(
        f"booking:   bot time median {per['median']} ms, p95 {per['p95']} ms; "
        f"{r['turns_per_booking']} messages per booking on average"
    )
    print(
        f"bookings:  {r['bookings']['completed']} completed of "
        f"{r['bookings']['attempted']} attempted; "
        f"{r['slot_conflicts']} times a chosen slot was taken meanwhile"
    )
    print(
        f"CRM:       {crm['deals']} deals; {crm['matching']} match a completed "
        f"dialogue (sender, phone, service); {len(crm['missing'])} completed without "
        f"a deal; {len(crm['mismatched'])} mismatched; {len(crm['unexpected'])} "
        f"without a completed dialogue; {crm['double_booked']} double-booked"
    )
    for line in crm["mismatched"][:5]:
        print(f"           mismatch {line}")
    if crm["name_differs"]:
        print("           client names changed: " + "; ".join(crm["name_differs"]))
    if r["failures"]:
        outcomes: dict[str, int] = {}
        for failure in r["failures"]:
            outcomes[failure["outcome"]] = outcomes.get(failure["outcome"], 0) + 1
        print("failed:    " + "; ".join(f"{n} x {o}" for o, n in outcomes.items()))
        first = r["failures"][0]
        print(f"first failed dialogue ({first['sender']}):")
        for line in first["transcript"]:
            print(f"    {line}")


# -- the run -----------------------------------------------------------------------------


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Child processes' stdout and stderr go to `log`; stdout keeps only the report."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def trained_model(
    profile: Path, fresh: bool, cache: Path, scratch: Path
) -> tuple[Path, str]:
    """The model and how the training went, as words for the report."""
    if fresh:
        cache = scratch / "train-cache"
    existed = (cache / "models" / "booking.tar.gz").exists()
    log = scratch / "train.log"
    started = time.perf_counter()
    try:
        with output_to(log):
            model = train(profile, cache)
    except Exception:
        sys.stderr.write(log.read_text(encoding="utf-8", errors="replace")[-4000:])
        raise
    took = time.perf_counter() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    trained = text.count("Finished training component")
    restored = text.count("Restored component")
    what = "scripts/profile_nlu.py + rasa train"
    if fresh:
        return model, f"fresh {took:.1f} s ({what}, empty cache)"
    if not existed:
        return model, f"no cached model yet: {took:.1f} s ({what}) into {cache}"
    if trained == 0:
        return model, f"cached ({cache}; {what} restored everything in {took:.1f} s)"
    return model, (
        f"cached, but the data changed: {trained} of {trained + restored} components "
        f"retrained in {took:.1f} s ({what}, {cache})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1, help="concurrent clients N")
    parser.add_argument("--dialogues", type=int, default=10, help="bookings per client")
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--train", action="store_true", help="time a fresh `rasa train` (no cache)"
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--now", help="pin the bot's clock (ASSISTANT_NOW, ISO 8601); default: real"
    )
    parser.add_argument("--max-turns", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="per dialogue")
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers' directory (logs, DBs)"
    )
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 99 and 1 <= args.dialogues <= 99):
        parser.error("--clients and --dialogues must be between 1 and 99")
    profile_path = args.profile.resolve()
    profile = load_profile(profile_path)

    scratch = Path(tempfile.mkdtemp(prefix="booking-bench-"))
    # The servers inherit this environment: a pinned clock from the shell would
    # silently turn a real-clock run into a pinned one.
    os.environ.pop("ASSISTANT_NOW", None)
    extra_env = {"ASSISTANT_NOW": args.now} if args.now else {}
    bot = None
    try:
        model, training = trained_model(
            profile_path, args.train, args.cache_dir.resolve(), scratch
        )
        workdir = scratch / "run"
        workdir.mkdir()
        bot = Bot(
            model=model,
            profile=profile_path,
            workdir=workdir,
            crm_url=f"sqlite:///{workdir}/crm.db",
            tracker_url=f"sqlite:///{workdir}/tracker.db",
            extra_env=extra_env,
        ).start()
        url = f"http://127.0.0.1:{bot.rasa_port}/webhooks/rest/webhook"
        asyncio.run(warm_up(url))
        all_plans = plans(profile, args.clients, args.dialogues)
        dialogues, wall = asyncio.run(
            run_clients(url, all_plans, args.max_turns, args.max_seconds)
        )
        crm = check_crm(bot.crm_url, dialogues)
    finally:
        if bot is not None:
            bot.stop()
        if args.keep:
            print(f"servers' directory kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "profile": str(profile_path),
        "clock": (
            f"pinned ASSISTANT_NOW={args.now}"
            if args.now
            else "real (ASSISTANT_NOW unset)"
        ),
        "stores": "SQLite CRM and SQLite tracker store in a fresh temporary directory",
        "training": training,
        "clients": args.clients,
        "dialogues": args.dialogues,
        "results": summarise(dialogues, wall, crm),
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print_report(report)
    return 0 if report["results"]["bookings"]["completed"] == len(dialogues) else 1


if __name__ == "__main__":
    sys.exit(main())
