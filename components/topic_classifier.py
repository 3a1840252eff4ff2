"""The intent classifier: `core.topic_model` in the Rasa pipeline, with two or three questions in one
message recognised.

It reads the token lemmas (after `FeatureLemmas`), so it needs no featurizer of its own in front. The
top intent is the message's topic as before; when the message asks two or three topics in separate
clauses ("社保卡怎么激活？要带什么？"), the top intent is the first of them and each asked topic is
also given, in order, as a `question_topic` entity spanning its clause, for `action_answer_topic` to
answer all of them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.base import CodeFingerprint
from core.dialogue import QUESTION_TOPIC_ENTITY
from core.knowledge import topic_names
from core.topic_model import (
    Ranked,
    TopicModel,
    lemma_document,
    lemmas_with_gaps,
    message_ranking,
    message_topics,
    question_units,
)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TopicClassifier(CodeFingerprint, IntentClassifier, GraphComponent):
    """Intent classifier over token lemmas; several topics for a message of several questions."""

    MODEL_FILE = "topic_model.skops"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # core.topic_model.ESTIMATORS: "linear_svm" (calibrated) or "logreg"; C is its regularisation.
            "estimator": "linear_svm",
            "C": 1.0,
            # Above 0: the text's multilingual sentence embedding joins the n-grams, at this weight
            # (core.topic_model.meaning_vectors); 0 leaves it out.
            "meaning_weight": 0.0,
            # Its main directions kept (PCA; 0 keeps all 512).
            "meaning_dims": 0,
            # An n-gram is a feature if at least this many training examples have it.
            "min_count": 1,
            # A clause counts as a question of its own when its topic is at least this likely.
            "min_clause_confidence": 0.3,
            "split_on_commas": False,
            "ranking_length": 10,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[TopicModel] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._topics = topic_names()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TopicClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TopicClassifier:
        """Load the trained model; a missing or untrusted file is an error, never a silent guess."""
        with model_storage.read_from(resource) as directory:
            model = TopicModel.load(directory / cls.MODEL_FILE)
        return cls(config, model_storage, resource, model)

    @staticmethod
    def _lemmas(message: Message) -> tuple[List[Text], List[Optional[int]]]:
        """The message's lemmas (white space between Chinese words marked) and their tokens."""
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        return lemmas_with_gaps(message.get(TEXT) or "", [(t.lemma, t.start, t.end) for t in tokens])

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT)]
        documents = [lemma_document(self._lemmas(e)[0]) for e in examples]
        model = TopicModel(
            C=self._config["C"],
            estimator=self._config["estimator"],
            meaning_weight=self._config["meaning_weight"],
            meaning_dims=self._config["meaning_dims"],
            min_count=self._config["min_count"],
        )
        model.fit(documents, [e.get(INTENT) for e in examples], [e.get(TEXT) or "" for e in examples])
        with self._model_storage.write_to(self._resource) as directory:
            model.save(directory / self.MODEL_FILE)
        self._model = model
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        for message in messages:
            tokens = message.get(TOKENS_NAMES[TEXT]) or []
            lemmas, origin = self._lemmas(message)
            token_spans = [(t.start, t.end) for t in tokens]
            documents, texts, clauses = question_units(
                message.get(TEXT) or "", lemmas, origin, token_spans, self._config["split_on_commas"]
            )
            whole, *clause_ranks = self._model.rank(documents, texts)  # one call: the whole and each clause
            asked = message_topics(whole, clause_ranks, self._topics, self._config["min_clause_confidence"])
            self._set_intent(message, whole, asked)
            if len(asked) > 1:
                spans: Dict[Text, List[int]] = {}
                for clause, ranking in zip(clauses, clause_ranks, strict=True):
                    spans.setdefault(ranking[0].intent, [i for i in (origin[j] for j in clause) if i is not None])
                entities = [
                    {
                        "entity": QUESTION_TOPIC_ENTITY,
                        "value": topic.intent,
                        "start": tokens[spans[topic.intent][0]].start,
                        "end": tokens[spans[topic.intent][-1]].end,
                        "confidence": topic.confidence,
                        "extractor": self.__class__.__name__,
                    }
                    for topic in asked
                ]
                message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages

    def _set_intent(self, message: Message, whole: List[Ranked], asked: List[Ranked]) -> None:
        """The top intent and the ranking (core.topic_model.message_ranking)."""
        ranking = message_ranking(whole, asked)
        top = ranking[0]
        message.set(INTENT, {INTENT_NAME_KEY: top.intent, PREDICTED_CONFIDENCE_KEY: top.confidence}, add_to_output=True)
        message.set(
            INTENT_RANKING_KEY,
            [
                {INTENT_NAME_KEY: r.intent, PREDICTED_CONFIDENCE_KEY: r.confidence}
                for r in ranking[: self._config["ranking_length"]]
            ],
            add_to_output=True,
        )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
