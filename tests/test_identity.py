"""Tests for core.identity: validation, masking and redaction of identity numbers."""

from __future__ import annotations

from datetime import date

import pytest

from core.identity import (
    IdCheck,
    check_character,
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
