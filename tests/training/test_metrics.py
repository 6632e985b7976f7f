"""Validation statistics pinned against hand computations, and the master scale's bounds."""

import math

import numpy as np
import pytest

from training.grades import load_master_scale
from training.metrics import (
    binomial_pvalue,
    calibration_by_grade,
    jeffreys,
    ks_statistic,
    psi_numeric,
)


def _beta_cdf_by_simpson(x: float, a: float, b: float, steps: int = 20_000) -> float:
    """Integrate the Beta(a, b) density from 0 to x with Simpson's rule (no scipy)."""
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def density(t: float) -> float:
        if t <= 0:
            return 0.0
        return math.exp((a - 1) * math.log(t) + (b - 1) * math.log1p(-t) - log_beta)

    h = x / steps
    total = density(0) + density(x)
    total += sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    return total * h / 3


def test_jeffreys_pvalue_matches_hand_computed_beta_integral() -> None:
    """100 loans, 5 defaults, PD 2 %: p = ∫₀^0.02 Beta(5.5, 95.5) = 0.028614 (by hand)."""
    result = jeffreys(n=100, defaults=5, pd_=0.02)
    assert result["p_value"] == pytest.approx(_beta_cdf_by_simpson(0.02, 5.5, 95.5), rel=1e-9)
    assert result["p_value"] == pytest.approx(0.0286140335, abs=1e-9)
    assert (result["low"], result["high"]) == pytest.approx((0.0193318, 0.1061001), abs=1e-6)


def test_binomial_pvalue_matches_hand_computed_tail() -> None:
    """P(X ≥ 5) for X ~ Bin(100, 0.02) = 1 − Σ_{k<5} C(100,k)·0.02^k·0.98^(100−k)."""
    by_hand = 1 - sum(math.comb(100, k) * 0.02**k * 0.98 ** (100 - k) for k in range(5))
    assert binomial_pvalue(100, 5, 0.02) == pytest.approx(by_hand, rel=1e-12)


def test_ks_is_one_for_perfect_separation_and_psi_zero_for_same_sample() -> None:
    """KS of a perfect ranking is 1; PSI of a sample against itself is 0."""
    y = np.array([0, 0, 0, 1, 1])
    assert ks_statistic(y, np.array([0.1, 0.2, 0.3, 0.8, 0.9])) == pytest.approx(1.0)
    sample = np.random.default_rng(0).normal(size=500)
    assert psi_numeric(sample, sample) == pytest.approx(0.0, abs=1e-12)
    assert psi_numeric(sample, sample + 1.0) > 0.25


def test_master_scale_puts_each_bound_in_the_lower_grade() -> None:
    """Grade i holds PDs in (upper_{i-1}, upper_i]: a PD equal to a bound stays below it."""
    scale = load_master_scale()
    assert len(scale.grades) == 10
    grades = scale.grade_of(np.array([0.0003, 0.0025, 0.00250001, 0.5, 1.0]))
    assert grades.tolist() == ["1", "1", "2", "10", "10"]


def test_calibration_by_grade_rejects_grade_whose_pd_is_far_too_low() -> None:
    """A grade with mean PD 0.4 % but 10 % observed defaults is rejected by both tests."""
    scale = load_master_scale()
    pd_ = np.full(200, 0.004)
    y = np.zeros(200, dtype=int)
    y[:20] = 1
    (row,) = [r for r in calibration_by_grade(y, pd_, scale) if r["n"]]
    assert row["grade"] == "2"
    assert row["rejected"] and row["jeffreys_p"] < 1e-6 and row["binomial_p"] < 1e-6
