"""Identity numbers the card-status lookup accepts, and personal-data masking.

Pure Python, no Rasa imports, so it can be used by the action server, the
import script and the tests alike.

Three kinds of 18-character number are accepted (:class:`IdKind`). All end in
a check character computed with ISO 7064 MOD 11-2 over the first 17 digits
(0-9, or X for 10)::

    resident identity number, GB 11643-1999     AAAAAA   YYYYMMDD SSS C
    residence permit of a Hong Kong, Macao or   810000 / 820000 / 830000
      Taiwan resident (港澳台居民居住证)          (HK / Macao / Taiwan) YYYYMMDD SSS C
    Foreigner's Permanent Residence ID Card,    9 PP NNN YYYYMMDD SSS C
      2023 edition (外国人永久居留身份证)

    AAAAAA address code (province-level prefix checked), PP province-level code
    of the mainland place that took the application (11-65), NNN nationality
    (ISO 3166-1 numeric), YYYYMMDD birth date, SSS sequence, C check character.

Sources:

* Residence permits carry a 公民身份号码 laid out as in GB 11643 with the
  address code 810000 / 820000 / 830000 (Ministry of Public Security, 2018,
  under the 港澳台居民居住证申领发放办法; summarised e.g. at
  https://cidian.kuaisou.com/居民居住证号, and the 830000 prefix in the
  open-source CredentialKit, github.com/howardli/CredentialKit,
  TwResidencePermitNumberProcessor).
* The 2023 foreigner's card: National Immigration Administration, 新版外国人
  永久居留身份证机读信息规则 / 适配性改造要点 (2023, reproduced at
  http://www.eastcoms.com/service/pro/840.html): the number went from 15
  characters (3 Latin letters + 12 digits) to 18 (17 digits + 1 check
  character) "参照居民身份证公民身份号码国家标准"; its first digit is 9 (resident
  numbers start with 1-8, the first digit of a province code); the last
  character is a MOD 11-2 check "与公民身份号码校验方式相同"; the Latin-letter
  nationality became a numeric code. The field positions (2-3 province-level
  code of the place that took the application, 4-6 nationality, 7-14 birth
  date, 15-17 sequence) are those of the example 932682198501010017 quoted
  from those notes at https://blog.csdn.net/weixin_47180815/article/details/134553563
  and of CredentialKit's ForeignerPermanentResidenceIdNumberProcessor; both
  examples used in the tests check out under MOD 11-2.

The old 15-character foreigner's card (3 letters + 12 digits) is *not*
accepted: the sources agree only on "3 letters + 12 digits"; what the digits
and the check character are is described differently by different third
parties and no official text was found. It is recognised, so the reply can
say so (``old_foreign_card``), and it is masked in free text like the others.

Only the shape of a resident ID's address code is checked (six digits, a real
province-level prefix): county codes change over time and old numbers keep
their original code, so a full code list would reject genuine numbers.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

__all__ = [
    "EARLIEST_BIRTH_YEAR",
    "MAINLAND_PROVINCE_CODES",
    "NATIONALITY_CODES",
    "PERMIT_ADDRESS_CODES",
    "PROBLEMS",
    "PROVINCE_CODES",
    "IdCheck",
    "IdKind",
    "check_character",
    "find_id_numbers",
    "mask_id_number",
    "mask_name",
    "normalize_id_number",
    "redact_id_numbers",
    "validate_id_number",
]


class IdKind(str, enum.Enum):
    """Which kind of number a valid :class:`IdCheck` is."""

    RESIDENT_ID = "resident_id"
    HMT_RESIDENCE_PERMIT = "hmt_residence_permit"  # Hong Kong, Macao and Taiwan residents
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"  # 2023 edition, starts with 9


# Mainland provinces, autonomous regions and municipalities (GB/T 2260).
MAINLAND_PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
)
# Address codes of the residence permits for Hong Kong, Macao and Taiwan residents.
PERMIT_ADDRESS_CODES: frozenset[str] = frozenset(["810000", "820000", "830000"])
# Every province-level prefix an 18-character number not starting with 9 may have: the mainland,
# 71 (Taiwan in GB/T 2260, accepted on resident IDs as before), and the residence permits' 81-83.
_PERMIT_PREFIXES = frozenset(code[:2] for code in PERMIT_ADDRESS_CODES)
_RESIDENT_PREFIXES = MAINLAND_PROVINCE_CODES | {"71"}
PROVINCE_CODES: frozenset[str] = _RESIDENT_PREFIXES | _PERMIT_PREFIXES

# Nationality codes of the foreigner's card: ISO 3166-1 numeric (GB/T 2659), as listed by the
# iso-codes project (Debian iso-codes 4.15), less China's own codes (156 China, 158 Taiwan,
# 344 Hong Kong, 446 Macao): their people hold resident IDs or the permits above. The card has
# been issued since December 2023, so codes withdrawn before then cannot appear on it; a country
# created later needs adding here.
NATIONALITY_CODES: frozenset[str] = frozenset(
    """
    004 008 010 012 016 020 024 028 031 032 036 040 044 048 050 051 052 056 060 064 068 070 072 074
    076 084 086 090 092 096 100 104 108 112 116 120 124 132 136 140 144 148 152 162 166 170 174 175
    178 180 184 188 191 192 196 203 204 208 212 214 218 222 226 231 232 233 234 238 239 242 246 248
    250 254 258 260 262 266 268 270 275 276 288 292 296 300 304 308 312 316 320 324 328 332 334 336
    340 348 352 356 360 364 368 372 376 380 384 388 392 398 400 404 408 410 414 417 418 422 426 428
    430 434 438 440 442 450 454 458 462 466 470 474 478 480 484 492 496 498 499 500 504 508 512 516
    520 524 528 531 533 534 535 540 548 554 558 562 566 570 574 578 580 581 583 584 585 586 591 598
    600 604 608 612 616 620 624 626 630 634 638 642 643 646 652 654 659 660 662 663 666 670 674 678
    682 686 688 690 694 702 703 704 705 706 710 716 724 728 729 732 740 744 748 752 756 760 762 764
    768 772 776 780 784 788 792 795 796 798 800 804 807 818 826 831 832 833 834 840 850 854 858 860
    862 876 882 887 894
    """.split()
)

# The standard's own worked example (440524188001010014) was born in 1880, so
# a 1900 floor would reject a number the standard calls valid.
EARLIEST_BIRTH_YEAR = 1800

# Every value IdCheck.problem can take; knowledge/service.yml has an id_problem_<code> phrase for each.
PROBLEMS = (
    "length",
    "characters",
    "region_code",
    "nationality_code",
    "birth_date",
    "check_digit",
    "old_foreign_card",
)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)

# Full-width digits and letters are what Chinese IMEs produce in full-width mode; letters are
# upper-cased (x → X). ASCII only, so the length of the text never changes.
_TO_ASCII_UPPER = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
        **{chr(0xFF41 + i): chr(0x41 + i) for i in range(26)},
        **{chr(0x61 + i): chr(0x41 + i) for i in range(26)},
    }
)
_WHITESPACE = re.compile(r"\s+")
_ID_BODY = re.compile(r"[0-9]{17}[0-9X]")
_OLD_FOREIGN_CARD = re.compile(r"[A-Z]{3}[0-9]{12}")


@dataclass(frozen=True)
class IdCheck:
    """Outcome of validating an identity number.

    ``normalized`` and ``kind`` are set only when ``ok`` is true, so an
    invalid number can never be passed on by accident. ``problem`` is a
    machine code, one of :data:`PROBLEMS`, and ``None`` when ``ok`` is true.
    """

    ok: bool
    normalized: str | None
    problem: str | None
    kind: IdKind | None = None


def normalize_id_number(raw: str) -> str:
    """Return ``raw`` without whitespace, full-width digits/letters as ASCII, letters upper-case.

    No validation happens here; see :func:`validate_id_number`.
    """
    return _WHITESPACE.sub("", raw).translate(_TO_ASCII_UPPER)


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


def _kind_of(number: str) -> IdKind:
    """The kind an 18-character number claims to be, by its first digits."""
    if number[0] == "9":
        return IdKind.FOREIGN_PERMANENT_RESIDENCE
    if number[:2] in _PERMIT_PREFIXES:
        return IdKind.HMT_RESIDENCE_PERMIT
    return IdKind.RESIDENT_ID


def _code_problem(number: str, kind: IdKind) -> str | None:
    """What is wrong with the codes before the birth date (region, nationality), if anything."""
    if kind is IdKind.FOREIGN_PERMANENT_RESIDENCE:
        if number[1:3] not in MAINLAND_PROVINCE_CODES:
            return "region_code"
        return None if number[3:6] in NATIONALITY_CODES else "nationality_code"
    if kind is IdKind.HMT_RESIDENCE_PERMIT:
        return None if number[:6] in PERMIT_ADDRESS_CODES else "region_code"
    return None if number[:2] in _RESIDENT_PREFIXES else "region_code"


def validate_id_number(raw: str, *, today: date | None = None) -> IdCheck:
    """Validate an 18-character resident ID, HK/Macao/Taiwan residence permit or foreigner's ID.

    Checks run in order and the first failure is reported: the old 15-character
    foreigner's card (recognised, not accepted), length, characters (17 digits
    then a digit or X), the codes before the birth date (province-level prefix;
    810000/820000/830000 for a residence permit; for a number starting with 9 the
    mainland province and the nationality), birth date (real calendar date, not
    after ``today``, year not before :data:`EARLIEST_BIRTH_YEAR`), check
    character. ``today`` defaults to the local date and exists so tests can pin it.
    """
    candidate = normalize_id_number(raw)
    if _OLD_FOREIGN_CARD.fullmatch(candidate):
        return IdCheck(ok=False, normalized=None, problem="old_foreign_card")
    if len(candidate) != 18:
        return IdCheck(ok=False, normalized=None, problem="length")
    if not _ID_BODY.fullmatch(candidate):
        return IdCheck(ok=False, normalized=None, problem="characters")
    kind = _kind_of(candidate)
    problem = _code_problem(candidate, kind)
    if problem is not None:
        return IdCheck(ok=False, normalized=None, problem=problem)
    if not _birth_date_ok(candidate[6:14], today or date.today()):
        return IdCheck(ok=False, normalized=None, problem="birth_date")
    if check_character(candidate[:17]) != candidate[17]:
        return IdCheck(ok=False, normalized=None, problem="check_digit")
    return IdCheck(ok=True, normalized=candidate, problem=None, kind=kind)


def mask_id_number(value: str) -> str:
    """Mask an identity number; the birth date never shows.

    ``11010519491231002X`` becomes ``110105********002X`` (first 6 and last 4
    kept), and so does a residence permit (``830000********0027``). A
    foreigner's number keeps only 9, the province and the last 4
    (``911***********0015``): its characters 4-6 are the nationality, which
    among the few foreigners of a province says much more about a person
    than a county code does. The old 15-character foreigner's card keeps its
    last 2 only (its last 4 would include the day of birth). Anything shorter
    than 15 characters (the old format's length) is masked completely, since
    keeping 10 characters of it would reveal most of it. The input is
    normalised first, so spaced or full-width forms mask the same way.
    """
    normalized = normalize_id_number(value)
    if len(normalized) < 15:
        return "*" * len(normalized)
    if _OLD_FOREIGN_CARD.fullmatch(normalized):
        return "*" * 13 + normalized[-2:]
    if len(normalized) == 18 and normalized[0] == "9":
        return normalized[:3] + "*" * 11 + normalized[-4:]
    return normalized[:6] + "*" * (len(normalized) - 10) + normalized[-4:]


def _is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith("CJK ")


def mask_name(name: str) -> str:
    """Mask a person's name for display or logs.

    Chinese names keep the first character: 张三 → 张*, 欧阳娜娜 → 欧***.
    Latin-script names keep the first letter of each word: Li Si → L* S*,
    "SMITH, JOHN" → "S****, J***". Separators (spaces, commas, hyphens, the
    middle dot in transliterated names) are kept so the shape stays readable.
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


# Digits and letters as typed in either half- or full-width form; the lookarounds stop a match
# inside a longer run of digits or letters (order numbers, bank cards, hex digests).
_D = "[0-9０-９]"
_L = "[A-Za-zＡ-Ｚａ-ｚ]"
_SEP = "[ \u3000-]?"  # users often group the number as 6-8-4
_EDGE_CHARS = "0-9０-９A-Za-zＡ-Ｚａ-ｚ"
_ID_IN_TEXT = re.compile(
    rf"(?<![{_EDGE_CHARS}])"
    # 18-character: resident ID, residence permit, foreigner's card (2023)
    rf"(?:{_D}{{6}}{_SEP}{_D}{{8}}{_SEP}{_D}{{3}}[0-9０-９XxＸｘ]"
    rf"|{_D}{{6}}{_SEP}{_D}{{6}}{_SEP}{_D}{{3}}"  # 15-digit pre-1999 resident ID
    rf"|{_L}{{3}}{_SEP}{_D}{{4}}{_SEP}{_D}{{6}}{_SEP}{_D}{{2}})"  # old foreigner's card, 3 letters + 12
    rf"(?![{_EDGE_CHARS}])"
)


def find_id_numbers(text: str) -> list[str]:
    """Return every identity-number-shaped substring of ``text``, as written.

    Matches the 18-character form (17 digits + digit/X: resident IDs,
    residence permits and the foreigner's card starting with 9), the old
    15-digit resident ID and the old foreigner's card (3 letters + 12 digits),
    in half- or full-width characters, optionally grouped (6-8-4, or 3-4-6-2)
    with spaces or hyphens. Shape is enough: a mistyped number is still
    personal data and must be scrubbed before text is stored or logged.
    """
    return _ID_IN_TEXT.findall(text)


def redact_id_numbers(text: str) -> str:
    """Replace each number found by :func:`find_id_numbers` with its masked form."""
    # Hyphens are grouping only; drop them so the mask shows the real length.
    return _ID_IN_TEXT.sub(lambda match: mask_id_number(match.group().replace("-", "")), text)


# What people put before their name: "我叫张三", "姓名：李四", "My name is Li Si", "name: John Smith".
# The English lead-ins must end at a word boundary, or "NAMEKAWA TARO" would lose its "NAME".
_NAME_LEAD_IN = re.compile(
    r"^(?:我叫|我的名字是|我的名字叫|名字是|名字叫|名字|姓名是|姓名|持卡人是|持卡人|本人|我是|"
    r"(?:my name is|my name's|name is|name|i am|i'm|it's|this is)\b)\s*[:：,，]?\s*",
    re.IGNORECASE,
)


def extract_id_number(text: str) -> str:
    """The ID number in a message ("身份证号是44052418800101001X"): the one ID-shaped part if there
    is exactly one, else the whole text, so validation can say what is wrong with it."""
    found = find_id_numbers(text)
    return found[0] if len(found) == 1 else text


def extract_name(text: str) -> str:
    """The name in a message, without a lead-in like "我叫" or "my name is" and trailing punctuation.

    Latin-script names keep their spaces and commas ("SMITH JOHN", "SMITH, JOHN", as on a passport);
    :func:`core.card_registry.normalize_name` ignores both when hashing.
    """
    name = _NAME_LEAD_IN.sub("", text.strip(), count=1)
    return name.strip(" 。.!！,，").strip()
