"""The WhatsApp channel's SQL memory on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from channels.whatsapp_store import (
    REPLY_ID_RETENTION_SECONDS,
    SEEN_RETENTION_SECONDS,
    WhatsAppStore,
    WhatsAppStoreError,
    reply_id_for,
)

NOW = 1_800_000_000.0


@pytest.fixture
def store(db_url: str) -> Iterator[WhatsAppStore]:
    opened = WhatsAppStore(db_url)
    yield opened
    opened.close()


def test_a_message_id_is_new_once(store):
    assert store.first_sighting("wamid.1", NOW) is True
    assert store.first_sighting("wamid.1", NOW + 5) is False
    assert store.first_sighting("wamid.2", NOW) is True


def test_seen_ids_hold_across_a_restart(store, db_url):
    store.first_sighting("wamid.kept", NOW)

    again = WhatsAppStore(db_url)
    try:
        assert again.first_sighting("wamid.kept", NOW) is False
    finally:
        again.close()


def test_concurrent_deliveries_of_one_id_are_taken_once(db_url):
    stores = [WhatsAppStore(db_url) for _ in range(6)]
    stores[0].first_sighting("wamid.warmup", NOW)  # tables exist before the race
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def deliver(store: WhatsAppStore) -> None:
        barrier.wait()
        results.append(store.take_message("wamid.race", "79130000009", NOW, NOW))

    threads = [threading.Thread(target=deliver, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for store in stores:
        store.close()

    assert sorted(results) == [False] * 5 + [True]


def test_taking_a_message_records_its_time_once(store):
    assert store.take_message("wamid.t1", "79130000002", NOW - 10, at=NOW) is True
    assert store.take_message("wamid.t1", "79130000002", NOW + 50, at=NOW) is False

    assert store.last_inbound("79130000002") == NOW - 10  # the replay moved nothing
    assert store.take_message("wamid.t2", "79130000002", NOW + 50, at=NOW) is True
    assert store.last_inbound("79130000002") == NOW + 50


def test_pruning_drops_only_old_rows(store):
    store.first_sighting("wamid.old", NOW - SEEN_RETENTION_SECONDS - 1)
    store.first_sighting("wamid.recent", NOW - 60)
    old_id = store.remember_payload("/old", at=NOW - REPLY_ID_RETENTION_SECONDS - 1)
    new_id = store.remember_payload("/new", at=NOW)

    assert store.prune(NOW) == 2

    assert store.first_sighting("wamid.old", NOW) is True
    assert store.first_sighting("wamid.recent", NOW) is False
    assert store.payload_for(old_id) is None
    assert store.payload_for(new_id) == "/new"


def test_inbound_time_keeps_the_latest(store):
    assert store.last_inbound("79130000001") is None

    store.record_inbound("79130000001", NOW)
    store.record_inbound("79130000001", NOW - 100)  # a late redelivery of an older one
    assert store.last_inbound("79130000001") == NOW

    store.record_inbound("79130000001", NOW + 100)
    assert store.last_inbound("79130000001") == NOW + 100


def test_long_payload_maps_to_a_stable_short_id(store):
    payload = '/inform{"slot_key": "' + "x" * 500 + '"}'

    reply_id = store.remember_payload(payload, at=NOW)

    assert (
        reply_id == reply_id_for(payload) == store.remember_payload(payload, at=NOW + 1)
    )
    assert reply_id.startswith("wa~") and len(reply_id) <= 200
    assert store.payload_for(reply_id) == payload
    assert store.payload_for("wa~unknown") is None


def test_unreachable_database_is_a_store_error(tmp_path):
    store = WhatsAppStore(f"sqlite:///{tmp_path}/missing/dir/db.sqlite")

    with pytest.raises(WhatsAppStoreError, match="cannot record"):
        store.first_sighting("wamid.1", NOW)
