"""Which language to answer in: the dominant script of a message, and explicit language requests."""

from __future__ import annotations

import re

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
