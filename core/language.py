"""Which language to answer in: the dominant script of a message, explicit language requests, and
traditional Chinese characters (understood as simplified, answered in traditional)."""

from __future__ import annotations

import re
from functools import lru_cache

import opencc

LANGUAGES = ("zh", "en")  # every answer and phrase exists in each
DEFAULT_LANGUAGE = "zh"

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Words that name a target language in a request like "please answer in English" / "说中文".
_ASKS_EN = re.compile(r"english|英文|英语|英語", re.IGNORECASE)
_ASKS_ZH = re.compile(r"chinese|mandarin|中文|汉语|漢語|普通话|国语|zhongwen|putonghua", re.IGNORECASE)


def detect_language(text: str) -> str | None:
    """`zh` or `en` by the dominant script, or None when the text has no letters (digits, emoji).

    Chinese characters carry about a word each, so one Han character is weighed against one Latin
    word; ties go to Chinese, the language of most users.
    """
    han = len(_HAN.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    if han == 0 and latin_words == 0:
        return None
    return "zh" if han >= latin_words else "en"


def requested_language(text: str) -> str | None:
    """The language a switch request names ("answer in English" → en), or None if it names none."""
    wants_en, wants_zh = bool(_ASKS_EN.search(text)), bool(_ASKS_ZH.search(text))
    if wants_en == wants_zh:
        return None
    return "en" if wants_en else "zh"


# The `script` slot's values: how a Chinese-writing person writes (and is answered).
SIMPLIFIED = "simplified"
TRADITIONAL = "traditional"
# A text is traditional when at least this share of its Han characters change in conversion (a
# simplified text may hold a character OpenCC would still convert, such as 著 in 显著).
_TRADITIONAL_SHARE = 0.1


@lru_cache(maxsize=2)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional characters (and phrases) in simplified Chinese; other text unchanged (OpenCC t2s)."""
    return _converter("t2s").convert(text) if _HAN.search(text) else text


def to_traditional(text: str) -> str:
    """Simplified Chinese in traditional characters (OpenCC s2t); other text unchanged."""
    return _converter("s2t").convert(text) if _HAN.search(text) else text


def writes_traditional(text: str) -> bool:
    """Whether the text is written in traditional characters (enough of them change in conversion)."""
    han = _HAN.findall(text)
    if not han:
        return False
    simplified = to_simplified(text)
    if len(simplified) != len(text):  # a phrase conversion changed the length: count characters
        changed = sum(1 for ch in set(han) if to_simplified(ch) != ch)
        return changed > 0 and changed / len(set(han)) >= _TRADITIONAL_SHARE
    changed = sum(1 for a, b in zip(text, simplified, strict=True) if a != b)
    return changed > 0 and changed / len(han) >= _TRADITIONAL_SHARE
