"""The decisions the database makes for the bot, on SQLite and PostgreSQL: one card per
key, one winner per take, one weekly report per chat."""

from __future__ import annotations

import threading

from managers_bot.store import Store


def card_fields(key: str) -> dict:
    return {
        "key": key,
        "kind": "handoff",
        "conversation_id": "tg:1",
        "event_id": 1,
        "requested_at": 1000.0,
    }


def test_a_key_makes_one_card(db_url: str):
    store = Store(db_url)

    first = store.add_card(**card_fields("handoff:7"))
    again = store.add_card(**card_fields("handoff:7"))

    assert first is not None and again is None
    store.close()


def test_of_many_simultaneous_takes_exactly_one_wins(db_url: str):
    store = Store(db_url)
    card = store.add_card(**card_fields("handoff:8"))
    managers = [f"m{n}" for n in range(8)]
    start = threading.Barrier(len(managers))
    results = {}

    def take(manager: str) -> None:
        start.wait(10)
        results[manager] = store.take(card.id, manager, 2000.0)

    threads = [threading.Thread(target=take, args=(m,)) for m in managers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    winners = [m for m, r in results.items() if r.won]
    assert len(winners) == 1
    assert {r.card.taken_by for r in results.values()} == set(winners)
    store.close()


def test_a_weekly_report_is_claimed_once_per_chat_until_released(db_url: str):
    store = Store(db_url)

    assert store.claim_report("week:2026-11-30", 5) is True
    assert store.claim_report("week:2026-11-30", 5) is False
    assert store.claim_report("week:2026-11-30", 6) is True
    store.release_report("week:2026-11-30", 5)
    assert store.claim_report("week:2026-11-30", 5) is True
    store.close()


def test_a_takeover_starts_and_ends_once(db_url: str):
    store = Store(db_url)
    card = store.add_card(**card_fields("handoff:9"))

    assert [store.set_takeover(card.id, on) for on in (True, True, False, False)] == [
        True,
        False,
        True,
        False,
    ]
    store.close()
