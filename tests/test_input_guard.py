"""components.input_guard.InputCleaner: what the model reads, and the mark for traditional writing."""

from __future__ import annotations

from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.input_guard import InputCleaner
from core.dialogue import SCRIPT_ENTITY


def cleaned(text: str) -> Message:
    return InputCleaner().process([Message(data={TEXT: text})])[0]


def test_traditional_question_reaches_the_model_simplified_and_marked() -> None:
    message = cleaned("激活需要帶什麼證件？<b>急</b>")
    assert message.get(TEXT) == "激活需要带什么证件? 急"
    assert message.get(ENTITIES) == [{"entity": SCRIPT_ENTITY, "value": "traditional", "start": 0, "end": 12}]


def test_simplified_question_is_not_marked() -> None:
    message = cleaned("社保卡怎么激活？")
    assert message.get(TEXT) == "社保卡怎么激活?"
    assert not message.get(ENTITIES)


def test_training_examples_are_simplified_too() -> None:
    data = TrainingData([Message(data={TEXT: "密碼忘了怎麼辦", "intent": "ask_password"})])
    InputCleaner().process_training_data(data)
    assert data.training_examples[0].get(TEXT) == "密码忘了怎么办"
