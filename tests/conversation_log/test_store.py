"""The timed SQL tracker store on SQLite and PostgreSQL: events kept, replies timed."""

from __future__ import annotations

import asyncio

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from conversation_log import ConversationLog
from conversation_log.store import TimedSQLTrackerStore, response_time_events
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def turn(at: float, text: str, reply_after: float | None) -> list:
    # Rasa reads a zero timestamp as "now": the clocks here start past zero.
    events = [UserUttered(text, timestamp=at)]
    if reply_after is not None:
        events.append(BotUttered("ответ", timestamp=at + reply_after))
    events.append(ActionExecuted("action_listen", timestamp=at + 1))
    return events


def slot_values(events, name: str) -> list:
    return [e.value for e in events if isinstance(e, SlotSet) and e.key == name]


def test_first_turn_gets_both_timings():
    events = [SessionStarted(timestamp=100.0), *turn(100.0, "привет", 0.25)]

    stamped = response_time_events(events)

    assert slot_values(stamped, "reply_latency_ms") == [250.0]
    assert slot_values(stamped, "first_response_ms") == [250.0]


def test_later_turns_get_only_their_latency_and_only_once():
    events = [SessionStarted(timestamp=1000.0), *turn(1000.0, "привет", 0.1)]
    events += response_time_events(events)
    events += turn(1010.0, "цены", 0.04)

    stamped = response_time_events(events)
    events += stamped

    assert slot_values(stamped, "reply_latency_ms") == [40.0]
    assert slot_values(stamped, "first_response_ms") == []
    assert response_time_events(events) == []


def test_unanswered_message_is_not_timed_until_a_reply_comes():
    events = [SessionStarted(timestamp=1000.0), *turn(1000.0, "привет", None)]
    assert response_time_events(events) == []

    events += turn(1005.0, "алло?", 0.5)
    stamped = response_time_events(events)

    # The lead waited from the first message to the first reply: 5.5 s.
    assert slot_values(stamped, "first_response_ms") == [5500.0]
    assert slot_values(stamped, "reply_latency_ms") == [500.0]


def test_a_new_session_is_a_new_first_response():
    events = [SessionStarted(timestamp=1000.0), *turn(1000.0, "привет", 0.1)]
    events += response_time_events(events)
    events += [SessionStarted(timestamp=90000.0), *turn(90000.0, "снова я", 0.2)]

    assert slot_values(response_time_events(events), "first_response_ms") == [200.0]


def test_store_keeps_events_and_timings(db_url, domain):
    store = TimedSQLTrackerStore(domain=domain, host=db_url)
    tracker = DialogueStateTracker.from_events(
        "lead-1",
        [SessionStarted(timestamp=1.0), *turn(1.0, "'; DROP TABLE events; --", 0.3)],
        domain.slots,
    )

    asyncio.run(store.save(tracker))
    loaded = asyncio.run(store.retrieve("lead-1"))

    assert loaded is not None
    assert loaded.latest_message.text == "'; DROP TABLE events; --"
    assert loaded.get_slot("reply_latency_ms") == pytest.approx(300.0)
    assert loaded.get_slot("first_response_ms") == pytest.approx(300.0)
    assert asyncio.run(store.retrieve("nobody")) is None


def test_an_outside_append_during_a_turn_loses_nothing(db_url, domain):
    store = TimedSQLTrackerStore(domain=domain, host=db_url)
    first = [SessionStarted(timestamp=1000.0), *turn(1000.0, "привет", 0.1)]
    asyncio.run(
        store.save(DialogueStateTracker.from_events("lead-2", first, domain.slots))
    )
    tracker = asyncio.run(store.retrieve("lead-2"))
    log = ConversationLog(db_url)

    # The CRM appends an outcome while Rasa is handling the next message.
    log.append_slots("lead-2", [("deal_outcome", {"deal_id": 7, "status": "attended"})])
    for event in turn(1010.0, "спасибо", 0.05):
        tracker.update(event)
    asyncio.run(store.save(tracker))
    log.close()

    loaded = asyncio.run(store.retrieve("lead-2"))
    texts = [e.text for e in loaded.events if isinstance(e, UserUttered)]
    assert texts == ["привет", "спасибо"]
    assert loaded.get_slot("deal_outcome") == {"deal_id": 7, "status": "attended"}
    assert log.has_conversation("lead-2") and not log.has_conversation("nobody")
