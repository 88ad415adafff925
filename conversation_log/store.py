"""A SQL tracker store that also writes how fast each client message was answered.

After every turn it appends `reply_latency_ms` (client message to the first bot reply)
and, once per conversation session, `first_response_ms` as slot events, so the KPI
reports read response times from the same event log as everything else.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import (
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from conversation_log import speedups

logger = logging.getLogger(__name__)

# How many of a tracker's events are already in the table, set when read or saved.
_STORED = "_conversation_log_stored_events"
REPLY_LATENCY_SLOT = "reply_latency_ms"
FIRST_RESPONSE_SLOT = "first_response_ms"


def response_time_events(events: list[Event]) -> list[SlotSet]:
    """Slot events timing the latest client message's first reply, if not yet timed.

    `events` is the whole tracker history; only the last turn and the current session
    are looked at, so calling it after every turn costs little.
    """
    user_at = None
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], UserUttered):
            user_at = index
            break
    if user_at is None:
        return []
    reply = None
    for event in events[user_at + 1 :]:
        if isinstance(event, SlotSet) and event.key == REPLY_LATENCY_SLOT:
            return []
        if reply is None and isinstance(event, BotUttered):
            reply = event
    if reply is None:
        return []

    user = events[user_at]
    latency = round(max(reply.timestamp - user.timestamp, 0.0) * 1000, 1)
    stamped = [SlotSet(REPLY_LATENCY_SLOT, latency, timestamp=reply.timestamp)]
    if not _session_has_first_response(events, user_at):
        first_user = _first_user_message_of_session(events, user_at)
        first = round(max(reply.timestamp - first_user.timestamp, 0.0) * 1000, 1)
        stamped.append(SlotSet(FIRST_RESPONSE_SLOT, first, timestamp=reply.timestamp))
    return stamped


def _session_start(events: list[Event], before: int) -> int:
    for index in range(before, -1, -1):
        if isinstance(events[index], SessionStarted):
            return index
    return 0


def _session_has_first_response(events: list[Event], user_at: int) -> bool:
    start = _session_start(events, user_at)
    return any(
        isinstance(e, SlotSet) and e.key == FIRST_RESPONSE_SLOT for e in events[start:]
    )


def _first_user_message_of_session(events: list[Event], user_at: int) -> UserUttered:
    start = _session_start(events, user_at)
    first = next(e for e in events[start : user_at + 1] if isinstance(e, UserUttered))
    assert isinstance(first, UserUttered)
    return first


class TimedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store, opened from a SQLAlchemy URL, timing every reply.

    In endpoints.yml: ``type: conversation_log.store.TimedSQLTrackerStore`` and
    ``url: ${TRACKER_STORE_URL}`` (any SQLAlchemy URL, e.g. ``sqlite:///var/tracker.db``
    or ``postgresql://user@host/db``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The tracker store is the one part of ours that Rasa builds at start-up in
        # its own process, before any message: the place to speed Rasa up.
        speedups.install()
        super().__init__(*args, **kwargs)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        # Rasa's own query, but reading only the JSON column: building an ORM object
        # per event was a tenth of Rasa's time per message in the booking profile.
        with self.session_scope() as session:
            query = self._event_query(
                session, sender_id, fetch_events_from_all_sessions
            ).with_entities(self.SQLEvent.data)
            events = [json.loads(data) for (data,) in query.all()]
        if not self.domain or not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, _STORED, len(tracker.events))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        for event in response_time_events(list(tracker.events)):
            tracker.update(event)
        await super().save(tracker)
        setattr(tracker, _STORED, len(tracker.events))

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Any:
        # Rasa counts the rows in the table to find what is new, so a row appended by
        # another writer (an outcome from the CRM) would hide one of Rasa's own
        # events. Counting what this tracker read or saved keeps both.
        stored = getattr(tracker, _STORED, None)
        if stored is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))
