"""The scheduler under a hand-moved clock: reminders reach Rasa's API at their times,
once, never at night, never for a changed booking, and survive a restart."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine

from conversation_log import ConversationLog
from conversation_log.append import EVENTS
from reminders.delivery import DeliveryLog, RasaDelivery
from reminders.scheduler import MAX_ATTEMPTS, Scheduler
from reminders.store import ReminderStore
from tests.reminders.conftest import at, book


def sent_for(rasa, deal_id: int) -> list[str]:
    return [
        t.entities["reminder_id"]
        for t in rasa.received
        if t.entities.get("deal_id") == str(deal_id)
    ]


def test_reminders_fire_at_their_times_and_once(crm, rasa, scheduler, clock):
    deal = book(crm, "a", at(4, 15))

    clock.now = at(3, 14, 59)
    assert scheduler.run_once().sent == []
    clock.now = at(3, 15)
    first = scheduler.run_once()
    second = scheduler.run_once()
    clock.now = at(4, 13, 1)
    third = scheduler.run_once()

    assert len(first.sent) == 1 and second.sent == [] and len(third.sent) == 1
    call = rasa.received[0]
    assert call.conversation_id == "conv-a"
    assert call.intent == "EXTERNAL_reminder"
    assert call.output_channel == "latest"
    assert call.entities == {"deal_id": str(deal.id), "reminder_id": str(first.sent[0])}
    assert len(sent_for(rasa, deal.id)) == 2


def test_a_restarted_scheduler_does_not_send_again(
    crm, rasa, scheduler, clock, db_url, profile
):
    book(crm, "a", at(4, 15))
    clock.now = at(3, 15, 5)
    assert len(scheduler.run_once().sent) == 1

    # A new process: a new store and scheduler on the same database.
    store = ReminderStore(db_url)
    delivery = RasaDelivery(rasa.url, rasa.token, timeout=5)
    try:
        restarted = Scheduler(store, delivery, profile, clock, worker="test-2")
        assert restarted.run_once().sent == []
        clock.now = at(4, 13)
        assert len(restarted.run_once().sent) == 1
    finally:
        delivery.close()
        store.close()
    assert len(rasa.received) == 2


def test_no_reminder_for_a_cancelled_or_moved_booking(crm, rasa, scheduler, clock):
    cancelled = book(crm, "a", at(4, 15))
    moved = book(crm, "b", at(4, 15), staff_id="olga", phone="+79131000002")
    clock.now = at(3, 12)
    scheduler.run_once()

    crm.cancel(cancelled.id)
    crm.reschedule(moved.id, at(5, 16), "olga")
    clock.now = at(3, 15, 1)
    scheduler.run_once()
    clock.now = at(4, 13, 1)
    scheduler.run_once()

    assert sent_for(rasa, cancelled.id) == []
    assert sent_for(rasa, moved.id) == []  # its new reminders: 4 Dec 16:00, 5 Dec 14:00
    clock.now = at(4, 16)
    assert len(scheduler.run_once().sent) == 1


def test_nothing_goes_out_at_night_and_a_stale_reminder_is_skipped(
    crm, rasa, scheduler, clock
):
    deal = book(crm, "a", at(4, 15))
    clock.now = at(3, 10)
    scheduler.run_once()

    # The scheduler was down from before 15:00 until 22:00 (quiet) and 09:00.
    clock.now = at(3, 22)
    assert scheduler.run_once().sent == []
    clock.now = at(4, 9)
    result = scheduler.run_once()

    assert result.sent == [] and len(result.skipped) == 1
    assert sent_for(rasa, deal.id) == []


def test_several_workers_deliver_each_reminder_once(crm, rasa, clock, db_url, profile):
    staff = ("anna", "olga", "marina", "sergey")
    deals = [
        book(crm, f"d{i}", at(4, 14), staff_id=s, phone=f"+7913100000{i}")
        for i, s in enumerate(staff)
    ]
    clock.now = at(4, 12)  # four 2-hour reminders due at once
    workers = []
    for index in range(4):
        store = ReminderStore(db_url)
        delivery = RasaDelivery(rasa.url, rasa.token, timeout=5)
        workers.append(Scheduler(store, delivery, profile, clock, worker=f"w{index}"))
    barrier = threading.Barrier(len(workers))

    def run(worker: Scheduler) -> None:
        barrier.wait(timeout=30)
        worker.run_once()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for worker in workers:
        worker.store.close()

    ids = [t.entities["reminder_id"] for t in rasa.received]
    assert len(ids) == len(set(ids)) == 4
    assert {t.entities["deal_id"] for t in rasa.received} == {str(d.id) for d in deals}


@pytest.mark.parametrize(
    ("failure", "token_ok"),
    [
        pytest.param(503, True, id="rasa-down"),
        pytest.param(None, False, id="bad-token"),
    ],
)
def test_a_refused_delivery_is_retried_then_given_up(
    crm, rasa, store, profile, clock, failure, token_ok
):
    deal = book(crm, "a", at(4, 15))
    rasa.fail_with = failure
    delivery = RasaDelivery(rasa.url, rasa.token if token_ok else "wrong", timeout=5)
    scheduler = Scheduler(store, delivery, profile, clock, worker="w")
    clock.now = at(3, 15)

    outcomes = []
    for attempt in range(MAX_ATTEMPTS):
        result = scheduler.run_once()
        outcomes.append((len(result.retried), len(result.failed)))
        clock.now += timedelta(minutes=2**attempt)  # the back-off: 1, 2, 4, 8 min
        if result.failed:
            break
    delivery.close()

    assert rasa.received == []
    assert outcomes[-1] == (0, 1) and all(r == (1, 0) for r in outcomes[:-1])
    first = store.reminders([deal.id])[0]
    assert first.state == "failed" and first.attempts == MAX_ATTEMPTS
    assert "HTTP" in (first.reason or "") and "wrong" not in (first.reason or "")


def test_a_delivery_that_fails_once_is_sent_on_the_retry(crm, rasa, scheduler, clock):
    deal = book(crm, "a", at(4, 15))
    rasa.fail_with = 503
    clock.now = at(3, 15)
    assert len(scheduler.run_once().retried) == 1

    rasa.fail_with = None
    assert scheduler.run_once().sent == []  # not before the back-off
    clock.now = at(3, 15, 2)
    assert len(scheduler.run_once().sent) == 1
    assert len(sent_for(rasa, deal.id)) == 1


def test_rasa_unreachable_is_a_retry_not_a_crash(crm, store, profile, clock):
    book(crm, "a", at(4, 15))
    delivery = RasaDelivery("http://127.0.0.1:9", "t", timeout=2)
    scheduler = Scheduler(store, delivery, profile, clock, worker="w")
    clock.now = at(3, 15)

    result = scheduler.run_once()
    delivery.close()

    assert len(result.retried) == 1
    assert "unreachable" in (store.reminders()[0].reason or "")


@pytest.mark.parametrize(
    ("in_log", "sent_again"),
    [
        pytest.param(True, 0, id="died-after-rasa-took-it"),
        pytest.param(False, 1, id="died-before-sending"),
    ],
)
def test_a_reminder_left_by_a_dead_worker(
    crm, rasa, store, profile, clock, tmp_path, in_log, sent_again
):
    deal = book(crm, "a", at(4, 15))
    log_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = create_engine(log_url)
    EVENTS.metadata.create_all(engine)
    engine.dispose()
    store.sync(profile.reminders, profile.timezone, at(3, 15), timedelta(minutes=30))
    abandoned = store.due(at(3, 15))[0]
    assert store.claim(abandoned.id, "dead-worker", at(3, 15))
    if in_log:
        ConversationLog(log_url).append_slots(
            "conv-a", [("reminder", {"reminder_id": abandoned.id, "deal_id": deal.id})]
        )
    delivery = RasaDelivery(rasa.url, rasa.token, timeout=5)
    checker = DeliveryLog(log_url)
    scheduler = Scheduler(store, delivery, profile, clock, "w2", delivered=checker)

    clock.now = at(3, 15, 3)  # within the dead worker's lease: hands off
    early = scheduler.run_once()
    clock.now = at(3, 15, 6)
    late = scheduler.run_once()
    delivery.close()
    checker.close()

    assert early.sent == []
    assert len(late.sent) == sent_again == len(rasa.received)
    assert store.reminders([deal.id])[0].state == "sent"


def test_a_reminder_the_bot_did_not_say_is_retried(crm, rasa, scheduler, clock, store):
    deal = book(crm, "a", at(4, 15))
    rasa.says_reminders = False
    clock.now = at(3, 15)

    first = scheduler.run_once()
    rasa.says_reminders = True
    clock.now = at(3, 15, 1)
    second = scheduler.run_once()

    assert len(first.retried) == 1 and first.sent == []
    assert second.sent == first.retried
    reminder = store.reminders([deal.id])[0]
    assert (reminder.state, reminder.attempts) == ("sent", 2)
