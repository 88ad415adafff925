"""Fixtures for running actions as the action server does: trackers, domain, CRM."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from crm_connector import CRM
from tests.conftest import DEMO_PROFILE, OMSK, ROOT

NOW = "2026-12-03T10:00:00+06:00"  # a Thursday, 10:00 in Omsk
SENDER = "client-1"
FRIDAY_15 = "20261204T1500.anna"  # tomorrow 15:00 with Anna, the first manicurist


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in December 2026 in the salon's time zone."""
    return datetime(2026, 12, day, hour, minute, tzinfo=OMSK)


def when(day: str, exact: str | None = None, text: str = "") -> dict[str, Any]:
    """The `when` slot as the form stores it: one day, optionally an exact time."""
    return {
        "text": text,
        "date_from": day,
        "date_to": day,
        "time_from": None,
        "time_to": None,
        "exact_time": exact,
    }


# Every slot filled, waiting for the client to say "yes" to the summary.
CONFIRM_STEP: dict[str, Any] = {
    "service": "manicure",
    "when": when("2026-12-04", "15:00:00", "завтра в 15:00"),
    "staff_pref": "any",
    "slot_key": FRIDAY_15,
    "pd_consent": "2026-12-03T09:55:00+06:00",
    "client_name": "Анна",
    "phone": "+79131234567",
    "confirmed": None,
    "booking_attempt": "attempt-1",
    "requested_slot": "confirmed",
}


def user_event(
    text: str, intent: str, entities: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "input_channel": "rest",
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
        },
    }


def make_tracker(
    slots: dict[str, Any] | None = None,
    text: str = "",
    intent: str = "inform",
    entities: dict[str, str] | None = None,
    *,
    sender: str = SENDER,
    in_form: bool = True,
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    """A tracker whose latest message is `text`, classified as `intent`."""
    found = [{"entity": k, "value": v} for k, v in (entities or {}).items()]
    latest = user_event(text, intent, found)
    return Tracker(
        sender_id=sender,
        slots=dict(slots or {}),
        latest_message=latest["parse_data"],
        events=[*(events or []), latest],
        paused=False,
        followup_action=None,
        active_loop={"name": "booking_form"} if in_form else {},
        latest_action_name="action_listen",
    )


@dataclass
class Outcome:
    """What an action did: the events it returned and what the client saw."""

    events: list[dict[str, Any]]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def slots(self) -> dict[str, Any]:
        """Slot name -> value for every SlotSet returned, the last one winning."""
        return {e["name"]: e["value"] for e in self.events if e["event"] == "slot"}

    @property
    def text(self) -> str:
        return "\n".join(m.get("text") or "" for m in self.messages)

    @property
    def buttons(self) -> list[dict[str, str]]:
        return [b for m in self.messages for b in m.get("buttons") or []]


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture()
def run(domain):
    """Runs an action on a tracker the way the action server would."""

    def run(action: Action, tracker: Tracker) -> Outcome:
        dispatcher = CollectingDispatcher()
        events = asyncio.run(action.run(dispatcher, tracker, domain))
        return Outcome([dict(e) for e in events], dispatcher.messages)

    return run


@pytest.fixture(autouse=True)
def salon(monkeypatch, tmp_path) -> Iterator[None]:
    """The demo salon on Thursday 3 December 2026, 10:00, with an empty SQLite CRM."""
    monkeypatch.setenv("BUSINESS_PROFILE", str(DEMO_PROFILE))
    monkeypatch.setenv("ASSISTANT_NOW", NOW)
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{tmp_path / 'crm.db'}")
    context.profile.cache_clear()
    context.crm.cache_clear()
    yield
    if context.crm.cache_info().currsize:
        context.crm().close()
    context.profile.cache_clear()
    context.crm.cache_clear()


@pytest.fixture()
def crm() -> CRM:
    """The CRM the actions use, to arrange deals and to look at what they wrote."""
    return context.crm()
