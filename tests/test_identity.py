"""Tests for core.identity: validation, masking and redaction of identity numbers."""

from __future__ import annotations

from datetime import date

import pytest

from core.identity import (
    PERMIT_ADDRESS_CODES,
    PROBLEMS,
    PROVINCE_CODES,
    IdCheck,
    IdKind,
    check_character,
    extract_id_number,
    extract_name,
    find_id_numbers,
    mask_id_number,
    mask_name,
    redact_id_numbers,
    validate_id_number,
)

# The two worked examples in GB 11643-1999.
STANDARD_X = "11010519491231002X"
STANDARD_DIGIT = "440524188001010014"


@pytest.mark.parametrize(
    "raw",
    [
        STANDARD_X,
        STANDARD_DIGIT,
        "11010519491231002x",  # lower-case x
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width, as typed with a Chinese IME
        "１１０１０５１９４９１２３１００２ｘ",
        " 110105 19491231 002X ",  # grouped and padded
        "310101198503121236",
    ],
)
def test_valid_numbers_normalise_to_ascii_upper(raw: str) -> None:
    result = validate_id_number(raw)
    assert result.ok
    assert result.problem is None
    assert result.normalized is not None
    assert result.normalized.isascii()
    assert result.normalized[-1] in "0123456789X"


def test_normalized_value_is_canonical() -> None:
    assert validate_id_number("１１０１０５１９４９１２３１００２ｘ").normalized == STANDARD_X


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "length"),
        ("11010519491231002", "length"),  # 17
        ("11010519491231002X1", "length"),  # 19
        ("110105491231002", "length"),  # old 15-digit format is not accepted for lookup
        ("1101051949123100AX", "characters"),
        ("X10105194912310021", "characters"),
        ("11010519491231002Y", "characters"),
        ("99010519491231002X", "region_code"),
        ("00010519491231002X", "region_code"),
        ("16010519491231002X", "region_code"),
        ("11010519490230002X", "birth_date"),  # 30 February
        ("11010519491331002X", "birth_date"),  # month 13
        ("11010517991231002X", "birth_date"),  # before the earliest accepted year
        ("110105194912310021", "check_digit"),
        ("440524188001010015", "check_digit"),
    ],
)
def test_invalid_numbers_report_problem(raw: str, problem: str) -> None:
    assert validate_id_number(raw) == IdCheck(ok=False, normalized=None, problem=problem)


def test_future_birth_date_is_rejected() -> None:
    first17 = "11010520300101002"
    future = first17 + check_character(first17)
    assert validate_id_number(future, today=date(2025, 1, 1)).problem == "birth_date"
    assert validate_id_number(future, today=date(2031, 1, 1)).ok


def test_every_listed_province_prefix_is_accepted() -> None:
    for prefix in [
        "11",
        "15",
        "21",
        "23",
        "31",
        "37",
        "41",
        "46",
        "50",
        "54",
        "61",
        "65",
    ]:
        first17 = prefix + "010519491231002"
        assert validate_id_number(first17 + check_character(first17)).ok, prefix
    for prefix in ["71", "81", "82"]:
        first17 = prefix + "000019491231002"
        assert validate_id_number(first17 + check_character(first17)).ok, prefix


def test_check_character_matches_standard_examples() -> None:
    assert check_character(STANDARD_X[:17]) == "X"
    assert check_character(STANDARD_DIGIT[:17]) == "4"


def test_mask_id_number() -> None:
    assert mask_id_number(STANDARD_X) == "110105********002X"
    assert mask_id_number("１１０１０５１９４９１２３１００２ｘ") == "110105********002X"
    assert mask_id_number("110105491231002") == "110105*****1002"
    assert mask_id_number("12345") == "*****"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("李", "李"),
        ("艾力·买买提", "艾*·***"),
        ("Li Si", "L* S*"),
        ("John Smith", "J*** S****"),
        ("  Maria   Garcia ", "M**** G*****"),
        ("", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_find_id_numbers_in_text() -> None:
    text = (
        f"我叫张三，身份证号{STANDARD_X}，旧证110105491231002；"
        "另一个写成 440524 18800101 0014，还有全角１１０１０５１９４９１２３１００２ｘ。"
    )
    assert find_id_numbers(text) == [
        STANDARD_X,
        "110105491231002",
        "440524 18800101 0014",
        "１１０１０５１９４９１２３１００２ｘ",
    ]


def test_find_ignores_longer_digit_runs_and_short_numbers() -> None:
    text = "银行卡6222021234567890123，电话13800138000，订单12345678901234567890"
    assert find_id_numbers(text) == []


def test_find_catches_mistyped_numbers_too() -> None:
    # A wrong check digit is still someone's personal data.
    assert find_id_numbers("号码110105194912310021") == ["110105194912310021"]


def test_redact_id_numbers() -> None:
    text = f"ID {STANDARD_X} and 440524-18800101-0014 and 110105491231002."
    redacted = redact_id_numbers(text)
    assert redacted == "ID 110105********002X and 440524********0014 and 110105*****1002."
    assert STANDARD_X not in redacted
    assert find_id_numbers(redacted) == []


def test_redact_leaves_text_without_numbers_alone() -> None:
    assert redact_id_numbers("我的社保卡丢了怎么办？") == "我的社保卡丢了怎么办？"


# --- residence permits for Hong Kong, Macao and Taiwan residents, and the foreigner's card (2023) -----

# Made up for these tests and the sample registry; valid by the check-character rule.
FOREIGN_SAMPLE = "911840198506120015"  # 9, Beijing (11), USA (840), 1985-06-12, sequence 001
TAIWAN_SAMPLE = "830000199003150027"
HONG_KONG = "810000197807040031"
MACAO = "820000200109090046"


def _with_check(first17: str) -> str:
    return first17 + check_character(first17)


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        (STANDARD_X, IdKind.RESIDENT_ID),
        (STANDARD_DIGIT, IdKind.RESIDENT_ID),
        (HONG_KONG, IdKind.HMT_RESIDENCE_PERMIT),
        (MACAO, IdKind.HMT_RESIDENCE_PERMIT),
        (TAIWAN_SAMPLE, IdKind.HMT_RESIDENCE_PERMIT),
        (FOREIGN_SAMPLE, IdKind.FOREIGN_PERMANENT_RESIDENCE),
        # The examples printed by the sources (core/identity.py): Jiangsu/Saudi Arabia, Beijing/Kazakhstan.
        ("932682198501010017", IdKind.FOREIGN_PERMANENT_RESIDENCE),
        ("911398199012310021", IdKind.FOREIGN_PERMANENT_RESIDENCE),
    ],
)
def test_each_kind_of_number_is_accepted_and_named(number: str, kind: IdKind) -> None:
    assert validate_id_number(number) == IdCheck(ok=True, normalized=number, problem=None, kind=kind)
    assert validate_id_number(" ".join([number[:6], number[6:14], number[14:]])).kind is kind


def test_taiwan_residence_permit_prefix_83_is_a_province_code() -> None:
    assert "83" in PROVINCE_CODES
    assert PERMIT_ADDRESS_CODES == {"810000", "820000", "830000"}
    assert validate_id_number(_with_check("83000020000229001")).ok  # a leap day


@pytest.mark.parametrize("number", [FOREIGN_SAMPLE, TAIWAN_SAMPLE, HONG_KONG, MACAO])
def test_a_wrong_check_character_is_caught_for_every_kind(number: str) -> None:
    for wrong in "0123456789X":
        if wrong != number[-1]:
            assert validate_id_number(number[:17] + wrong).problem == "check_digit", wrong


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        # residence permits: the address code is exactly 810000, 820000 or 830000
        (_with_check("81010119780704003"), "region_code"),
        (_with_check("83000119900315002"), "region_code"),
        (_with_check("84000019900315002"), "region_code"),
        (_with_check("83000019900230002"), "birth_date"),
        (_with_check("81000017991231003"), "birth_date"),
        # foreigner's card: 9, a mainland province, a nationality
        (_with_check("99984019850612001"), "region_code"),
        (_with_check("91684019850612001"), "region_code"),
        (_with_check("97184019850612001"), "region_code"),  # Taiwan's 71 is not a place that issues it
        (_with_check("98184019850612001"), "region_code"),
        (_with_check("91100019850612001"), "nationality_code"),
        (_with_check("91199919850612001"), "nationality_code"),  # user-assigned range
        (_with_check("91115619850612001"), "nationality_code"),  # China itself
        (_with_check("91134419850612001"), "nationality_code"),  # Hong Kong: a residence permit instead
        (_with_check("91184019851312001"), "birth_date"),
        (_with_check("91184019850631001"), "birth_date"),
        (_with_check("91184017991231001"), "birth_date"),
        ("9118401985061200１Ｙ", "characters"),
        ("91184019850612001", "length"),
    ],
)
def test_permit_and_foreigner_numbers_report_their_problem(number: str, problem: str) -> None:
    assert validate_id_number(number) == IdCheck(ok=False, normalized=None, problem=problem)


def test_foreigner_birth_date_in_the_future_is_rejected() -> None:
    number = _with_check("91184020300101001")
    assert validate_id_number(number, today=date(2025, 1, 1)).problem == "birth_date"
    assert validate_id_number(number, today=date(2031, 1, 1)).ok


def test_old_15_character_foreigner_card_is_recognised_but_not_accepted() -> None:
    for typed in ("KAZ110090123105", "kaz110090123105", "KAZ 1100 901231 05", "ＫＡＺ１１００９０１２３１０５"):
        assert validate_id_number(typed) == IdCheck(ok=False, normalized=None, problem="old_foreign_card"), typed


def test_every_problem_has_a_phrase_in_both_languages(kb) -> None:
    assert set(PROBLEMS) == {
        "length",
        "characters",
        "region_code",
        "nationality_code",
        "birth_date",
        "check_digit",
        "old_foreign_card",
    }
    for problem in PROBLEMS:
        phrase = kb.service["phrases"][f"id_problem_{problem}"]
        assert phrase["zh"].strip() and phrase["en"].strip()


def test_masks_never_show_the_birth_date() -> None:
    assert mask_id_number(TAIWAN_SAMPLE) == "830000********0027"
    assert mask_id_number(HONG_KONG) == "810000********0031"
    # The foreigner's card keeps 9 and the province; the nationality is hidden too.
    assert mask_id_number(FOREIGN_SAMPLE) == "911***********0015"
    assert mask_id_number("911840 19850612 0015") == "911***********0015"
    # The old foreigner's card: its last 4 would include the day of birth.
    assert mask_id_number("KAZ110090123105") == "*************05"
    for number in (TAIWAN_SAMPLE, HONG_KONG, FOREIGN_SAMPLE):
        masked = mask_id_number(number)
        assert len(masked) == 18 and number[6:14] not in masked and number[7:13] not in masked


def test_find_and_redact_the_new_shapes_in_free_text() -> None:
    text = (
        f"My permanent residence ID is {FOREIGN_SAMPLE}, my wife's Taiwan permit 830000-19900315-0027, "
        f"旧永居证KAZ110090123105，港澳居民居住证{HONG_KONG}，还有全角８２００００２００１０９０９００４６。"
    )
    assert find_id_numbers(text) == [
        FOREIGN_SAMPLE,
        "830000-19900315-0027",
        "KAZ110090123105",
        HONG_KONG,
        "８２００００２００１０９０９００４６",
    ]
    redacted = redact_id_numbers(text)
    assert redacted == (
        "My permanent residence ID is 911***********0015, my wife's Taiwan permit 830000********0027, "
        "旧永居证*************05，港澳居民居住证810000********0031，还有全角820000********0046。"
    )
    assert find_id_numbers(redacted) == []
    for raw in (FOREIGN_SAMPLE, TAIWAN_SAMPLE, HONG_KONG, MACAO, "KAZ110090123105", "19850612", "19900315"):
        assert raw not in redacted


def test_mistyped_foreigner_numbers_are_still_masked() -> None:
    # Wrong check character, unknown nationality: still personal data.
    assert redact_id_numbers("号码911840198506120016") == "号码911***********0016"
    assert redact_id_numbers("号码911999198506120015") == "号码911***********0015"


def test_letters_and_digits_inside_longer_tokens_are_left_alone() -> None:
    # A hex digest or an order code must not be mangled by the old-card pattern.
    digest = "abc123456789012" + "0" * 49
    text = f"{digest} ORDERKAZ110090123105 KAZ1100901231050 AB110090123105"
    assert find_id_numbers(text) == []


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("SMITH JOHN", "S**** J***"),
        ("SMITH, JOHN", "S****, J***"),
        ("GARCÍA LÓPEZ MARÍA JOSÉ", "G***** L**** M**** J***"),
        ("O'BRIEN SEAN", "O'B**** S***"),
    ],
)
def test_latin_names_as_on_a_passport_are_masked_per_word(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("SMITH JOHN", "SMITH JOHN"),
        ("my name is SMITH JOHN.", "SMITH JOHN"),
        ("Name: SMITH, JOHN", "SMITH, JOHN"),
        ("NAMEKAWA TARO", "NAMEKAWA TARO"),  # a surname that begins with "name"
        ("Isabel Ruiz", "Isabel Ruiz"),
    ],
)
def test_extract_name_keeps_latin_names_whole(typed: str, name: str) -> None:
    assert extract_name(typed) == name


def test_extract_id_number_finds_the_new_kinds() -> None:
    assert extract_id_number(f"我的外国人永久居留身份证号码是{FOREIGN_SAMPLE}") == FOREIGN_SAMPLE
    assert extract_id_number(f"台湾居民居住证：{TAIWAN_SAMPLE}。") == TAIWAN_SAMPLE
