"""core.topic_model: clause splitting, the choice of a message's topics, the model round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.topic_model import MAX_QUESTIONS, Ranked, TopicModel, lemma_document, message_topics, split_clauses

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
