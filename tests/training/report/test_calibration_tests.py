"""The per-grade tests the report prints, pinned against a hand-computed example.

A grade of 200 loans with 9 defaults, tested at PD = 2.5 % (5 defaults expected):

- Binomial, one-sided: P(X ≥ 9) for X ~ Bin(200, 0.025)
  = 1 − Σ_{k=0}^{8} C(200, k) · 0.025^k · 0.975^(200−k) = 0.0656187 → not rejected at 5 %.
- Jeffreys: posterior Beta(9 + ½, 200 − 9 + ½) = Beta(9.5, 191.5), mean 9.5 / 201 = 4.73 %;
  p = ∫₀^0.025 Beta(9.5, 191.5) density = 0.0448810 → rejected at 5 %;
  95 % interval = [Beta⁻¹(0.025), Beta⁻¹(0.975)] = [2.2496 %, 8.0509 %]. It still holds
  2.5 %: the one-sided test spends all 5 % on one tail, the interval 2.5 % on each.

The exact binomial test is the more conservative of the two: the same grade passes one
and fails the other, which is why the report shows both.
"""

import math

import numpy as np
import pytest
from scipy import stats

from training.grades import load_master_scale
from training.metrics import binomial_pvalue, calibration_by_grade, jeffreys

N, D, PD = 200, 9, 0.025


def _beta_cdf_by_simpson(x: float, a: float, b: float, steps: int = 20_000) -> float:
    """∫₀^x t^(a−1) (1−t)^(b−1) / B(a, b) dt by Simpson's rule, B from log-gamma."""
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def density(t: float) -> float:
        return (
            0.0 if t <= 0 else math.exp((a - 1) * math.log(t) + (b - 1) * math.log1p(-t) - log_beta)
        )

    h = x / steps
    inner = sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    return (density(0.0) + inner + density(x)) * h / 3


def test_binomial_pvalue_of_9_defaults_in_200_at_2_5_percent_is_the_hand_sum() -> None:
    """P(X ≥ 9) = 1 − Σ_{k<9} C(200,k)·0.025^k·0.975^(200−k) = 0.0656187."""
    by_hand = 1 - sum(math.comb(N, k) * PD**k * (1 - PD) ** (N - k) for k in range(D))
    assert binomial_pvalue(N, D, PD) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.0656187476, abs=1e-9)


def test_jeffreys_pvalue_and_interval_of_9_in_200_match_beta_9_5_191_5() -> None:
    """p = CDF of Beta(9.5, 191.5) at 0.025 = 0.0448810; interval [2.2496 %, 8.0509 %]."""
    result = jeffreys(n=N, defaults=D, pd_=PD)
    posterior = stats.beta(9.5, 191.5)
    assert result["p_value"] == pytest.approx(posterior.cdf(0.025), rel=1e-12)
    assert result["p_value"] == pytest.approx(_beta_cdf_by_simpson(0.025, 9.5, 191.5), rel=1e-8)
    assert result["p_value"] == pytest.approx(0.0448810417, abs=1e-9)
    assert (result["low"], result["high"]) == pytest.approx((0.0224960, 0.0805089), abs=1e-6)
    assert posterior.mean() == pytest.approx(9.5 / 201)


def test_grade_with_9_defaults_in_200_is_rejected_by_jeffreys_not_by_binomial() -> None:
    """In grade 5 (2 %, 3.5 %] the grade is rejected at 5 % because Jeffreys' p < 0.05."""
    y = np.zeros(N, dtype=int)
    y[:D] = 1
    (row,) = [r for r in calibration_by_grade(y, np.full(N, PD), load_master_scale()) if r["n"]]
    assert row["grade"] == "5" and row["defaults"] == D and row["default_rate"] == 0.045
    assert row["binomial_p"] > 0.05 > row["jeffreys_p"]
    assert row["rejected"]
