"""Tests for core.text_input: cleaning what people type, and whether it has words at all."""

from __future__ import annotations

import pytest

from core.text_input import MAX_CHARS, clean_text, has_words


@pytest.mark.parametrize("text", [None, ""])
def test_none_and_empty_give_empty_string(text: str | None) -> None:
    assert clean_text(text) == ""


def test_plain_text_unchanged() -> None:
    assert clean_text("社保卡怎么激活") == "社保卡怎么激活"
    assert clean_text("How do I activate my card?") == "How do I activate my card?"


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "社保卡<script>alert(1)</script>怎么激活",
        "<b>社保卡</b>怎么<i>激活</i>",
        '<img src="x" onerror="alert(1)">社保卡',
        "&lt;script&gt;alert(1)&lt;/script&gt;",  # escaped markup is unescaped first, then removed
        "<a href='http://example.com'>link</a>",
    ],
)
def test_html_tags_removed(text: str) -> None:
    cleaned = clean_text(text)
    assert "<" not in cleaned
    assert ">" not in cleaned
    assert "script" not in cleaned


def test_text_around_tags_is_kept() -> None:
    assert clean_text("<b>社保卡</b>怎么<i>激活</i>") == "社保卡 怎么 激活"
    assert clean_text("社保卡<br/>怎么激活") == "社保卡 怎么激活"
    assert clean_text("<p>How do I activate my card?</p>") == "How do I activate my card?"


def test_script_element_leaves_the_question() -> None:
    cleaned = clean_text("社保卡<script>alert(1)</script>怎么激活")
    assert cleaned.startswith("社保卡")
    assert cleaned.endswith("怎么激活")
    assert "<" not in cleaned


def test_html_entities_unescaped() -> None:
    assert clean_text("A &amp; B") == "A & B"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("社保卡\x00怎么\x07激活", "社保卡 怎么 激活"),
        ("abc\x1b[31mdef", "abc [31mdef"),
        ("社保\u200b卡", "社保卡"),  # zero-width space (Cf) sits inside a word: dropped
        ("card\u202eactivate", "cardactivate"),  # right-to-left override (Cf): dropped
        ("\x7fhello\x9f", "hello"),
    ],
)
def test_control_and_format_characters_removed(text: str, expected: str) -> None:
    cleaned = clean_text(text)
    assert cleaned == expected
    assert all(ch == " " or ch.isprintable() for ch in cleaned)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("１２３３３", "12333"),
        ("打１２３３３", "打12333"),
        ("ＡＢＣ ｃａｒｄ", "ABC card"),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),
        ("社保卡　怎么激活", "社保卡 怎么激活"),  # ideographic space
    ],
)
def test_nfkc_full_width_to_ascii(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  社保卡   怎么激活  ", "社保卡 怎么激活"),
        ("how\n\n\tdo I\r\nactivate", "how do I activate"),
        ("   ", ""),
        ("\n\t\r", ""),
    ],
)
def test_whitespace_folded_and_stripped(text: str, expected: str) -> None:
    assert clean_text(text) == expected


def test_long_paste_cut_to_max_chars() -> None:
    assert MAX_CHARS == 1000
    text = "激" * 10_000
    cleaned = clean_text(text)
    assert len(cleaned) == MAX_CHARS
    assert cleaned == "激" * MAX_CHARS


def test_long_mixed_paste_cut_after_cleaning() -> None:
    text = ("<b>abc</b>  " * 2000)[:10_000]
    cleaned = clean_text(text)
    assert len(cleaned) == MAX_CHARS
    assert "<" not in cleaned
    assert "  " not in cleaned


def test_short_text_not_padded_or_cut() -> None:
    assert clean_text("a" * MAX_CHARS) == "a" * MAX_CHARS
    assert len(clean_text("a" * (MAX_CHARS + 1))) == MAX_CHARS


@pytest.mark.parametrize("text", ["😀", "👍👍👍", "😀 🎉 ❤️", "?!", "？！。，", "...", "——", "", "   ", "（）【】"])
def test_has_no_words(text: str) -> None:
    assert has_words(text) is False


@pytest.mark.parametrize(
    "text",
    ["12333", "1", "社保卡", "激", "ok", "a", "😀 hi", "？社？", "110105********002X", "㐀"],  # 㐀: CJK Ext. A
)
def test_has_words(text: str) -> None:
    assert has_words(text) is True


def test_has_words_after_cleaning_full_width_digits() -> None:
    assert has_words(clean_text("１２３３３")) is True
    assert has_words(clean_text("<p>😀</p>")) is False


@pytest.mark.parametrize("text", ["привет", "Ωμέγα", "こんにちは"])
def test_fixed_non_ascii_letters_are_words(text: str) -> None:
    assert has_words(text) is True
