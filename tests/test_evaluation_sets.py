"""The evaluation sets stay apart from the training data.

`make evaluate` scores the model on real questions (tests/nlu_real/, and tests/nlu_fresh/ collected
later from other sites), a held-out split
(tests/nlu_holdout/) and held-out entry questions (tests/nlu_entries/). A figure on a question the
model was trained on says nothing, so no evaluation question may also be a training example — in
data/nlu/ or in an entry's `asked_as` in knowledge/ — not even with other spacing, case or
punctuation, or with entity markup.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from core.knowledge import knowledge
from core.review import file_examples

ROOT = Path(__file__).resolve().parent.parent


def _key(text: str) -> str:
    """What two questions share when they differ only in spacing, case or punctuation."""
    return re.sub(r"[\W_]+", "", text.lower())


def _nlu_examples(path: Path) -> list[str]:
    """A Rasa NLU file's example texts, entity markup taken out (core.review reads them so too)."""
    return [text for texts in file_examples(path).values() for text in texts]


def _evaluation_questions() -> dict[str, str]:
    questions: dict[str, str] = {}
    for folder in ("nlu_real", "nlu_fresh", "nlu_holdout"):
        for path in sorted((ROOT / "tests" / folder).glob("*.yml")):
            for text in _nlu_examples(path):
                questions[_key(text)] = f"{folder}/{path.name}: {text}"
    for path in sorted((ROOT / "tests" / "nlu_entries").glob("*.yml")):
        for question in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("questions") or []:
            for language in ("zh", "en"):
                if question.get(language):
                    questions[_key(question[language])] = f"nlu_entries/{path.name}: {question[language]}"
    return questions


def _training_examples() -> list[tuple[str, str]]:
    examples = [
        (str(path.relative_to(ROOT)), text)
        for path in sorted((ROOT / "data" / "nlu").rglob("*.yml"))
        for text in _nlu_examples(path)
    ]
    kb = knowledge()
    for topic in sorted(kb.topics):
        for entry in kb.entries(topic):
            for language in ("zh", "en"):
                examples += [(f"knowledge/topics/{topic}.yml#{entry['key']}", t) for t in entry["asked_as"][language]]
    return examples


def test_the_evaluation_sets_are_large_enough() -> None:
    questions = _evaluation_questions()
    real = {k: v for k, v in questions.items() if v.startswith("nlu_real/")}
    for language in ("zh", "en"):
        assert sum(v.startswith(f"nlu_real/{language}.yml") for v in real.values()) >= 150, language


def test_no_evaluation_question_is_a_training_example() -> None:
    questions = _evaluation_questions()
    overlap = [
        f"{where}: {text}  ==  {questions[_key(text)]}"
        for where, text in _training_examples()
        if _key(text) and _key(text) in questions
    ]
    assert not overlap, "\n".join(overlap)


@pytest.mark.parametrize("folder", ["nlu_real", "nlu_fresh", "nlu_holdout"])
def test_evaluation_labels_are_known_intents(folder: str) -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    for path in sorted((ROOT / "tests" / folder).glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            assert set(block["intent"].split("+")) <= intents, (path.name, block["intent"])
