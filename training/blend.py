"""Blend stage: an explicit logistic stack of the model's logit and the innovation points.

Banks are told to use the points as an independent basis for judgement and as a supplement
to their own models, so the blend is kept readable: three coefficients, fitted on the
out-of-fold predictions of the training window (never on in-sample predictions, where the
model's logit is over-confident)::

    PD_blend = sigmoid(intercept + w_model · logit(p_model) + w_points · points)

``p_model`` is the raw LightGBM probability, ``points`` the innovation points (missing
points are filled with the validation median, stored). A points-only logistic is fitted on
the same rows so that the three models can be compared side by side.

The points are designed so that more points mean a sounder firm, so ``w_points`` may not be
positive: a credit officer must never read "more points raised the PD". When the free fit
gives a positive weight (the model's logit already carries the same information, or
overstates it), the weight is set to zero, the stack refitted on the logit alone, and the
bundle records that the constraint was binding.
"""

from typing import Any, Self

import numpy as np
from sklearn.linear_model import LogisticRegression

from training.calibrate import logit, sigmoid
from training.errors import BundleIntegrityError

FORMAT = "jifen-blend/1"


def _fit(columns: list[np.ndarray], y: np.ndarray) -> tuple[float, list[float]]:
    """Unpenalised logistic fit on standardised columns; coefficients in raw units."""
    matrix = np.column_stack(columns)
    center, scale = matrix.mean(axis=0), matrix.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = LogisticRegression(C=np.inf).fit((matrix - center) / scale, y)
    coefs = model.coef_[0] / scale
    intercept = float(model.intercept_[0] - np.dot(coefs, center))
    return intercept, [float(c) for c in coefs]


class PointsBlend:
    """Logistic stack of the model logit and the innovation points.

    Args:
        points_column: name of the points column (for messages and the bundle).
        pd_floor: smallest PD returned.
        pd_cap: largest PD returned.

    """

    def __init__(self, points_column: str, pd_floor: float = 0.0003, pd_cap: float = 0.9999):
        self.points_column = points_column
        self.pd_floor = pd_floor
        self.pd_cap = pd_cap

    def _points(self, points: np.ndarray) -> np.ndarray:
        values = np.asarray(points, dtype=np.float64)
        return np.where(np.isnan(values), self.points_fill_, values)

    def fit(self, p_model: np.ndarray, points: np.ndarray, y: np.ndarray) -> Self:
        """Fit the blend and the points-only model on out-of-fold predictions."""
        values = np.asarray(points, dtype=np.float64)
        self.points_fill_ = float(np.nanmedian(values)) if not np.isnan(values).all() else 0.0
        filled = self._points(values)
        self.intercept_, (self.w_model_, self.w_points_) = _fit([logit(p_model), filled], y)
        self.unconstrained_w_points_ = self.w_points_
        self.points_constrained_ = self.w_points_ > 0
        if self.points_constrained_:
            self.intercept_, (self.w_model_,) = _fit([logit(p_model)], y)
            self.w_points_ = 0.0
        self.points_only_intercept_, (self.points_only_w_,) = _fit([filled], y)
        spread = float(np.std(filled)) or 1.0
        self.w_points_per_sd_ = self.w_points_ * spread
        self.w_model_per_sd_ = self.w_model_ * float(np.std(logit(p_model)) or 1.0)
        return self

    def predict(
        self, p_model: np.ndarray, points: np.ndarray, *, margin: np.ndarray | None = None
    ) -> np.ndarray:
        """Return the blended PD (``margin``: ``logit(p_model)``, when the caller has it)."""
        m = logit(p_model) if margin is None else margin
        z = self.intercept_ + self.w_model_ * m + self.w_points_ * self._points(points)
        return np.asarray(np.clip(sigmoid(z), self.pd_floor, self.pd_cap), dtype=np.float64)

    def predict_points_only(self, points: np.ndarray) -> np.ndarray:
        """Return the PD from the innovation points alone."""
        z = self.points_only_intercept_ + self.points_only_w_ * self._points(points)
        return np.asarray(np.clip(sigmoid(z), self.pd_floor, self.pd_cap), dtype=np.float64)

    def describe(self) -> str:
        """One line with the coefficients, for the console and the run's notes."""
        text = (
            f"PD_blend = sigmoid({self.intercept_:+.4f} {self.w_model_:+.4f}·logit(p_model) "
            f"{self.w_points_:+.5f}·{self.points_column}); per s.d.: model "
            f"{self.w_model_per_sd_:+.3f}, points {self.w_points_per_sd_:+.3f}"
        )
        if self.points_constrained_:
            text += (
                f" (free fit gave points {self.unconstrained_w_points_:+.5f} > 0, against their "
                "declared direction: weight held at 0)"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the bundle's ``blend.json``)."""
        return {
            "format": FORMAT,
            "points_column": self.points_column,
            "formula": (
                "pd = clip(sigmoid(intercept + w_model*logit(p_model) + w_points*points), "
                "pd_floor, pd_cap); missing points = points_fill"
            ),
            "intercept": self.intercept_,
            "w_model": self.w_model_,
            "w_points": self.w_points_,
            "w_model_per_sd": self.w_model_per_sd_,
            "w_points_per_sd": self.w_points_per_sd_,
            "points_fill": self.points_fill_,
            "points_constrained": self.points_constrained_,
            "unconstrained_w_points": self.unconstrained_w_points_,
            "points_only": {
                "intercept": self.points_only_intercept_,
                "w_points": self.points_only_w_,
            },
            "pd_floor": self.pd_floor,
            "pd_cap": self.pd_cap,
            "fitted_on": "out-of-fold predictions of the training window",
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "PointsBlend":
        """Rebuild from ``to_dict`` output.

        Raises:
            BundleIntegrityError: the mapping is not a blend of this format.

        """
        if raw.get("format") != FORMAT:
            raise BundleIntegrityError(
                f"blend format must be {FORMAT!r}; got {raw.get('format')!r}"
            )
        blend = cls(str(raw["points_column"]), float(raw["pd_floor"]), float(raw["pd_cap"]))
        blend.intercept_ = float(raw["intercept"])
        blend.w_model_ = float(raw["w_model"])
        blend.w_points_ = float(raw["w_points"])
        blend.w_model_per_sd_ = float(raw["w_model_per_sd"])
        blend.w_points_per_sd_ = float(raw["w_points_per_sd"])
        blend.points_fill_ = float(raw["points_fill"])
        blend.points_constrained_ = bool(raw.get("points_constrained", False))
        blend.unconstrained_w_points_ = float(raw.get("unconstrained_w_points", blend.w_points_))
        blend.points_only_intercept_ = float(raw["points_only"]["intercept"])
        blend.points_only_w_ = float(raw["points_only"]["w_points"])
        return blend
