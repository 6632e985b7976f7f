"""What every candidate model gives the pipeline: the same interface, however it is built.

A candidate is cross-validated on the shared folds of the training window
(``cross_validate``), which tunes it and yields its out-of-fold margins and fold scores,
then refitted on the whole window (``fit_final``). What it hands back is always a LightGBM
booster (trees, or a scorecard written as trees: ``training.candidates.trees``) plus an
optional linear term in the innovation points, so the export, parity gate, serving and
explanations work the same for each. A candidate anchored on the points (the blend issue)
declares its points term in ``PointsTerm``; the pipeline then keeps it in the served link.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from training.calibrate import sigmoid
from training.folds import CvPlan


@dataclass(frozen=True)
class CvData:
    """The encoded training window and the folds every candidate is judged on."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    monotone: list[int]
    plan: CvPlan
    points: np.ndarray | None
    """Innovation points per row (NaN where missing), when the spec names a column."""
    seed: int
    n_jobs: int
    categories: list[np.ndarray] = field(default_factory=list)
    """Raw text of the first ``len(categories)`` columns (the categoricals), for a candidate
    that encodes them itself within each fold (``X`` holds out-of-fold WoE)."""
    smoothing: float = 20.0


@dataclass(frozen=True)
class PointsTerm:
    """A linear term in the points inside a candidate's margin: ``intercept + slope·points``."""

    intercept: float
    slope: float
    fill: float
    """Points used where they are missing."""


@dataclass
class CandidateResult:
    """A candidate's cross-validated performance and tuned settings."""

    name: str
    title: str
    """Readable name, e.g. 'WoE logistic scorecard'."""
    params: dict[str, Any]
    fold_log_loss: np.ndarray
    fold_auc: np.ndarray
    oof_margin: np.ndarray
    """Out-of-fold logit per training row (averaged over repeats)."""
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def cv_log_loss(self) -> float:
        """Mean log loss over the folds."""
        return float(np.mean(self.fold_log_loss))

    @property
    def cv_log_loss_se(self) -> float:
        """Standard error of the mean fold log loss."""
        n = len(self.fold_log_loss)
        return float(np.std(self.fold_log_loss, ddof=1) / np.sqrt(n)) if n > 1 else 0.0

    @property
    def cv_auc(self) -> float:
        """Mean AUC over the folds."""
        return float(np.mean(self.fold_auc))

    def summary(self) -> dict[str, Any]:
        """Plain-JSON summary for metrics.json, the report and the tracking run."""
        return {
            "name": self.name,
            "title": self.title,
            "cv_log_loss_mean": self.cv_log_loss,
            "cv_log_loss_sd": float(np.std(self.fold_log_loss, ddof=1))
            if len(self.fold_log_loss) > 1
            else 0.0,
            "cv_log_loss_se": self.cv_log_loss_se,
            "cv_auc_mean": self.cv_auc,
            "cv_auc_sd": float(np.std(self.fold_auc, ddof=1)) if len(self.fold_auc) > 1 else 0.0,
            "n_folds": len(self.fold_log_loss),
            "params": self.params,
            "seconds": self.seconds,
            **{k: v for k, v in self.detail.items() if k in ("size", "description")},
        }


@dataclass(frozen=True)
class FinalModel:
    """A candidate refitted on the whole training window, ready for the shared steps."""

    booster: lgb.Booster
    points_term: PointsTerm | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    """Extra bundle files (e.g. the scorecard's points table)."""
    size: dict[str, int] = field(default_factory=dict)


class Candidate(Protocol):
    """A model family the pipeline can tune, compare and serve."""

    name: str

    def cross_validate(self, data: CvData) -> CandidateResult:
        """Tune on the folds; return fold scores and out-of-fold margins."""
        ...

    def fit_final(self, data: CvData, result: CandidateResult) -> FinalModel:
        """Refit with the tuned settings on every row of the training window."""
        ...


def fold_scores(y: np.ndarray, margin: np.ndarray) -> tuple[float, float]:
    """Log loss and AUC of a fold's margins (before calibration, as the candidates compare)."""
    p = np.clip(sigmoid(margin), 1e-12, 1 - 1e-12)
    return float(log_loss(y, p, labels=[0, 1])), float(roc_auc_score(y, margin))
