"""Tests for core.language: the dominant script of a message and explicit language requests."""

from __future__ import annotations

import pytest

from core.language import DEFAULT_LANGUAGE, LANGUAGES, detect_language, requested_language


def test_supported_languages() -> None:
    assert LANGUAGES == ("zh", "en")
    assert DEFAULT_LANGUAGE == "zh"


@pytest.mark.parametrize(
    "text",
    ["社保卡怎么激活", "社保卡在哪里激活？", "激活", "我在广州，社保卡密码忘了怎么办", "电子社保卡"],
)
def test_chinese(text: str) -> None:
    assert detect_language(text) == "zh"


@pytest.mark.parametrize(
    "text",
    [
        "How do I activate my social security card?",
        "where to activate",
        "Which bank activates my card?",
        "hi",
        "I'm in Shanghai",
    ],
)
def test_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的social security card怎么激活", "zh"),  # 6 Han characters against 3 English words
        ("how to 激活 my card", "en"),  # 4 English words against 2 Han characters
        ("社保卡 card", "zh"),
        ("Can I activate my 社保卡 at the bank?", "en"),
        ("卡 ok", "zh"),  # one Han character against one word: ties go to Chinese
        ("我在Shanghai", "zh"),
        ("I am in 广州 now", "en"),
    ],
)
def test_mixed_dominant_script_decides(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "12333", "110105194912310", "😀", "👍👍👍", "123 😀 456", "?!。，", "a 1 b"]
)
def test_no_letters_is_none(text: str) -> None:
    assert detect_language(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("please answer in English", "en"),
        ("Please answer in english", "en"),
        ("can you reply in ENGLISH?", "en"),
        ("说中文", "zh"),
        ("请说中文", "zh"),
        ("answer in Chinese", "zh"),
        ("Chinese please", "zh"),
        ("speak Mandarin", "zh"),
        ("切换成英语", "en"),
        ("请用英文回答", "en"),
        ("用汉语回答", "zh"),
        ("说普通话", "zh"),
    ],
)
def test_requested_language(text: str, expected: str) -> None:
    assert requested_language(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "社保卡怎么激活",
        "How do I activate my card?",
        "",
        "12333",
        "switch language",
        "换个语言",
        "English or Chinese, whichever",  # names both: no choice to follow
    ],
)
def test_requested_language_none(text: str) -> None:
    assert requested_language(text) is None


def test_request_and_script_can_disagree() -> None:
    # Written in Chinese, asking for English: the request names the language to answer in.
    assert detect_language("切换成英语") == "zh"
    assert requested_language("切换成英语") == "en"
    assert detect_language("answer in Chinese") == "en"
    assert requested_language("answer in Chinese") == "zh"


# --- traditional characters -------------------------------------------------------------------------

from core.language import to_simplified, to_traditional, writes_traditional  # noqa: E402


@pytest.mark.parametrize(
    "text",
    ["激活需要帶什麼證件？", "社保卡丟失怎麼辦", "臺灣居民怎麼辦社保卡", "我在香港，社會保障卡要去哪裡啟用？"],
)
def test_traditional_writing_is_recognised_and_simplified(text: str) -> None:
    assert writes_traditional(text)
    simplified = to_simplified(text)
    assert simplified != text and not writes_traditional(simplified)


@pytest.mark.parametrize("text", ["社保卡怎么激活", "效果显著吗", "How do I activate it?", "12333", ""])
def test_simplified_or_no_chinese_is_not_traditional(text: str) -> None:
    assert not writes_traditional(text)
    assert to_simplified(text) == text


def test_answers_convert_to_traditional_and_leave_latin_alone() -> None:
    assert to_traditional("社保卡怎么激活？要带身份证原件。") == "社保卡怎麼激活？要帶身份證原件。"
    assert to_traditional("Call 12333, https://si.12333.gov.cn") == "Call 12333, https://si.12333.gov.cn"
    assert to_simplified("激活需要帶什麼證件？") == "激活需要带什么证件？"
