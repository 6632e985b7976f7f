"""Calibration stage: map the model's raw probability to a PD, fitted out of fold.

The calibrator is fitted on the served candidate's out-of-fold predictions over the
training window (as scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` does): the
model never saw the rows it is calibrated on, and the per-grade calibration tests on the
test part judge a map that was not fitted there either. Two methods, or ``auto`` in the
training config (whichever has the lower log loss, cross-validated on those predictions):

- ``platt``: PD = sigmoid(a · logit(p) + b). Two parameters, smooth, keeps the ranking; the
  robust choice on a small validation vintage. A non-positive slope means the model ranks
  the validation vintage backwards, and training stops.
- ``isotonic``: the monotone step-linear fit of scikit-learn's ``IsotonicRegression``,
  stored as its knots and applied with linear interpolation (exactly what scikit-learn does).

Every PD is kept within [pd_floor, pd_cap].
Parameters are stored as JSON (no pickle) so serving applies the same arithmetic.
"""

from typing import Any, Literal, Self

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from training.errors import BundleIntegrityError, TrainingError

FORMAT = "jifen-calibrator/1"
_EPS = 1e-12


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Inverse of ``logit``."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


class Calibrator:
    """Raw model probability → PD.

    Args:
        method: ``platt`` or ``isotonic``.
        pd_floor: smallest PD returned.
        pd_cap: largest PD returned.

    """

    def __init__(
        self,
        method: Literal["platt", "isotonic"] = "platt",
        pd_floor: float = 0.0003,
        pd_cap: float = 0.9999,
    ) -> None:
        self.method = method
        self.pd_floor = pd_floor
        self.pd_cap = pd_cap

    def fit(self, p_raw: np.ndarray, y: np.ndarray) -> Self:
        """Fit on out-of-fold raw probabilities and their outcomes.

        Raises:
            TrainingError: Platt's slope is not positive (the model ranks backwards).

        """
        p_raw = np.asarray(p_raw, dtype=np.float64)
        if self.method == "platt":
            model = LogisticRegression(C=np.inf).fit(logit(p_raw).reshape(-1, 1), y)
            self.slope_ = float(model.coef_[0, 0])
            self.intercept_ = float(model.intercept_[0])
            if self.slope_ <= 0:
                raise TrainingError(
                    f"Platt slope is {self.slope_:.4f} on the out-of-fold predictions; it must "
                    "be positive (the model ranks unseen rows backwards)"
                )
        else:
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p_raw, y)
            self.x_knots_ = [float(v) for v in iso.X_thresholds_]
            self.y_knots_ = [float(v) for v in iso.y_thresholds_]
        return self

    def predict(self, p_raw: np.ndarray, *, margin: np.ndarray | None = None) -> np.ndarray:
        """Return PDs for raw probabilities.

        ``margin`` is ``logit(p_raw)`` when the caller has it already (serving reuses one
        computation for the calibrator, the blend and the score's logit).
        """
        p_raw = np.asarray(p_raw, dtype=np.float64)
        if self.method == "platt":
            z = logit(p_raw) if margin is None else margin
            pd_ = sigmoid(self.slope_ * z + self.intercept_)
        else:
            pd_ = np.interp(p_raw, self.x_knots_, self.y_knots_)
        return np.asarray(np.clip(pd_, self.pd_floor, self.pd_cap), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the bundle's ``calibrator.json``)."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "method": self.method,
            "pd_floor": self.pd_floor,
            "pd_cap": self.pd_cap,
            "input": "raw LightGBM probability (ONNX 'probabilities'[:, 1])",
        }
        if self.method == "platt":
            out |= {
                "slope": self.slope_,
                "intercept": self.intercept_,
                "formula": "pd = clip(sigmoid(slope*logit(p) + intercept), pd_floor, pd_cap)",
            }
        else:
            out |= {
                "x_knots": self.x_knots_,
                "y_knots": self.y_knots_,
                "formula": "pd = clip(interp(p, x_knots, y_knots), pd_floor, pd_cap)",
            }
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Calibrator":
        """Rebuild from ``to_dict`` output.

        Raises:
            BundleIntegrityError: the mapping is not a calibrator of this format.

        """
        if raw.get("format") != FORMAT or raw.get("method") not in ("platt", "isotonic"):
            raise BundleIntegrityError(
                f"calibrator format must be {FORMAT!r} with method platt or isotonic; got "
                f"{raw.get('format')!r} / {raw.get('method')!r}"
            )
        cal = cls(raw["method"], float(raw["pd_floor"]), float(raw["pd_cap"]))
        if cal.method == "platt":
            cal.slope_ = float(raw["slope"])
            cal.intercept_ = float(raw["intercept"])
        else:
            cal.x_knots_ = [float(v) for v in raw["x_knots"]]
            cal.y_knots_ = [float(v) for v in raw["y_knots"]]
        return cal


def choose_calibrator(
    p_raw: np.ndarray,
    y: np.ndarray,
    method: Literal["platt", "isotonic", "auto"],
    pd_floor: float,
    pd_cap: float,
    seed: int,
    folds: int = 5,
) -> tuple[Calibrator, dict[str, float]]:
    """Fit the configured calibrator on out-of-fold probabilities (``auto``: lower CV loss).

    Returns the calibrator fitted on all of ``p_raw`` and each method's cross-validated log
    loss (both methods are scored, so the report can show what ``auto`` chose over).
    """
    y = np.asarray(y, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    losses: dict[str, float] = {}
    methods: tuple[Literal["platt", "isotonic"], ...] = ("platt", "isotonic")
    for name in methods:
        pd_ = np.zeros(len(y))
        for fit_idx, out_idx in splitter.split(np.zeros(len(y)), y):
            cal = Calibrator(name, pd_floor, pd_cap).fit(p_raw[fit_idx], y[fit_idx])
            pd_[out_idx] = cal.predict(p_raw[out_idx])
        losses[name] = float(log_loss(y, pd_, labels=[0, 1]))
    chosen = method if method != "auto" else min(methods, key=lambda m: losses[m])
    return Calibrator(chosen, pd_floor, pd_cap).fit(p_raw, y), losses
