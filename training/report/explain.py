"""Global explanations for the validation report: exact TreeSHAP on the score's logit.

LightGBM's ``pred_contrib=True`` returns TreeSHAP values (exact for trees) of the model's
margin ``m = φ₀ + Σ φᵢ``. The final PD is a logistic function of an affine map of ``m``
(the points blend ``a + b·m + c·points``, or Platt ``a + b·m``), so each feature's
contribution to the score's logit is ``b·φᵢ`` and the innovation points add their own
line ``c·(points − p̄)`` — the same split serving writes into every decision's
explanation. Global importance is the mean absolute contribution over the rows explained.
"""

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.blend import PointsBlend
from training.calibrate import Calibrator

POINTS_LINE = "innovation points (blend)"


@dataclass(frozen=True)
class LinkWeights:
    """How the tree margin and the points enter the score's logit."""

    w_model: float
    w_points: float
    points_fill: float
    scale: str

    @classmethod
    def of(cls, calibrator: Calibrator, blend: PointsBlend | None) -> "LinkWeights":
        """Blend weights if the model blends, else Platt's slope, else the raw margin."""
        if blend is not None:
            return cls(blend.w_model_, blend.w_points_, blend.points_fill_, "blended logit")
        if calibrator.method == "platt":
            return cls(calibrator.slope_, 0.0, 0.0, "calibrated logit")
        return cls(1.0, 0.0, 0.0, "model margin")


@dataclass(frozen=True)
class ShapSummary:
    """Contributions of the rows explained and their global importance."""

    features: list[str]
    contributions: np.ndarray
    """Rows × features, on the score's logit."""
    raw: pd.DataFrame
    """The explained rows' raw input values, for dependence plots."""
    importance: dict[str, float]
    """Mean |contribution| per feature (and the points line), largest first."""
    base_value: float
    scale: str
    rows: int


def tree_shap(booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """Exact TreeSHAP of the margin: rows × (features + 1), the last column is φ₀."""
    return np.asarray(
        booster.predict(matrix.astype(np.float32), pred_contrib=True, num_threads=1),
        dtype=np.float64,
    )


def summarise(
    booster: lgb.Booster,
    matrix: np.ndarray,
    raw: pd.DataFrame,
    features: list[str],
    link: LinkWeights,
    points: np.ndarray | None,
    *,
    rows: int,
    seed: int = 0,
) -> ShapSummary:
    """Explain up to ``rows`` sampled rows and rank features by mean |contribution|.

    Args:
        booster: the fitted LightGBM model.
        matrix: encoded rows (as the booster reads them).
        raw: the same rows' raw values (same order as ``matrix``).
        features: column names of ``matrix``.
        link: how the margin and the points map onto the score's logit.
        points: the rows' innovation points (NaN where missing), or None without a blend.
        rows: most rows explained (a seeded sample above that).
        seed: seed of the sample.

    """
    n = len(matrix)
    chosen = np.arange(n)
    if n > rows:
        chosen = np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))
    phi = tree_shap(booster, matrix[chosen])
    contributions = link.w_model * phi[:, :-1]
    importance = {f: float(np.mean(np.abs(contributions[:, j]))) for j, f in enumerate(features)}
    if points is not None and link.w_points != 0.0:
        used = np.where(np.isnan(points[chosen]), link.points_fill, points[chosen])
        importance[POINTS_LINE] = float(np.mean(np.abs(link.w_points * (used - link.points_fill))))
    ranked = dict(sorted(importance.items(), key=lambda kv: (-kv[1], kv[0])))
    return ShapSummary(
        features=features,
        contributions=contributions,
        raw=raw.iloc[chosen].reset_index(drop=True),
        importance=ranked,
        base_value=float(np.mean(link.w_model * phi[:, -1])),
        scale=link.scale,
        rows=len(chosen),
    )
