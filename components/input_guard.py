"""Pipeline components that keep bad input from confusing or silencing the assistant."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Set, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.base import CodeFingerprint, StatelessComponent
from core.dialogue import FALLBACK_INTENT, SCRIPT_ENTITY
from core.language import TRADITIONAL, to_simplified, writes_traditional
from core.text_input import clean_text, has_words


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class InputCleaner(StatelessComponent):
    """First in the pipeline: markup, control characters and excess length never reach the model, and
    traditional characters reach it as simplified ones. A message written in traditional characters
    gets a `script` entity (value "traditional"), so the reply can be written the same way."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = clean_text(message.get(TEXT))
            if writes_traditional(text):
                text = to_simplified(text)
                found = {"entity": SCRIPT_ENTITY, "value": TRADITIONAL, "start": 0, "end": len(text)}
                message.set(ENTITIES, message.get(ENTITIES, []) + [found], add_to_output=True)
            message.set(TEXT, text)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            if example.get(TEXT):
                example.set(TEXT, to_simplified(clean_text(example.get(TEXT))))
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NoWordsClassifier(CodeFingerprint, GraphComponent):
    """Last in the pipeline: a message with nothing to understand is a fallback with full confidence,
    so the assistant asks for a question instead of guessing one. "Nothing to understand" is: no
    letters, Han characters or digits (empty, emoji, punctuation), or not one token the training
    data ever used ("asdfgh qwerty", a 10,000-character run of one letter). It learns that vocabulary
    (token lemmas, after FeatureLemmas) at training time."""

    VOCABULARY_FILE = "vocabulary.json"

    def __init__(self, model_storage: ModelStorage, resource: Resource, vocabulary: Optional[Set[Text]] = None) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary or set()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NoWordsClassifier:
        return cls(model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> NoWordsClassifier:
        with model_storage.read_from(resource) as directory:
            words = json.loads((directory / cls.VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(model_storage, resource, set(words))

    @staticmethod
    def _lemmas(message: Message) -> List[Text]:
        return [token.lemma for token in message.get(TOKENS_NAMES[TEXT]) or []]

    def train(self, training_data: TrainingData) -> Resource:
        for example in training_data.intent_examples:
            self._vocabulary.update(self._lemmas(example))
        with self._model_storage.write_to(self._resource) as directory:
            (directory / self.VOCABULARY_FILE).write_text(
                json.dumps(sorted(self._vocabulary), ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # a button payload: RegexMessageHandler parses it
            known = any(lemma in self._vocabulary for lemma in self._lemmas(message))
            if has_words(text) and (known or not self._vocabulary):
                continue
            message.set(
                INTENT,
                {INTENT_NAME_KEY: FALLBACK_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0},
                add_to_output=True,
            )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
