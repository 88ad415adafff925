"""The reminders table: planned from deals, retired when a booking changes, and claimed
by one worker only, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

from reminders.scheduler import GRACE
from tests.reminders.conftest import at, book


def test_a_booking_gets_the_profile_reminders(crm, store, profile):
    deal = book(crm, "a", at(4, 15))

    added = store.sync(profile.reminders, profile.timezone, at(3, 10), GRACE)

    rows = store.reminders([deal.id])
    assert added == 2
    assert [(r.before_minutes, r.fire_at, r.state) for r in rows] == [
        (1440, at(3, 15), "pending"),
        (120, at(4, 13), "pending"),
    ]
    assert store.sync(profile.reminders, profile.timezone, at(3, 10), GRACE) == 0


def test_a_cancelled_booking_loses_its_pending_reminders(crm, store, profile):
    deal = book(crm, "a", at(4, 15))
    store.sync(profile.reminders, profile.timezone, at(3, 10), GRACE)

    crm.cancel(deal.id)
    store.sync(profile.reminders, profile.timezone, at(3, 11), GRACE)

    assert {r.state for r in store.reminders([deal.id])} == {"obsolete"}


def test_a_moved_booking_is_reminded_of_the_new_time_only(crm, store, profile):
    deal = book(crm, "a", at(4, 15))
    store.sync(profile.reminders, profile.timezone, at(3, 10), GRACE)

    crm.reschedule(deal.id, at(5, 12), "olga")
    store.sync(profile.reminders, profile.timezone, at(3, 11), GRACE)

    rows = store.reminders([deal.id], state="pending")
    assert [(r.fire_at, r.staff_id) for r in rows] == [
        (at(4, 12), "olga"),
        (at(5, 10), "olga"),
    ]
    assert len(store.reminders([deal.id], state="obsolete")) == 2


def test_a_reminder_whose_time_passed_long_ago_is_skipped(crm, store, profile):
    deal = book(crm, "a", at(4, 10))  # reminders at 3 Dec 10:00 and 4 Dec 09:00

    store.sync(profile.reminders, profile.timezone, at(3, 16), GRACE)

    rows = store.reminders([deal.id])
    assert [(r.state, r.reason) for r in rows] == [
        ("skipped", "passed"),
        ("pending", None),
    ]


def test_one_claim_wins_among_threads(crm, store, profile):
    deal = book(crm, "a", at(4, 15))
    store.sync(profile.reminders, profile.timezone, at(3, 10), GRACE)
    reminder = store.reminders([deal.id])[0]
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def claim(worker: int) -> None:
        barrier.wait(timeout=30)
        wins.append(store.claim(reminder.id, f"w{worker}", at(3, 15)))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(wins) == [False] * 7 + [True]
    assert store.reminders([deal.id])[0].state == "sending"


def test_no_claim_after_a_cancellation_even_before_the_next_pass(crm, store, profile):
    deal = book(crm, "a", at(4, 15))
    store.sync(profile.reminders, profile.timezone, at(3, 10), GRACE)
    due = store.due(at(3, 15))

    crm.cancel(deal.id)

    assert [r.deal_id for r in due] == [deal.id]
    assert store.claim(due[0].id, "w1", at(3, 15)) is False
    assert store.reminders([deal.id])[0].state == "pending"


def test_an_abandoned_claim_goes_back_to_pending(crm, store, profile):
    deal = book(crm, "a", at(4, 15))
    store.sync(profile.reminders, profile.timezone, at(3, 10), GRACE)
    first = store.reminders([deal.id])[0]
    assert store.claim(first.id, "dead-worker", at(3, 15))

    early = store.reclaim_stale(at(3, 15, 2), timedelta(minutes=5))
    late = store.reclaim_stale(at(3, 15, 6), timedelta(minutes=5))

    assert early == []
    assert [(r.id, r.state) for r in late] == [(first.id, "pending")]
    # The dead worker cannot settle it any more.
    assert store.finish(first.id, "dead-worker", "sent", at(3, 15, 7)) is False
