"""Delivering a reminder: Rasa's external-event API triggers an intent in the
client's conversation, and the client's own channel carries the message."""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from reminders.errors import DeliveryError

logger = logging.getLogger(__name__)

INTENT = "EXTERNAL_reminder"


class RasaDelivery:
    """Posts ``trigger_intent`` with ``output_channel=latest`` to one Rasa server."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._client = httpx.Client(timeout=timeout)

    def deliver(self, conversation_id: str, deal_id: int, reminder_id: int) -> None:
        url = (
            f"{self._base_url}/conversations/"
            f"{quote(conversation_id, safe='')}/trigger_intent"
        )
        body = {
            "name": INTENT,
            "entities": {"deal_id": str(deal_id), "reminder_id": str(reminder_id)},
        }
        try:
            response = self._client.post(
                url,
                params={"output_channel": "latest", "token": self._token},
                json=body,
            )
        except httpx.TimeoutException as error:
            raise DeliveryError("Rasa did not answer in time") from error
        except httpx.HTTPError as error:
            raise DeliveryError(
                f"Rasa is unreachable ({type(error).__name__})"
            ) from error
        if response.status_code != 200:
            # Rasa's error bodies carry no secrets, but the request URL does.
            raise DeliveryError(f"Rasa answered HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()
