"""Delivery through Rasa's API names the conversation exactly as Rasa stores it."""

from __future__ import annotations

import pytest

from reminders.delivery import RasaDelivery


@pytest.mark.parametrize(
    "conversation_id",
    ["tg:123456789", "wa:79131234567", "web:Q2xpZW50LXNlc3Npb24", "rest-client"],
    ids=["telegram", "whatsapp", "widget", "rest"],
)
def test_the_conversation_id_reaches_rasa_unquoted(rasa, conversation_id: str):
    delivery = RasaDelivery(rasa.url, rasa.token, timeout=5)

    delivery.deliver(conversation_id, deal_id=7, reminder_id=3)

    delivery.close()
    (triggered,) = rasa.received
    assert triggered.conversation_id == conversation_id
    assert (triggered.intent, triggered.output_channel) == (
        "EXTERNAL_reminder",
        "latest",
    )
