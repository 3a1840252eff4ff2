"""Which question-level entry of the topic a question asks for — Rasa's FAQ output, own model.

After `TopicClassifier` has named the topic (the contract intent stays the top intent), this picks
the entry of that topic (`knowledge/topics/<intent>.yml` → `entries`) with one small model per topic:
the same lemma features and logistic regression as the topic model (`core.topic_model`), trained on
the entries' example questions (`components.entry_examples` adds them to the training data). The
choice is given the way Rasa's `ResponseSelector` gives it, under `response_selector.<intent>`:
`{"response": {"intent_response_key": "<intent>/<entry>", "confidence": …}, "ranking": […]}`, so
`action_answer_topic` answers that entry; below `threshold` there is none and the topic's general
answer is given. Unlike Rasa's ResponseSelector it needs no TensorFlow training and no responses in
the domain: the answers stay in knowledge/.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME, TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.base import CodeFingerprint
from components.entry_examples import example_entry
from core.topic_model import TopicModel, lemma_document, lemmas_with_gaps

RANKING_LENGTH = 5


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class EntrySelector(CodeFingerprint, GraphComponent):
    """One entry classifier per topic with entries; Rasa's response-selector output format."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # meaning_weight: as the TopicClassifier's, the sentence embedding beside the n-grams (0: none).
        return {"C": 10.0, "threshold": 0.35, "meaning_weight": 0.0}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        models: Optional[Dict[Text, TopicModel]] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._models = models or {}

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EntrySelector:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> EntrySelector:
        models = {}
        try:
            with model_storage.read_from(resource) as directory:
                for path in sorted(directory.glob("*.skops")):
                    models[path.stem] = TopicModel.load(path)
        except ValueError:
            pass  # nothing was trained (no topic has entries)
        return cls(config, model_storage, resource, models)

    @staticmethod
    def _document(message: Message) -> str:
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        lemmas, _ = lemmas_with_gaps(message.get(TEXT) or "", [(t.lemma, t.start, t.end) for t in tokens])
        return lemma_document(lemmas)

    def train(self, training_data: TrainingData) -> Resource:
        by_topic: Dict[Text, tuple[List[str], List[str], List[str]]] = {}
        for example in training_data.intent_examples:
            entry = example_entry(example)
            if entry:
                documents, labels, texts = by_topic.setdefault(example.get(INTENT), ([], [], []))
                documents.append(self._document(example))
                labels.append(entry)
                texts.append(example.get(TEXT) or "")
        models = {}
        with self._model_storage.write_to(self._resource) as directory:
            for topic, (documents, labels, texts) in sorted(by_topic.items()):
                if len(set(labels)) < 2:
                    continue
                model = TopicModel(C=self._config["C"], meaning_weight=self._config["meaning_weight"])
                models[topic] = model.fit(documents, labels, texts)
                models[topic].save(directory / f"{topic}.skops")
        self._models = models
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            topic = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            model = self._models.get(topic or "")
            if model is None:
                continue
            ranking = model.rank([self._document(message)], [message.get(TEXT) or ""])[0]
            best = ranking[0]
            selected = {
                "response": {
                    "intent_response_key": f"{topic}/{best.intent}"
                    if best.confidence >= self._config["threshold"]
                    else None,
                    "confidence": best.confidence,
                    "responses": [],
                    "utter_action": None,
                },
                "ranking": [
                    {"intent_response_key": f"{topic}/{r.intent}", "confidence": r.confidence}
                    for r in ranking[:RANKING_LENGTH]
                ],
            }
            output = dict(message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {})
            output.setdefault("all_retrieval_intents", sorted(self._models))
            output[topic] = selected
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, output, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
