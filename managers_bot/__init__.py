"""The managers' Telegram bot: hot-lead cards, human takeover and the owner's report.

Errors raised on purpose by this package::

    ManagersBotError        base of everything below
    ├── SettingsError       the environment or the profile does not allow a start
    ├── RasaApiError        Rasa's HTTP API refused a call or did not answer in time
    └── StoreError          the bot's own tables cannot be read or written
"""

from managers_bot.errors import (
    ManagersBotError,
    RasaApiError,
    SettingsError,
    StoreError,
)

__all__ = ["ManagersBotError", "RasaApiError", "SettingsError", "StoreError"]
