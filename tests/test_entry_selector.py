"""components.entry_selector in Rasa's terms: trained from entry-marked examples, saved and loaded
through model storage, and the response-selector output it gives — with and without the sentence
embedding beside the n-grams."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_EXAMPLE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.entry_examples import ENTRY_KEY
from components.entry_selector import EntrySelector

TOPIC = "ask_password"
ENTRIES = {
    "forgotten": ["密码 忘 了 怎么办", "忘记 密码 了", "想不起 密码", "forgot my pin", "i forgot the password"],
    "initial": ["初始 密码 是 多少", "原始 密码 是 什么", "默认 密码", "what is the initial pin", "default password"],
}


def message(words: list[str], intent: str | None = None, entry: str | None = None) -> Message:
    tokens, position = [], 0
    for word in words:
        tokens.append(Token(word, position, lemma=word))
        position += len(word) + 1
    data = {TEXT: " ".join(words), "text_tokens": tokens}
    if intent:
        data[INTENT] = intent
    if entry:
        data[METADATA] = {METADATA_EXAMPLE: {ENTRY_KEY: entry}}
    return Message(data=data)


@pytest.fixture(scope="module", params=[0.0, 1.5], ids=["n-grams", "n-grams+meaning"])
def selector(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> EntrySelector:
    config = {**EntrySelector.get_default_config(), "meaning_weight": request.param}
    storage = LocalModelStorage(Path(tmp_path_factory.mktemp("storage")))
    resource, context = Resource("entry_selector"), ExecutionContext(GraphSchema({}), "test")
    examples = [message(t.split(), TOPIC, key) for key, texts in ENTRIES.items() for t in texts]
    examples += [message(["你好"], "greet")]  # no entry: not learnt
    EntrySelector.create(config, storage, resource, context).train(TrainingData(examples))
    loaded = EntrySelector.load(config, storage, resource, context)
    assert sorted(loaded._models) == [TOPIC]
    assert loaded._models[TOPIC].uses_meaning == (request.param > 0)
    return loaded


def test_the_entry_of_the_question_is_selected_under_its_topic(selector: EntrySelector) -> None:
    asked = message(["初始", "密码", "是", "什么"])
    asked.set(INTENT, {"name": TOPIC, "confidence": 0.9})
    output = selector.process([asked])[0].get("response_selector")
    assert output["all_retrieval_intents"] == [TOPIC]
    assert output[TOPIC]["response"]["intent_response_key"] == f"{TOPIC}/initial"
    assert [r["intent_response_key"] for r in output[TOPIC]["ranking"]] == [f"{TOPIC}/initial", f"{TOPIC}/forgotten"]


def test_a_topic_without_entries_gets_no_selection(selector: EntrySelector) -> None:
    greeting = message(["你好"])
    greeting.set(INTENT, {"name": "greet", "confidence": 0.9})
    assert selector.process([greeting])[0].get("response_selector") is None


def test_the_importer_adds_each_entry_question_once_marked_with_its_entry(tmp_path: Path) -> None:
    """EntryExamplesImporter: the files' examples as Rasa reads them, then every entry question the
    files do not already have, as an example of its topic marked with its entry (what merging the two
    gave before, without the copy)."""
    from rasa.shared.importers.rasa import RasaFileImporter

    from components.entry_examples import EntryExamplesImporter, entry_messages, example_entry

    root = Path(__file__).resolve().parent.parent
    nlu = tmp_path / "nlu.yml"
    nlu.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - 你好\n', encoding="utf-8")
    files = RasaFileImporter(str(root / "config.yml"), str(root / "domain.yml"), [str(nlu)]).get_nlu_data("zh")
    data = EntryExamplesImporter(str(root / "config.yml"), str(root / "domain.yml"), [str(nlu)]).get_nlu_data("zh")
    expected = files.merge(TrainingData(training_examples=entry_messages({"你好"})))
    assert data.fingerprint() == expected.fingerprint()
    assert [m.get(TEXT) for m in data.training_examples][:1] == ["你好"]
    marked = [m for m in data.training_examples if example_entry(m)]
    assert len(marked) == len(data.training_examples) - 1 > 100
    assert len({m.get(TEXT) for m in marked}) == len(marked)
