"""Rasa 3.6 graph components for Russian: a lemmatising tokenizer and a profile extractor."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from business.profile import BusinessProfile, load_profile
from nlu_ru.matching import (
    Vocabulary,
    WhenParser,
    extract_entities,
    lemma,
    normalize_word,
)

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class RussianTokenizer(WhitespaceTokenizer):
    """Whitespace tokens whose lemma is pymorphy3's normal form ("маникюром" -> "маникюр")."""

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.lemma = lemma(normalize_word(token.text))
        return tokens


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False
)
class ProfileEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Finds service, staff, person, phone, when and field entities by rule.

    The business profile is read when the component is created, so a broken
    business.yml stops the model from loading with the profile's own message.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # profile_path None: $BUSINESS_PROFILE, else business.yml in the repo root.
        return {"profile_path": None}

    def __init__(
        self,
        config: dict[str, Any],
        profile: BusinessProfile,
        parse_when: WhenParser | None,
    ) -> None:
        self._config = config
        self.profile = profile
        self.vocabulary = Vocabulary.from_profile(profile)
        self.parse_when = parse_when

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ProfileEntityExtractor:
        profile = load_profile(config.get("profile_path"))
        try:
            from schedule.when import parse_when, warm_up
        except ModuleNotFoundError as error:
            if error.name not in ("schedule", "schedule.when"):
                raise
            # Known limit: without schedule/when.py no `when` entity is extracted;
            # lifts when that module is deployed with the NLU.
            logger.warning("schedule.when is missing: no 'when' entities")
            return cls(config, profile, None)
        warm_up()
        return cls(config, profile, parse_when)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text:
                continue
            now = datetime.now(self.profile.timezone)
            found = extract_entities(text, self.vocabulary, now, self.parse_when)
            if not found:
                continue
            entities = [f.as_rasa(self.name) for f in found]
            message.set(
                ENTITIES, [*message.get(ENTITIES, []), *entities], add_to_output=True
            )
        return messages
