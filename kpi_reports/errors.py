"""Errors of the KPI reports.

``ReportError`` is the base of all of them; ``TrackerStoreError`` means the tracker store
cannot be read (unreachable, no ``events`` table, no events at all). The CLI turns every
``ReportError`` into a one-line message.
"""


class ReportError(Exception):
    """A report cannot be made; the message says why in one line."""


class TrackerStoreError(ReportError):
    """The tracker store is unreachable, has no events table or holds no events."""
