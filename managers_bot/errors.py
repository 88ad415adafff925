"""The managers' bot's errors; the tree is drawn in the package's docstring."""


class ManagersBotError(Exception):
    """Base of the errors the managers' bot raises on purpose."""


class SettingsError(ManagersBotError):
    """A required setting is missing or invalid; the message names it."""


class RasaApiError(ManagersBotError):
    """Rasa's HTTP API answered with an error or did not answer in time."""


class StoreError(ManagersBotError):
    """The bot's tables (cards, cursor, sent reports) cannot be read or written."""
