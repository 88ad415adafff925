"""Delivering a reminder: Rasa's external-event API triggers an intent in the
client's conversation, and the client's own channel carries the message."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from conversation_log.append import EVENTS
from reminders.errors import DeliveryError, ReminderStoreError
from reminders.store import Reminder

logger = logging.getLogger(__name__)

INTENT = "EXTERNAL_reminder"


class RasaDelivery:
    """Posts ``trigger_intent`` with ``output_channel=latest`` to one Rasa server."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._client = httpx.Client(timeout=timeout)

    def deliver(self, conversation_id: str, deal_id: int, reminder_id: int) -> None:
        # Rasa's server (Sanic) does not unquote path parameters: "tg%3A1" would be
        # a different conversation from "tg:1", so characters a path may hold stay.
        path_id = quote(conversation_id, safe=":@!$&'()*+,;=")
        url = f"{self._base_url}/conversations/{path_id}/trigger_intent"
        body = {
            "name": INTENT,
            "entities": {"deal_id": str(deal_id), "reminder_id": str(reminder_id)},
        }
        params = {
            "output_channel": "latest",
            "include_events": "NONE",
            "token": self._token,
        }
        try:
            response = self._client.post(url, params=params, json=body)
        except httpx.TimeoutException as error:
            raise DeliveryError("Rasa did not answer in time") from error
        except httpx.HTTPError as error:
            raise DeliveryError(
                f"Rasa is unreachable ({type(error).__name__})"
            ) from error
        if response.status_code != 200:
            # Rasa's error bodies carry no secrets, but the request URL does.
            raise DeliveryError(f"Rasa answered HTTP {response.status_code}")
        # The action that says the reminder sets the `reminder` slot to its id; any
        # other outcome (the CRM unreadable, the booking changed meanwhile) is a
        # reminder not said, retried, and dropped by the next claim if it changed.
        try:
            said = response.json()["tracker"]["slots"].get("reminder") or {}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DeliveryError("Rasa answered without the conversation") from error
        if not isinstance(said, dict) or said.get("reminder_id") != reminder_id:
            raise DeliveryError("the bot did not say the reminder")

    def close(self) -> None:
        self._client.close()


class DeliveryLog:
    """Reads the conversation log to learn whether a reminder reached its client.

    The action that says a reminder writes a ``reminder`` slot with its id; finding it
    means a worker that died after Rasa took the reminder must not send it again.
    """

    def __init__(self, tracker_store_url: str) -> None:
        try:
            self._engine = create_engine(tracker_store_url, future=True)
        except (ArgumentError, ImportError) as error:
            raise ReminderStoreError(
                f"cannot open the conversation log ({type(error).__name__})"
            ) from error

    def __call__(self, reminder: Reminder) -> bool:
        query = select(EVENTS.c.data).where(
            EVENTS.c.sender_id == reminder.conversation_id,
            EVENTS.c.type_name == "slot",
            EVENTS.c.action_name == "reminder",
        )
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query).scalars().all()
        except SQLAlchemyError as error:
            raise ReminderStoreError(
                f"cannot read the conversation log ({type(error).__name__})"
            ) from error
        for data in rows:
            try:
                value = json.loads(data).get("value") or {}
            except (TypeError, ValueError, AttributeError):
                continue
            if isinstance(value, dict) and value.get("reminder_id") == reminder.id:
                return True
        return False

    def close(self) -> None:
        self._engine.dispose()
