"""Monotonicity check: it catches a model that breaks a constraint and passes one that keeps it."""

import lightgbm as lgb
import numpy as np

from training.monotonicity import check_booster


def _u_shaped(n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Risk falls then rises with x0 (a U), and rises with x1."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    logit = 1.5 * x[:, 0] ** 2 + 0.8 * x[:, 1] - 2.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def _fit(x: np.ndarray, y: np.ndarray, **params: object) -> lgb.Booster:
    base = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1}
    return lgb.train({**base, **params}, lgb.Dataset(x, y), num_boost_round=60)


def test_check_reports_violation_when_model_ignores_constraint() -> None:
    """A model fitted without the constraint learns the U; declaring x0 increasing flags it."""
    x, y = _u_shaped()
    report = check_booster(_fit(x, y), x, ["x0", "x1"], [1, 0])
    assert not report.ok
    (violation,) = report.violations
    assert violation.feature == "x0"
    assert violation.rows_violating > 0.5 * violation.rows_checked
    assert violation.max_violation > 0.1


def test_check_passes_model_fitted_with_the_constraint() -> None:
    """The same data fitted with the constraint (basic method) passes on every row."""
    x, y = _u_shaped()
    booster = _fit(x, y, monotone_constraints=[1, 1], monotone_constraints_method="basic")
    report = check_booster(booster, x, ["x0", "x1"], [1, 1])
    assert report.ok
    assert report.checked == ["x0", "x1"]


def test_check_flags_decreasing_constraint_when_score_rises() -> None:
    """Direction matters: x1 raises risk, so declaring it decreasing is a violation."""
    x, y = _u_shaped()
    booster = _fit(x, y, monotone_constraints=[0, 1], monotone_constraints_method="basic")
    report = check_booster(booster, x, ["x0", "x1"], [0, -1])
    assert [v.feature for v in report.violations] == ["x1"]
