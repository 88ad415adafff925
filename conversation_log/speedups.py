"""Two hot spots of Rasa 3.6's message loop, made cheap inside the Rasa process.

Found by profiling the booking dialogue with py-spy (docs/performance.md):

- Rasa checks every action server response with `jsonschema.validate`, which first
  validates the response schema itself against the JSON Schema meta-schema: about
  40 ms of CPU per custom action here, 70% of Rasa's time per message. A validator
  built once does the same check in about 2 ms.
- Reading a conversation from the tracker store looks up each event's class by walking
  all subclasses of `Event`, for every event: 10% of the time. A table built once
  answers the same.

Both keep Rasa's behaviour (the same responses accepted and rejected, the same classes
found, the same errors). Known limit: they replace Rasa internals; they lift when the
project moves past Rasa 3.6.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core import events
from rasa.shared.utils.common import all_subclasses

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    try:
        _validator().validate(result)
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your "
            "response from the Action endpoint is valid. For more information about "
            f"the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


_ORIGINAL_RESOLVE = events.Event.resolve_by_type
_event_classes: dict[str, type[events.Event]] = {}


def _resolve_by_type(
    type_name: str, default: type[events.Event] | None = None
) -> type[events.Event] | None:
    found = _event_classes.get(type_name)
    if found is None:
        # Built on first use and again on a miss, so late-imported classes are found.
        for cls in all_subclasses(events.Event):
            _event_classes.setdefault(cls.type_name, cls)
        found = _event_classes.get(type_name)
    if found is not None:
        return found
    return _ORIGINAL_RESOLVE(type_name, default)


def install() -> None:
    """Put the cheaper versions in place; calling it again changes nothing."""
    if RemoteAction._validate_action_result is not _validate_action_result:
        RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
        events.Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign,assignment]
        logger.debug("Rasa's action result check and event lookup are cached")
