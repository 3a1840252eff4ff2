"""components.topic_classifier in Rasa's terms: trained and loaded through model storage, and the
parse it gives for one question and for several."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.topic_classifier import TopicClassifier

EXAMPLES = {
    "ask_how_to_activate": ["社保卡 怎么 激活", "在 哪里 激活", "激活 流程", "怎么 激活 社保卡 啊"],
    "ask_required_documents": ["要 带 什么", "激活 要 带 什么 材料", "要 带 身份证 吗", "带 什么 证件"],
    "greet": ["你好", "您好", "哈喽", "早上 好"],
}


def message(words: list[str], intent: str | None = None) -> Message:
    tokens, position = [], 0
    for word in words:
        tokens.append(Token(word, position, lemma=word))
        position += len(word)
    data = {TEXT: "".join(words), "text_tokens": tokens}
    if intent:
        data[INTENT] = intent
    return Message(data=data)


@pytest.fixture(scope="module", params=[0.0, 1.5], ids=["n-grams", "n-grams+meaning"])
def trained(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> TopicClassifier:
    """Trained and loaded through model storage, without and with the sentence embedding (which
    reads the message's text and each clause's stretch of it)."""
    config = {**TopicClassifier.get_default_config(), "meaning_weight": request.param}
    storage = LocalModelStorage(Path(tmp_path_factory.mktemp("storage")))
    resource = Resource("topic_classifier")
    context = ExecutionContext(GraphSchema({}), "test")
    component = TopicClassifier.create(config, storage, resource, context)
    examples = [message(text.split(), intent) for intent, texts in EXAMPLES.items() for text in texts]
    component.train(TrainingData(examples))
    loaded = TopicClassifier.load(config, storage, resource, context)
    assert loaded._model is not None and loaded._model.uses_meaning == (request.param > 0)
    return loaded


def test_one_question_gets_its_topic_and_no_question_entities(trained: TopicClassifier) -> None:
    parsed = trained.process([message(["社保卡", "怎么", "激活"])])[0]
    assert parsed.get(INTENT)["name"] == "ask_how_to_activate"
    assert not [e for e in parsed.get(ENTITIES, []) if e["entity"] == "question_topic"]
    ranking = parsed.get("intent_ranking")
    assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)


def test_two_questions_get_both_topics_in_order_with_their_clauses(trained: TopicClassifier) -> None:
    words = ["社保卡", "怎么", "激活", "?", "要", "带", "什么", "?"]
    parsed = trained.process([message(words)])[0]
    topics = [e for e in parsed.get(ENTITIES, []) if e["entity"] == "question_topic"]
    assert [e["value"] for e in topics] == ["ask_how_to_activate", "ask_required_documents"]
    text = parsed.get(TEXT)
    assert [text[e["start"] : e["end"]] for e in topics] == ["社保卡怎么激活", "要带什么"]
    assert parsed.get(INTENT)["name"] == "ask_how_to_activate"
    ranking = parsed.get("intent_ranking")
    assert ranking[0]["confidence"] >= ranking[1]["confidence"]  # the fallback's ambiguity check holds
    assert parsed.get(INTENT)["confidence"] == max(e["confidence"] for e in topics)


def test_a_greeting_before_a_question_is_one_question(trained: TopicClassifier) -> None:
    parsed = trained.process([message(["你好", "?", "社保卡", "怎么", "激活"])])[0]
    assert parsed.get(INTENT)["name"] == "ask_how_to_activate"
    assert not [e for e in parsed.get(ENTITIES, []) if e["entity"] == "question_topic"]
