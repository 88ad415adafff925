"""Races for one slot between threads and processes end with one deal."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import pytest

from crm_connector import Deal, SlotTakenError, SqlCRM
from tests.crm_connector.helpers import at, booking, race_for_slot


def run_together(count: int, action: Callable[[int], Any]) -> list[Any]:
    """Run ``action(i)`` in ``count`` threads at once; return results or errors."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = action(index)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_threads_racing_for_one_slot_get_one_deal(crm: SqlCRM) -> None:
    crm.deals()

    results = run_together(
        20,
        lambda i: crm.book(
            booking(f"k{i}", starts_at=at(15, i), phone=f"+7999000{i:04d}")
        ),
    )

    deals = [r for r in results if isinstance(r, Deal)]
    taken = [r for r in results if isinstance(r, SlotTakenError)]
    assert (len(deals), len(taken)) == (1, 19), results
    assert crm.deals() == deals


def test_threads_booking_different_staff_all_succeed(crm: SqlCRM) -> None:
    crm.deals()

    results = run_together(10, lambda i: crm.book(booking(f"k{i}", staff_id=f"s{i}")))

    assert all(isinstance(r, Deal) for r in results), results
    assert len({r.contact_id for r in results}) == 1
    assert len(crm.deals()) == 10


@pytest.mark.parametrize(
    "staff_of",
    [
        pytest.param(lambda i: "olga", id="same-staff"),
        pytest.param(lambda i: ("olga", "irina")[i % 2], id="alternating-staff"),
    ],
)
def test_threads_replaying_one_key_get_one_deal(crm: SqlCRM, staff_of) -> None:
    crm.deals()

    results = run_together(
        10, lambda i: crm.book(booking("same", staff_id=staff_of(i)))
    )

    assert all(isinstance(r, Deal) for r in results), results
    assert len({r.id for r in results}) == 1
    assert len(crm.deals()) == 1


def test_processes_racing_for_one_slot_get_one_deal(crm: SqlCRM, db_url: str) -> None:
    crm.deals()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    queue = context.Queue()
    processes = [
        context.Process(target=race_for_slot, args=(db_url, f"p{i}", barrier, queue))
        for i in range(4)
    ]

    for process in processes:
        process.start()
    outcomes = [queue.get(timeout=90) for _ in processes]
    for process in processes:
        process.join(timeout=30)

    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["deal", "taken", "taken", "taken"], outcomes
    assert [deal.id for deal in crm.deals()] == [
        value for kind, value in outcomes if kind == "deal"
    ]
