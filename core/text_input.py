"""Cleaning what people type before anything reads it: markup, control characters, sheer length."""

from __future__ import annotations

import html
import re
import unicodedata

MAX_CHARS = 1000  # enough for any real question; a 10,000-character paste is cut, not refused

_TAG = re.compile(r"<[^<>]{0,200}>")
# Script and style elements carry code, not a question: drop them with their content.
_CODE_ELEMENT = re.compile(r"<(script|style)\b[^>]*>.*?(</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """NFKC-normalise (full-width digits and letters to ASCII), drop tags and control characters,
    fold white space and cut to MAX_CHARS."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = _CODE_ELEMENT.sub(" ", text)
    text = _TAG.sub(" ", text)
    # Control characters separate words (a space); format characters such as zero-width spaces sit
    # inside words ("社保\u200b卡") and unassigned code points mean nothing: both are dropped.
    text = "".join(_control_as_space(ch) for ch in text)
    return _SPACE.sub(" ", _strip_latin_accents(text)).strip()[:MAX_CHARS]


def _control_as_space(ch: str) -> str:
    category = unicodedata.category(ch)
    if category == "Cc":
        return " "
    return "" if category[0] == "C" else ch


def _strip_latin_accents(text: str) -> str:
    """Pinyin tone marks and other accents on Latin letters go ("nǐ hǎo" → "ni hao"); marks on
    other scripts stay."""
    kept: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and kept and kept[-1].isascii() and kept[-1].isalpha():
            continue
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def has_words(text: str) -> bool:
    """Whether the text has anything to understand: a letter or digit of any script."""
    return any(ch.isalnum() for ch in text)
