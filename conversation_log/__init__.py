"""The conversation log: Rasa's SQL tracker store, opened from a URL, with reply times."""

from conversation_log.store import TimedSQLTrackerStore, response_time_events

__all__ = ["TimedSQLTrackerStore", "response_time_events"]
