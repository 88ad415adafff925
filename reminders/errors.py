"""The errors of the reminders package (the tree is drawn in its ``__init__``)."""

from __future__ import annotations


class ReminderError(Exception):
    """Base of the errors the reminders package raises."""


class ReminderStoreError(ReminderError):
    """The reminders table cannot be read or written."""


class DeliveryError(ReminderError):
    """Rasa's API did not take a reminder: down, slow, or refused the request."""
