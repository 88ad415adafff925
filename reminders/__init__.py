"""Persistent visit reminders: planned from the CRM's deals, delivered through Rasa.

Errors::

    ReminderError          base of everything this package raises on purpose
    ├── ReminderStoreError the reminders table (the CRM database) cannot be used
    └── DeliveryError      Rasa's HTTP API refused or did not answer a delivery
"""

from reminders.errors import DeliveryError, ReminderError, ReminderStoreError

__all__ = ["DeliveryError", "ReminderError", "ReminderStoreError"]
