"""Unified social credit codes: the GB 32100-2015 check character, by example and by property."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.credit_code import (
    ALPHABET,
    check_character,
    credit_code_problem,
    generate_credit_codes,
    mask_credit_code,
    validate_credit_code,
)
from jifen.errors import CreditCodeError, DataContractError

# Published codes of well-known firms and the example printed in the standard itself.
KNOWN_GOOD = [
    "91350100M000100Y43",  # GB 32100-2015 worked example
    "914403001922038216",  # Huawei Technologies Co., Ltd.
    "91330100716105852F",  # Alibaba (China) Co., Ltd.
    "9144030071526726XG",  # Tencent (Shenzhen)
    "91110108551385082Q",  # Beijing Xiaomi Technology
]

valid_codes = st.builds(
    lambda seed: generate_credit_codes(np.random.default_rng(seed), ["110108", "440305"], 1)[0],
    st.integers(min_value=0, max_value=2**32 - 1),
)


@pytest.mark.parametrize("code", KNOWN_GOOD)
def test_known_good_codes_pass(code: str) -> None:
    """Real, published codes are accepted unchanged."""
    assert credit_code_problem(code) is None
    assert validate_credit_code(code) == code


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91350100M000100Y44", "check character is '4'; expected '3'"),
        ("91350100M000100Y4", "must have 18 characters; got 17"),
        ("91350100M000100I43", "may only use"),
        ("Z1350100M000100Y43", "may only use"),
        ("B1350100M000100Y43", "registration authority code 'B'"),
        ("9135A100M000100Y43", "administrative division '35A100' must be 6 digits"),
    ],
)
def test_bad_codes_name_the_rule_broken(code: str, message: str) -> None:
    """Each malformed code is refused with the rule it broke."""
    problem = credit_code_problem(code)
    assert problem is not None and message in problem
    with pytest.raises(CreditCodeError, match="credit_code"):
        validate_credit_code(code)


def test_credit_code_error_is_a_data_contract_error() -> None:
    """Callers catching DataContractError or ValueError also catch bad codes."""
    with pytest.raises(DataContractError):
        validate_credit_code(123)
    with pytest.raises(ValueError, match="must be a string"):
        validate_credit_code(123)


@given(valid_codes)
def test_generated_codes_are_valid(code: str) -> None:
    """The generator only produces codes that pass validation."""
    assert credit_code_problem(code) is None


@given(valid_codes, st.integers(0, 16), st.sampled_from(ALPHABET))
def test_any_single_substitution_is_detected(code: str, position: int, char: str) -> None:
    """Changing one of the first 17 characters always breaks the check (31 is prime)."""
    if code[position] == char:
        return
    corrupted = code[:position] + char + code[position + 1 :]
    if position in (2, 3, 4, 5, 6, 7) and not char.isdigit():
        assert credit_code_problem(corrupted) is not None
        return
    if position == 0 and char not in "123456789ANY":
        assert credit_code_problem(corrupted) is not None
        return
    assert "check character" in (credit_code_problem(corrupted) or "")


@given(valid_codes, st.integers(0, 15))
def test_adjacent_transposition_is_detected(code: str, position: int) -> None:
    """Swapping two different neighbouring characters breaks the check (weights differ)."""
    a, b = code[position], code[position + 1]
    if a == b:
        return
    swapped = code[:position] + b + a + code[position + 2 :]
    assert credit_code_problem(swapped) is not None


@given(valid_codes)
def test_check_character_recomputes_the_last_character(code: str) -> None:
    """The check character of a valid code is its last character."""
    assert check_character(code[:17]) == code[17]


def test_mask_keeps_only_prefix_and_suffix() -> None:
    """Logs see the division and the last two characters, never the whole code."""
    masked = mask_credit_code("914403001922038216")
    assert masked == "914403**********16"
    assert "1922038" not in masked
