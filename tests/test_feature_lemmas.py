"""Tests for components.feature_lemmas.english_lemma (the English stems the intent features read)."""

from __future__ import annotations

import pytest

from components.feature_lemmas import english_lemma


def test_activation_word_family_shares_a_stem() -> None:
    stems = {english_lemma(w) for w in ("activating", "activation", "activated", "activate", "activates")}
    assert len(stems) == 1
    assert stems == {"activ"}


def test_stem_is_lower_case() -> None:
    assert english_lemma("Activation") == english_lemma("ACTIVATING") == english_lemma("activated")
    assert english_lemma("Cards") == english_lemma("card") == "card"


@pytest.mark.parametrize(("word", "stem"), [("passwords", "password"), ("applying", "appli"), ("lost", "lost")])
def test_other_english_words(word: str, stem: str) -> None:
    assert english_lemma(word) == stem


def test_pinyin_tone_marks_removed() -> None:
    parts = [english_lemma(part) for part in "nǐ hǎo".split()]
    assert parts == ["ni", "hao"]
    assert " ".join(parts) == "ni hao"


@pytest.mark.parametrize(("word", "plain"), [("Guǎngzhōu", "guangzhou"), ("jīhuó", "jihuo"), ("café", "cafe")])
def test_accents_stripped(word: str, plain: str) -> None:
    assert english_lemma(word) == plain


@pytest.mark.parametrize("token", ["激活", "社保卡", "揭阳市", "你好"])
def test_chinese_token_unchanged(token: str) -> None:
    assert english_lemma(token) == token


@pytest.mark.parametrize("token", ["12333", "962222", "11010519491231002X", "2027-06-30", "?", "😀", "3次"])
def test_non_words_unchanged(token: str) -> None:
    assert english_lemma(token) == token


def test_apostrophe_word() -> None:
    assert english_lemma("Xi'an") == "xi'an"
    assert english_lemma("don't") == "don't"
