"""Cleaning what people type before anything reads it: markup, control characters, sheer length."""

from __future__ import annotations

import html
import re
import unicodedata

MAX_CHARS = 1000  # enough for any real question; a 10,000-character paste is cut, not refused

_TAG = re.compile(r"<[^<>]{0,200}>")
_SPACE = re.compile(r"\s+")
_WORDLIKE = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff]")


def clean_text(text: str | None) -> str:
    """NFKC-normalise (full-width digits and letters to ASCII), drop tags and control characters,
    fold white space and cut to MAX_CHARS."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = _TAG.sub(" ", text)
    # Control and format characters (Cc, Cf) and unassigned code points carry no meaning for us.
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return _SPACE.sub(" ", text).strip()[:MAX_CHARS]


def has_words(text: str) -> bool:
    """Whether the text has anything to understand: a letter, a Han character or a digit."""
    return bool(_WORDLIKE.search(text))
