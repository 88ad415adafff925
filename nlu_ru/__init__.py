"""Russian NLU for the booking assistant: Rasa components and reusable matchers."""

from __future__ import annotations

from typing import Any

__all__ = ["ProfileEntityExtractor", "RussianTokenizer"]


def __getattr__(name: str) -> Any:
    # The components import Rasa (and with it TensorFlow); the action server only
    # needs nlu_ru.phones and nlu_ru.matching, so Rasa is imported on first use.
    if name in __all__:
        from nlu_ru import components

        return getattr(components, name)
    raise AttributeError(f"module 'nlu_ru' has no attribute {name!r}")
