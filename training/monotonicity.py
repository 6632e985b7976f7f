"""Monotonicity check: verify that a fitted model honours its declared constraints.

LightGBM's constraint methods are known to leak in corner cases (and a model trained without
the constraint honours nothing), so after training we verify on data: for each constrained
feature, take sample rows, sweep the feature over a grid of its observed quantiles with the
other columns held fixed, and require the raw score to move only in the declared direction.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Violation:
    """One constrained feature that moved the score the wrong way on some rows."""

    feature: str
    direction: int
    rows_checked: int
    rows_violating: int
    max_violation: float
    """Largest step against the declared direction, in raw-score (logit) units."""
    example_row: int
    example_from: float
    example_to: float


@dataclass(frozen=True)
class MonotonicityReport:
    """Result of the check over every constrained feature."""

    checked: list[str]
    grid_size: int
    rows: int
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no constrained feature was violated on any row."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for metrics and the bundle."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "grid_size": self.grid_size,
            "rows": self.rows,
            "violations": [asdict(v) for v in self.violations],
        }


def _grid(values: np.ndarray, size: int) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.array([], dtype=np.float32)
    unique = np.unique(finite)
    if unique.size > size:
        unique = np.unique(np.quantile(unique, np.linspace(0.0, 1.0, size)))
    return unique.astype(np.float32)


def check_monotonicity(
    predict_raw: Predict,
    x: np.ndarray,
    feature_names: list[str],
    monotone: list[int],
    *,
    n_rows: int = 200,
    grid_size: int = 50,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> MonotonicityReport:
    """Sweep each constrained feature over a grid on sample rows and report violations.

    Args:
        predict_raw: maps a float32 matrix to raw scores (higher means riskier).
        x: encoded rows to sample from (e.g. the train matrix).
        feature_names: column names of ``X``.
        monotone: +1, -1 or 0 per column.
        n_rows: sample rows swept per feature.
        grid_size: most grid points per feature (its observed quantiles).
        seed: seed of the row sample.
        tolerance: score steps smaller than this are not violations (float noise).

    """
    rng = np.random.default_rng(seed)
    rows = x[rng.choice(len(x), size=min(n_rows, len(x)), replace=False)]
    checked: list[str] = []
    violations: list[Violation] = []
    for j, direction in enumerate(monotone):
        grid = _grid(x[:, j], grid_size)
        if direction == 0 or grid.size < 2:
            continue
        checked.append(feature_names[j])
        sweep = np.repeat(rows, grid.size, axis=0).astype(np.float32)
        sweep[:, j] = np.tile(grid, len(rows))
        scores = np.asarray(predict_raw(sweep), dtype=np.float64).reshape(len(rows), grid.size)
        steps = np.diff(scores, axis=1) * direction
        bad = steps < -tolerance
        if bad.any():
            r, k = np.unravel_index(np.argmin(steps), steps.shape)
            violations.append(
                Violation(
                    feature=feature_names[j],
                    direction=direction,
                    rows_checked=len(rows),
                    rows_violating=int(bad.any(axis=1).sum()),
                    max_violation=float(-steps.min()),
                    example_row=int(r),
                    example_from=float(grid[k]),
                    example_to=float(grid[k + 1]),
                )
            )
    return MonotonicityReport(checked, grid_size, len(rows), violations)


def check_booster(
    booster: lgb.Booster, x: np.ndarray, feature_names: list[str], monotone: list[int]
) -> MonotonicityReport:
    """Run ``check_monotonicity`` on a LightGBM booster's raw scores."""

    def predict_raw(matrix: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(matrix, raw_score=True))

    return check_monotonicity(predict_raw, x, feature_names, monotone)
