"""Unified social credit codes (统一社会信用代码), GB 32100-2015.

An 18-character code: registration authority (1), entity type (1), administrative
division (6), organisation code (9, itself carrying a GB 11714 check character) and a
final check character computed modulo 31 over the first 17 characters.
"""

import re
from typing import Final

import numpy as np

from jifen.errors import CreditCodeError

ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters allowed (I, O, S, V and Z are excluded to avoid confusion)."""
_VALUE: Final = {ch: i for i, ch in enumerate(ALPHABET)}
_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
_PATTERN: Final = re.compile(rf"^[{ALPHABET}]{{18}}$")
_REGISTRATION_AUTHORITIES: Final = frozenset("123456789ANY")
CODE_LENGTH: Final = 18


def check_character(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters."""
    if len(first17) != 17 or any(ch not in _VALUE for ch in first17):
        raise CreditCodeError(
            f"credit_code prefix {first17!r} must be 17 characters from {ALPHABET}"
        )
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def org_check_character(first8: str) -> str:
    """Return the GB 11714 check character of a 9-character organisation code."""
    total = sum(int(ch, 36) * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    value = (11 - total % 11) % 11
    return "X" if value == 10 else str(value)


def credit_code_problem(code: object) -> str | None:
    """Return why ``code`` is not a valid credit code, or None when it is valid.

    The reason names the rule broken so it can go straight into a quarantine file.
    """
    if not isinstance(code, str):
        return f"must be a string; got {type(code).__name__}"
    if len(code) != CODE_LENGTH:
        return f"must have 18 characters; got {len(code)}"
    if not _PATTERN.match(code):
        bad = sorted({ch for ch in code if ch not in _VALUE})
        return f"may only use {ALPHABET}; found {''.join(bad)!r}"
    if code[0] not in _REGISTRATION_AUTHORITIES:
        return f"registration authority code {code[0]!r} is not one of 1-9, A, N, Y"
    if not code[2:8].isdigit():
        return f"administrative division {code[2:8]!r} must be 6 digits"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}; expected {expected!r} (GB 32100-2015)"
    return None


def validate_credit_code(code: object) -> str:
    """Return ``code`` unchanged if valid, else raise CreditCodeError naming the rule."""
    problem = credit_code_problem(code)
    if problem is not None:
        raise CreditCodeError(f"credit_code {mask_credit_code(code)!r} {problem}")
    assert isinstance(code, str)  # narrowed by credit_code_problem
    return code


def mask_credit_code(code: object) -> str:
    """Return a code safe for logs: first 6 and last 2 characters kept."""
    text = str(code)
    if len(text) <= 8:
        return "*" * len(text)
    return f"{text[:6]}{'*' * (len(text) - 8)}{text[-2:]}"


def make_credit_code(division: str, org_stem: str, authority: str = "9", kind: str = "1") -> str:
    """Build a valid code for an enterprise from its division and 8-character org stem."""
    org = org_stem + org_check_character(org_stem)
    first17 = f"{authority}{kind}{division}{org}"
    return first17 + check_character(first17)


def generate_credit_codes(rng: np.random.Generator, divisions: list[str], n: int) -> list[str]:
    """Generate ``n`` distinct, valid enterprise codes spread over ``divisions``."""
    digits = "0123456789"
    stem_alphabet = np.array(list(digits + "ABCDEFGHJKLMNPQRTUWXY"))
    codes: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        need = n - len(out)
        div_idx = rng.integers(0, len(divisions), size=need)
        stems = stem_alphabet[rng.integers(0, len(stem_alphabet), size=(need, 8))]
        for d, stem in zip(div_idx, stems, strict=True):
            code = make_credit_code(divisions[d], "".join(stem))
            if code not in codes:
                codes.add(code)
                out.append(code)
    return out
