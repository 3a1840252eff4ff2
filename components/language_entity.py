"""The `language` entity on every message: the language the person wrote in, or asked for."""

from __future__ import annotations

from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.language import detect_language, requested_language
from components.base import StatelessComponent

ENTITY = "language"
SWITCH_INTENT = "switch_language"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LanguageEntityExtractor(StatelessComponent, EntityExtractorMixin):
    """After intent classification: for `switch_language`, the language asked for ("answer in
    English" → en, "说中文" → zh); otherwise the dominant script of the message. Nothing for a
    message without letters, so the conversation keeps its language."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # a button payload, not something the person wrote
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            language = None
            if intent == SWITCH_INTENT:
                language = requested_language(text)
            language = language or detect_language(text)
            if language is None:
                continue
            entity = {"entity": ENTITY, "value": language, "start": 0, "end": len(text)}
            message.set(
                ENTITIES,
                message.get(ENTITIES, []) + self.add_extractor_name([entity]),
                add_to_output=True,
            )
        return messages
