"""Compare intent classifiers on the real-question test sets, on the same token lemmas the assistant's
pipeline makes (input cleaning → jieba tokens → region and ID placeholders → English stems).

Usage: python scripts/compare_classifiers.py [--real tests/nlu_real] [--fresh tests/nlu_fresh]
[--holdout tests/nlu_holdout]
(what `make compare-classifiers` runs). Prints, for each variant and language, top-1 accuracy on the
real questions (a multi-question message counts right when all its topics are found; the fallback
counts wrong) and on the held-out split, with the fallback threshold of config.yml.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import yaml  # noqa: E402
from sklearn.linear_model import LogisticRegression, SGDClassifier  # noqa: E402

from core.knowledge import topic_names  # noqa: E402
from core.review import file_examples  # noqa: E402
from core.topic_model import (  # noqa: E402
    TopicModel,
    lemma_document,
    lemmas_with_gaps,
    message_ranking,
    message_topics,
    question_units,
    vectors_kept,
)


@dataclass(frozen=True)
class Parsed:
    """A question as the classifier sees it: the cleaned text, its lemmas, each lemma's token and
    the tokens' (start, end) in the text."""

    text: str
    lemmas: list[str]
    origin: list[int | None]
    spans: list[tuple[int, int]]

    def units(self, commas: bool = False) -> tuple[list[str], list[str], list[list[int]]]:
        """The documents and texts to rank, as the pipeline makes them (core.topic_model.question_units)."""
        return question_units(self.text, self.lemmas, self.origin, self.spans, commas)


def lemma_pipeline() -> Callable[[list[str]], list[Parsed]]:
    """The pipeline's steps up to the lemmas, as config.yml configures them, for a list of texts."""
    from rasa.nlu.tokenizers.spacy_tokenizer import SpacyTokenizer
    from rasa.nlu.utils.spacy_utils import SpacyNLP
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    from components.feature_lemmas import FeatureLemmas
    from components.input_guard import InputCleaner
    from components.region_entities import RegionEntityExtractor

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    spacy_path = next(step["model"] for step in config["pipeline"] if step["name"] == "SpacyNLP")
    spacy_nlp = SpacyNLP(SpacyNLP.load_model(str(ROOT / spacy_path)), SpacyNLP.get_default_config())
    model = spacy_nlp.provide()
    tokenizer = SpacyTokenizer({**SpacyTokenizer.get_default_config()})
    cleaner, regions, lemmas = InputCleaner(), RegionEntityExtractor(), FeatureLemmas()

    def run(texts: list[str]) -> list[Parsed]:
        messages = cleaner.process([Message(data={TEXT: text}) for text in texts])
        messages = spacy_nlp.process(messages, model)
        messages = tokenizer.process(messages)
        messages = lemmas.process(regions.process(messages, model))
        parsed = []
        for m in messages:
            text, tokens = m.get(TEXT) or "", m.get("text_tokens") or []
            words, origin = lemmas_with_gaps(text, [(t.lemma, t.start, t.end) for t in tokens])
            parsed.append(Parsed(text, words, origin, [(t.start, t.end) for t in tokens]))
        return parsed

    return run


def load_examples(path: Path) -> list[tuple[str, str]]:
    """(text, intent) pairs of a Rasa NLU YAML file or folder, entity markup removed as everywhere
    else (core.review.file_examples); multi-question intents keep their '+'."""
    files = sorted(path.rglob("*.yml")) if path.is_dir() else [path]
    return [
        (text, intent)
        for file in files
        for intent, texts in file_examples(file).items()
        for text in map(str.strip, texts)
        if text
    ]


def training_examples() -> list[tuple[str, str]]:
    """What the pipeline trains on: data/nlu plus the entries' example questions from knowledge/
    (components.entry_examples, the importer config.yml names)."""
    from rasa.shared.nlu.constants import INTENT, TEXT

    from components.entry_examples import entry_messages

    pairs = load_examples(ROOT / "data" / "nlu")
    existing = {" ".join(text.split()) for text, _ in pairs}
    return pairs + [(m.get(TEXT), m.get(INTENT)) for m in entry_messages(existing)]


def pipeline_step(name: str) -> dict[str, Any]:
    """A step's settings in config.yml (matched by the end of its name)."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    return next(step for step in config["pipeline"] if step["name"].endswith(name))


def fallback_settings() -> tuple[float, float]:
    step = pipeline_step("FallbackClassifier")
    return float(step["threshold"]), float(step["ambiguity_threshold"])


def clause_settings() -> tuple[float, bool]:
    step = pipeline_step("TopicClassifier")
    return float(step.get("min_clause_confidence", 0.3)), bool(step.get("split_on_commas", False))


def answered_topics(
    model: TopicModel,
    question: Parsed,
    topics: frozenset[str],
    min_clause: float,
    commas: bool,
    fallback: tuple[float, float],
) -> tuple[list[str], bool]:
    """What the assistant would answer: the topics, and whether the fallback (threshold, ambiguity)
    would refuse instead — decided as components.topic_classifier decides, on the same ranking."""
    threshold, ambiguity = fallback
    documents, texts, _clauses = question.units(commas)
    whole, *clause_ranks = model.rank(documents, texts)
    asked = message_topics(whole, clause_ranks, topics, min_clause)
    ranking = message_ranking(whole, asked)
    second = ranking[1].confidence if len(ranking) > 1 else 0.0
    refused = ranking[0].confidence < threshold or ranking[0].confidence - second < ambiguity
    return [r.intent for r in asked], refused


def score(
    model: TopicModel,
    test: list[tuple[Parsed, str]],
    topics: frozenset[str],
    min_clause: float | None = None,
    commas: bool | None = None,
) -> dict[str, float]:
    configured_min_clause, configured_commas = clause_settings()
    min_clause = configured_min_clause if min_clause is None else min_clause
    commas = configured_commas if commas is None else commas
    fallback = fallback_settings()
    right = right_classifier = over = 0
    for question, gold in test:
        asked, refused = answered_topics(model, question, topics, min_clause, commas, fallback)
        wanted = gold.split("+")
        found = all(w in asked for w in wanted) if len(wanted) > 1 else asked[0] == gold
        right_classifier += found
        right += found and not refused
        over += len(wanted) == 1 and len(asked) > 1
    n = max(1, len(test))
    return {"accuracy": right / n, "classifier": right_classifier / n, "split_single": over / n}


def variants() -> dict[str, Callable[[], TopicModel]]:
    return {
        "SVM + meaning 1.5/256 dims, n-grams ≥2 (current)": lambda: TopicModel(
            C=1.0, estimator="linear_svm", meaning_weight=1.5, meaning_dims=256, min_count=2
        ),
        "SVM C=1 + meaning 1.5, 256 dims": lambda: TopicModel(
            C=1.0, estimator="linear_svm", meaning_weight=1.5, meaning_dims=256
        ),
        "SVM C=1 + meaning 1.5, 128 dims": lambda: TopicModel(
            C=1.0, estimator="linear_svm", meaning_weight=1.5, meaning_dims=128
        ),
        "SVM C=1 + meaning 1.5": lambda: TopicModel(C=1.0, estimator="linear_svm", meaning_weight=1.5),
        "SVM C=1 + meaning 1.0": lambda: TopicModel(C=1.0, estimator="linear_svm", meaning_weight=1.0),
        "SVM C=1 + meaning 0.7": lambda: TopicModel(C=1.0, estimator="linear_svm", meaning_weight=0.7),
        "SVM C=3 + meaning 1.0": lambda: TopicModel(C=3.0, estimator="linear_svm", meaning_weight=1.0),
        "linear SVM C=1 (before)": lambda: TopicModel(C=1.0, estimator="linear_svm"),
        "linear SVM C=0.5": lambda: TopicModel(C=0.5, estimator="linear_svm"),
        "linear SVM C=3": lambda: TopicModel(C=3.0, estimator="linear_svm"),
        "logreg C=10 (before)": lambda: TopicModel(C=10.0),
        "logreg C=3": lambda: TopicModel(C=3.0),
        "logreg C=30": lambda: TopicModel(C=30.0),
        "SGD modified-huber": lambda: TopicModel.with_estimator(
            SGDClassifier(loss="modified_huber", alpha=1e-5, class_weight="balanced", random_state=42, max_iter=50)
        ),
        "logreg C=10, no class weights": lambda: TopicModel.with_estimator(LogisticRegression(C=10.0, max_iter=1000)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(ROOT / "tests" / "nlu_real"))
    parser.add_argument("--fresh", default=str(ROOT / "tests" / "nlu_fresh"))
    parser.add_argument("--holdout", default=str(ROOT / "tests" / "nlu_holdout"))
    parser.add_argument("--only", help="run only the variants whose name contains this")
    parser.add_argument("--clause-sweep", action="store_true", help="also sweep the clause settings")
    args = parser.parse_args()

    to_lemmas = lemma_pipeline()
    topics = topic_names()
    train = training_examples()
    parsed_train = to_lemmas([t for t, _ in train])
    train_docs = [lemma_document(p.lemmas) for p in parsed_train]
    train_texts = [p.text for p in parsed_train]
    labels = [intent for _, intent in train]
    sets: dict[str, list[tuple[Parsed, str]]] = {}
    for name, folder in (("real", Path(args.real)), ("fresh", Path(args.fresh)), ("held-out", Path(args.holdout))):
        for path in sorted(folder.glob("*.yml")):
            pairs = load_examples(path)
            sets[f"{name} {path.stem}"] = list(
                zip(to_lemmas([t for t, _ in pairs]), [i for _, i in pairs], strict=True)
            )
    with vectors_kept():  # every variant with the embedding reads the same texts: embed them once
        print("variant".ljust(50) + "".join(f"{name:>16}" for name in sets) + "   train s")
        print("(the first variant with the embedding also embeds the training texts; the others reuse them)")
        for label, make in variants().items():
            if args.only and args.only not in label:
                continue
            started = time.monotonic()
            model = make().fit(train_docs, labels, train_texts)
            seconds = time.monotonic() - started
            cells = [score(model, test, topics)["accuracy"] for test in sets.values()]
            print(label.ljust(50) + "".join(f"{c:>16.3f}" for c in cells) + f"{seconds:>10.1f}")
            if args.clause_sweep:
                for commas in (False, True):
                    for min_clause in (0.3, 0.4, 0.5, 0.6, 0.7):
                        results: list[dict[str, Any]] = [
                            score(model, t, topics, min_clause, commas) for t in sets.values()
                        ]
                        print(
                            f"    commas={commas!s:<5} min_clause={min_clause:.1f} "
                            + " ".join(f"{r['accuracy']:.3f}/{r['split_single']:.3f}" for r in results)
                        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
