"""Measures the WhatsApp webhook: how fast Meta gets its 200, and the client a reply.

Concurrent clients post signed webhooks (a price question) to real Rasa and action
servers; the replies go to the fake Graph API of the tests. Printed: the time to the
webhook's 200, the time from the post to the bot's reply reaching the Graph API,
messages per second, and any webhook that was not answered 200 or got no reply.

    .venv/bin/python bench/whatsapp_webhooks.py --clients 10 --messages 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.harness import Bot, train  # noqa: E402
from tests.fakes.graph_api import FakeGraphAPI, WebhookPoster, text_webhook  # noqa: E402

PHONE_ID = "109876543210"
TOKEN = "bench-token"
SECRET = "bench-secret"
QUESTION = "Сколько стоит стрижка?"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def client(
    index: int, messages: int, graph: FakeGraphAPI, meta: WebhookPoster, per_turn: int
) -> tuple[list[float], list[float], int]:
    wa_id = f"7913{index:07d}"
    acks, replies, failures = [], [], 0
    for _ in range(messages):
        before = len(graph.delivered(wa_id))
        started = time.perf_counter()
        status, _ = meta.post(text_webhook(PHONE_ID, wa_id, QUESTION))
        acks.append(time.perf_counter() - started)
        if status != 200:
            failures += 1
            continue
        try:
            graph.wait_for(wa_id, before + per_turn, timeout=60)
        except AssertionError:
            failures += 1
            continue
        replies.append(time.perf_counter() - started)
    return acks, replies, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--messages", type=int, default=5)
    args = parser.parse_args()

    model = train(ROOT / "business.yml", ROOT / "var" / "test-models" / "demo")
    graph = FakeGraphAPI(TOKEN, PHONE_ID).start()
    workdir = Path(tempfile.mkdtemp(prefix="wa-bench-"))
    bot = Bot(
        model=model,
        profile=ROOT / "business.yml",
        workdir=workdir,
        crm_url=f"sqlite:///{workdir}/crm.db",
        tracker_url=f"sqlite:///{workdir}/tracker.db",
        extra_env={
            "WHATSAPP_GRAPH_URL": graph.url,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
            "WHATSAPP_ACCESS_TOKEN": TOKEN,
            "WHATSAPP_APP_SECRET": SECRET,
            "WHATSAPP_VERIFY_TOKEN": "bench",
        },
    ).start()
    try:
        meta = WebhookPoster(
            f"http://127.0.0.1:{bot.rasa_port}/webhooks/whatsapp/webhook", SECRET
        )
        meta.post(text_webhook(PHONE_ID, "79999999999", QUESTION))  # warm-up
        per_turn = len(graph.wait_for("79999999999", 1))
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(
                pool.map(
                    lambda i: client(i, args.messages, graph, meta, per_turn),
                    range(args.clients),
                )
            )
        elapsed = time.perf_counter() - started
    finally:
        bot.stop()
        graph.stop()

    acks = [a for r in results for a in r[0]]
    replies = [a for r in results for a in r[1]]
    failures = sum(r[2] for r in results)
    print(f"clients {args.clients}, messages {len(acks)}, failures {failures}")
    print(
        f"webhook 200:  p50 {statistics.median(acks) * 1000:.0f} ms, "
        f"p95 {percentile(acks, 0.95) * 1000:.0f} ms, max {max(acks) * 1000:.0f} ms"
    )
    if replies:
        print(
            f"reply sent:   p50 {statistics.median(replies) * 1000:.0f} ms, "
            f"p95 {percentile(replies, 0.95) * 1000:.0f} ms"
        )
    print(f"throughput:   {len(replies) / elapsed:.1f} messages/s")


if __name__ == "__main__":
    main()
