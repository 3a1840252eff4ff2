"""Resident identity numbers (GB 11643-1999) and personal-data masking.

Pure Python, no Rasa imports, so it can be used by the action server, the
import script and the tests alike.

An 18-character number is laid out as::

    AAAAAA YYYYMMDD SSS C
    address  birth  seq check (0-9 or X, ISO 7064 MOD 11-2)

Only the shape of the address code is checked (six digits, a real
province-level prefix): county codes change over time and old numbers keep
their original code, so a full code list would reject genuine numbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

__all__ = [
    "EARLIEST_BIRTH_YEAR",
    "PROVINCE_CODES",
    "IdCheck",
    "check_character",
    "find_id_numbers",
    "mask_id_number",
    "mask_name",
    "normalize_id_number",
    "redact_id_numbers",
    "validate_id_number",
]

# Province-level prefixes in use: mainland provinces, autonomous regions and
# municipalities, plus 71 (Taiwan), 81 (Hong Kong) and 82 (Macao).
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)

# The standard's own worked example (440524188001010014) was born in 1880, so
# a 1900 floor would reject a number the standard calls valid.
EARLIEST_BIRTH_YEAR = 1800

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)

# Full-width digits and X are what Chinese IMEs produce in full-width mode.
_FULLWIDTH_TO_ASCII = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "Ｘ": "X", "ｘ": "X", "x": "X"})
_WHITESPACE = re.compile(r"\s+")
_ID_BODY = re.compile(r"[0-9]{17}[0-9X]")


@dataclass(frozen=True)
class IdCheck:
    """Outcome of validating an identity number.

    ``normalized`` is set only when ``ok`` is true, so an invalid number can
    never be passed on by accident. ``problem`` is a machine code, one of
    ``"length"``, ``"characters"``, ``"region_code"``, ``"birth_date"`` or
    ``"check_digit"``, and ``None`` when ``ok`` is true.
    """

    ok: bool
    normalized: str | None
    problem: str | None


def normalize_id_number(raw: str) -> str:
    """Return ``raw`` without whitespace, full-width digits/X as ASCII, ``x`` as ``X``.

    No validation happens here; see :func:`validate_id_number`.
    """
    return _WHITESPACE.sub("", raw).translate(_FULLWIDTH_TO_ASCII)


def check_character(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=False))
    return _CHECK_CHARS[total % 11]


def _birth_date_ok(yyyymmdd: str, today: date) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:  # e.g. 19490230
        return False
    return born.year >= EARLIEST_BIRTH_YEAR and born <= today


def validate_id_number(raw: str, *, today: date | None = None) -> IdCheck:
    """Validate an 18-character resident identity number.

    Checks run in order and the first failure is reported: length, characters
    (17 digits then a digit or X), province-level address code, birth date
    (real calendar date, not after ``today``, year not before
    :data:`EARLIEST_BIRTH_YEAR`), check character. ``today`` defaults to the
    local date and exists so tests can pin it.
    """
    candidate = normalize_id_number(raw)
    if len(candidate) != 18:
        return IdCheck(ok=False, normalized=None, problem="length")
    if not _ID_BODY.fullmatch(candidate):
        return IdCheck(ok=False, normalized=None, problem="characters")
    if candidate[:2] not in PROVINCE_CODES:
        return IdCheck(ok=False, normalized=None, problem="region_code")
    if not _birth_date_ok(candidate[6:14], today or date.today()):
        return IdCheck(ok=False, normalized=None, problem="birth_date")
    if check_character(candidate[:17]) != candidate[17]:
        return IdCheck(ok=False, normalized=None, problem="check_digit")
    return IdCheck(ok=True, normalized=candidate, problem=None)


def mask_id_number(value: str) -> str:
    """Mask an identity number, keeping the first 6 and last 4 characters.

    ``11010519491231002X`` becomes ``110105********002X``. The input is
    normalised first, so spaced or full-width forms mask the same way.
    Anything shorter than 15 characters (the old format's length) is masked
    completely, since keeping 10 characters of it would reveal most of it.
    """
    normalized = normalize_id_number(value)
    if len(normalized) < 15:
        return "*" * len(normalized)
    return normalized[:6] + "*" * (len(normalized) - 10) + normalized[-4:]


def _is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith("CJK ")


def mask_name(name: str) -> str:
    """Mask a person's name for display or logs.

    Chinese names keep the first character: 张三 → 张*, 欧阳娜娜 → 欧***.
    Latin-script names keep the first letter of each word: Li Si → L* S*.
    Separators (spaces, hyphens, the middle dot in transliterated names)
    are kept so the shape stays readable.
    """
    cleaned = " ".join(unicodedata.normalize("NFKC", name).split())
    if not cleaned:
        return ""
    if any(_is_cjk(char) for char in cleaned):
        first_seen = False
        masked_chars = []
        for char in cleaned:
            if not char.isalnum():
                masked_chars.append(char)
            elif not first_seen:
                masked_chars.append(char)
                first_seen = True
            else:
                masked_chars.append("*")
        return "".join(masked_chars)
    # Latin and other alphabetic scripts: keep the first letter of each word.
    return re.sub(r"\w+", lambda word: word.group()[0] + "*" * (len(word.group()) - 1), cleaned)


# Digits as typed in either half- or full-width form; the lookarounds stop a
# match inside a longer run of digits or letters (order numbers, bank cards).
_D = "[0-9０-９]"
_SEP = "[ \u3000-]?"  # users often group the number as 6-8-4
_EDGE_CHARS = "0-9０-９A-Za-zＡ-Ｚａ-ｚ"
_ID_IN_TEXT = re.compile(
    rf"(?<![{_EDGE_CHARS}])"
    rf"(?:{_D}{{6}}{_SEP}{_D}{{8}}{_SEP}{_D}{{3}}[0-9０-９XxＸｘ]"  # 18-character
    rf"|{_D}{{6}}{_SEP}{_D}{{6}}{_SEP}{_D}{{3}})"  # 15-digit pre-1999 format
    rf"(?![{_EDGE_CHARS}])"
)


def find_id_numbers(text: str) -> list[str]:
    """Return every identity-number-shaped substring of ``text``, as written.

    Matches the 18-character form (17 digits + digit/X) and the old 15-digit
    form, in half- or full-width characters, optionally grouped 6-8-4 with
    spaces or hyphens. Shape is enough: a mistyped number is still personal
    data and must be scrubbed before text is stored or logged.
    """
    return _ID_IN_TEXT.findall(text)


def redact_id_numbers(text: str) -> str:
    """Replace each number found by :func:`find_id_numbers` with its masked form."""
    # Hyphens are grouping only; drop them so the mask shows the real length.
    return _ID_IN_TEXT.sub(lambda match: mask_id_number(match.group().replace("-", "")), text)


# What people put before their name: "我叫张三", "姓名：李四", "My name is Li Si", "name: John Smith".
_NAME_LEAD_IN = re.compile(
    r"^(?:我叫|我的名字是|我的名字叫|名字是|名字叫|名字|姓名是|姓名|持卡人是|持卡人|本人|我是|"
    r"my name is|my name's|name is|name|i am|i'm|it's|this is)\s*[:：,，]?\s*",
    re.IGNORECASE,
)


def extract_id_number(text: str) -> str:
    """The ID number in a message ("身份证号是44052418800101001X"): the one ID-shaped part if there
    is exactly one, else the whole text, so validation can say what is wrong with it."""
    found = find_id_numbers(text)
    return found[0] if len(found) == 1 else text


def extract_name(text: str) -> str:
    """The name in a message, without a lead-in like "我叫" or "my name is" and trailing punctuation."""
    name = _NAME_LEAD_IN.sub("", text.strip(), count=1)
    return name.strip(" 。.!！,，").strip()
