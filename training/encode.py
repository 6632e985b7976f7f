"""Encoding stage: turn a frame into the float32 matrix both LightGBM and ONNX read.

Categorical features become smoothed weights of evidence (log-odds of default of the
category against the prior, shrunk towards 0 by ``smoothing`` pseudo-rows), fitted on the
train split only. LightGBM's native categorical splits do not convert to ONNX; a numeric
WoE does, exactly. Train rows get out-of-fold values so that no row sees its own label.
Unseen categories map to 0 (the prior); a missing category is a category of its own.

Numeric features are cast to float32, so that LightGBM's split thresholds fall between
float32 values and the ONNX tree ensemble, which compares in float32, takes the same
branches. A numeric column with no missing value in train has its missing values filled
with the train median at transform time: LightGBM would otherwise read NaN as 0 for it and
ONNX would not. The encoder is saved as JSON in the bundle and applied identically by
serving.
"""

from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from training.errors import BundleIntegrityError

MISSING = "__missing__"
FORMAT = "jifen-encoder/1"


def _woe_table(values: pd.Series, y: np.ndarray, smoothing: float) -> dict[str, float]:
    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    prior_logit = np.log(prior / (1 - prior))
    stats = pd.DataFrame({"c": values.to_numpy(), "y": y}).groupby("c")["y"].agg(["sum", "count"])
    rate = (stats["sum"] + smoothing * prior) / (stats["count"] + smoothing)
    rate = rate.clip(1e-6, 1 - 1e-6)
    woe = np.log(rate / (1 - rate)) - prior_logit
    return {str(k): float(np.float32(v)) for k, v in woe.items()}


def _as_category(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna(MISSING).astype(str)


def woe_column(
    categories: np.ndarray, y: np.ndarray, fit_rows: np.ndarray, smoothing: float
) -> np.ndarray:
    """Encode a categorical column with the smoothed WoE table fitted on ``fit_rows`` only.

    The values the fitted encoder gives at serving when ``fit_rows`` is every row; inside a
    cross-validation fold, the scored rows' labels never enter their own encoding.
    """
    values = pd.Series(categories, dtype="string")
    table = _woe_table(values.iloc[fit_rows].astype(str), y[fit_rows], smoothing)
    return values.astype(str).map(table).fillna(0.0).to_numpy(dtype=np.float32)


class FeatureEncoder:
    """Smoothed-WoE categorical encoding plus float32 numerics, in a fixed column order.

    Args:
        categorical: categorical feature names, encoded first.
        numeric: numeric feature names, after the categorical ones.
        smoothing: pseudo-rows at the prior rate added to every category.
        folds: folds of the out-of-fold encoding of the train rows.
        seed: seed of the fold assignment.

    """

    def __init__(
        self,
        categorical: list[str],
        numeric: list[str],
        smoothing: float = 20.0,
        folds: int = 5,
        seed: int = 0,
    ) -> None:
        self.categorical = categorical
        self.numeric = numeric
        self.smoothing = smoothing
        self.folds = folds
        self.seed = seed

    @property
    def feature_names(self) -> list[str]:
        """Columns of the encoded matrix, in order."""
        return [*self.categorical, *self.numeric]

    def categories(self, frame: pd.DataFrame) -> list[np.ndarray]:
        """Return the categorical columns as text (missing as ``MISSING``), in encoded order."""
        return [_as_category(frame[c]).to_numpy(dtype=object) for c in self.categorical]

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> Self:
        """Learn the WoE tables and numeric fill values from the train split."""
        self.woe_: dict[str, dict[str, float]] = {
            c: _woe_table(_as_category(frame[c]), y, self.smoothing) for c in self.categorical
        }
        self.fill_: dict[str, float | None] = {}
        for column in self.numeric:
            values = self._numeric(frame, column)
            has_missing = bool(np.isnan(values).any())
            median = float(np.nanmedian(values)) if not np.isnan(values).all() else 0.0
            self.fill_[column] = None if has_missing else float(np.float32(median))
        return self

    def fit_transform(self, frame: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        """Fit on the train split and return its matrix with out-of-fold WoE values."""
        self.fit(frame, y)
        matrix = self.transform(frame)
        if not self.categorical:
            return matrix
        splitter = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        for fit_idx, out_idx in splitter.split(np.zeros(len(y)), y):
            for j, column in enumerate(self.categorical):
                values = _as_category(frame[column])
                table = _woe_table(values.iloc[fit_idx], y[fit_idx], self.smoothing)
                mapped = values.iloc[out_idx].map(table).fillna(0.0)
                matrix[out_idx, j] = mapped.to_numpy(dtype=np.float32)
        return matrix

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the float32 matrix (rows × ``feature_names``) of any frame."""
        self._check_fitted()
        out = np.empty((len(frame), len(self.feature_names)), dtype=np.float32)
        for j, column in enumerate(self.categorical):
            mapped = _as_category(frame[column]).map(self.woe_[column]).fillna(0.0)
            out[:, j] = mapped.to_numpy(dtype=np.float32)
        offset = len(self.categorical)
        for j, column in enumerate(self.numeric):
            values = self._numeric(frame, column)
            fill = self.fill_[column]
            if fill is not None:
                values = np.where(np.isnan(values), np.float32(fill), values)
            out[:, offset + j] = values
        return out

    @staticmethod
    def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy()
        values = np.where(np.isinf(values), np.nan, values)
        return values.astype(np.float32)

    def _check_fitted(self) -> None:
        if not hasattr(self, "woe_"):
            raise BundleIntegrityError("FeatureEncoder is not fitted; call fit first")

    def to_dict(self) -> dict[str, Any]:
        """Serialise to plain JSON types (the bundle's ``encoder.json``)."""
        self._check_fitted()
        return {
            "format": FORMAT,
            "categorical": self.categorical,
            "numeric": self.numeric,
            "smoothing": self.smoothing,
            "folds": self.folds,
            "seed": self.seed,
            "woe": self.woe_,
            "fill": self.fill_,
            "missing_category": MISSING,
            "unseen_category_value": 0.0,
            "dtype": "float32",
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "FeatureEncoder":
        """Rebuild a fitted encoder from ``to_dict`` output.

        Raises:
            BundleIntegrityError: the mapping is not an encoder of this format.

        """
        if raw.get("format") != FORMAT:
            raise BundleIntegrityError(
                f"encoder format must be {FORMAT!r}; got {raw.get('format')!r}"
            )
        encoder = cls(
            list(raw["categorical"]),
            list(raw["numeric"]),
            float(raw["smoothing"]),
            int(raw["folds"]),
            int(raw["seed"]),
        )
        encoder.woe_ = {c: {str(k): float(v) for k, v in t.items()} for c, t in raw["woe"].items()}
        encoder.fill_ = {c: None if v is None else float(v) for c, v in raw["fill"].items()}
        return encoder
