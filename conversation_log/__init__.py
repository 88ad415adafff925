"""The conversation log: Rasa's SQL tracker store with reply times, and outside writers.

`TimedSQLTrackerStore` (and the Rasa speed-ups it installs) runs inside Rasa;
`ConversationLog` appends events from other processes without importing Rasa.
"""

from conversation_log.append import ConversationLog, ConversationLogError

__all__ = ["ConversationLog", "ConversationLogError"]
