"""committed_upper_id: a reader following the log by id never passes a writer that
has not committed yet."""

from __future__ import annotations

import threading
import time

from sqlalchemy import create_engine, insert

from conversation_log.append import EVENTS, committed_upper_id


def _event(event_id: int) -> dict:
    return {
        "id": event_id,
        "sender_id": "tg:1",
        "type_name": "user",
        "timestamp": 1.0,
        "data": "{}",
    }


def test_an_empty_log_has_nothing_committed(db_url: str):
    engine = create_engine(db_url, future=True)
    EVENTS.metadata.create_all(engine)

    assert committed_upper_id(engine) == 0
    engine.dispose()


def test_a_writer_in_flight_is_waited_for_on_postgresql_and_unseen_on_sqlite(
    db_url: str,
):
    engine = create_engine(db_url, future=True)
    EVENTS.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(EVENTS), [_event(1)])
    found: list[int] = []

    with engine.connect() as writer:
        writer.begin()
        writer.execute(insert(EVENTS), [_event(2)])
        reader = threading.Thread(
            target=lambda: found.append(committed_upper_id(engine))
        )
        reader.start()
        time.sleep(0.5)
        answered_early = list(found)
        writer.commit()
    reader.join(timeout=10)

    if engine.dialect.name == "postgresql":
        # Waited for the writer, then saw its event.
        assert (answered_early, found) == ([], [2])
    else:
        # SQLite: one writer at a time; the reader sees only what was committed.
        assert found == answered_early == [1]
    engine.dispose()
