"""The WoE logistic scorecard candidate: OptBinning's binning, then a logistic regression.

Each feature of the encoded matrix (categoricals arrive as smoothed WoE numbers) is binned
by OptBinning's ``BinningProcess``, with the monotonic trend the spec or the feature
definitions declare (``ascending`` event rate for +1, ``descending`` for -1) and OptBinning's
own choice elsewhere; missing values get a bin with their own observed default rate. An
L2 logistic regression on the WoE values follows, its strength chosen by cross-validation.
A feature whose coefficient comes out against its WoE (higher WoE means fewer defaults, so
the coefficient on the default logit must be negative) is dropped and the fit repeated, as
in classic scorecard practice: every bin then ranks as its WoE says, and declared
directions hold.

The fitted card is written as one tree per feature (``training.candidates.trees``) and as a
classic points table: ``points = offset/n - factor·(β·WoE + α/n)`` per bin with
``factor = pdo / ln 2`` and ``offset = base_points - factor·ln(base_odds)``, so that a row's
points add up to ``offset - factor·logit`` (more points, lower risk).
"""

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from optbinning import BinningProcess
from scipy import optimize

from training.bundle import to_json_bytes
from training.candidates.base import CandidateResult, CvData, FinalModel, fold_scores
from training.candidates.trees import StepFunction, additive_booster, raw_score
from training.config import ScorecardConfig
from training.encode import woe_column
from training.errors import TrainingError
from training.folds import out_of_fold

NAME = "scorecard"
TITLE = "WoE logistic scorecard (OptBinning)"
POINTS_TABLE = "scorecard_points.json"
_TRENDS = {1: "ascending", -1: "descending"}
_ZERO_COEF = 1e-9
"""Coefficients this close to the bound are at it: the feature is left out."""
_BUILD_TOLERANCE = 1e-6
"""Largest |margin(trees) - margin(card)| accepted on the training window."""


@dataclass(frozen=True)
class _Binned:
    """A fitted BinningProcess over the columns that can be binned (two values or more)."""

    binning: Any
    columns: list[int]
    names: list[str]


def _bin(x: np.ndarray, y: np.ndarray, monotone: list[int], config: ScorecardConfig) -> _Binned:
    values = x.astype(np.float64)
    columns = [
        j for j in range(x.shape[1]) if len(np.unique(values[~np.isnan(values[:, j]), j])) > 1
    ]
    names = [f"f{j}" for j in columns]
    trends = {f"f{j}": _TRENDS.get(monotone[j], config.undeclared_trend) for j in columns}
    binning = BinningProcess(
        names,
        min_prebin_size=config.min_prebin_size,
        max_n_bins=config.max_n_bins,
        max_n_prebins=config.max_n_prebins,
        binning_fit_params={n: {"monotonic_trend": t} for n, t in trends.items()},
        n_jobs=1,
    )
    frame = pd.DataFrame(values[:, columns], columns=names)
    return _Binned(binning.fit(frame, y), columns, names)


def _woe(binned: _Binned, x: np.ndarray) -> np.ndarray:
    """WoE of every column of ``x``; a column that could not be binned is 0 (no evidence)."""
    out = np.zeros(x.shape, dtype=np.float64)
    if not binned.columns:
        return out
    values = x[:, binned.columns].astype(np.float32).astype(np.float64)
    woe = binned.binning.transform(
        pd.DataFrame(values, columns=binned.names),
        metric="woe",
        metric_missing="empirical",
        metric_special="empirical",
    )
    out[:, binned.columns] = np.asarray(woe, dtype=np.float64)
    return out


@dataclass
class _Card:
    """A fitted card: binning, kept features, coefficients."""

    binned: _Binned
    kept: list[int]
    coef: np.ndarray
    intercept: float

    def margin(self, woe: np.ndarray) -> np.ndarray:
        return np.asarray(self.intercept + woe[:, self.kept] @ self.coef, dtype=np.float64)


def fit_bounded_logistic(
    woe: np.ndarray, y: np.ndarray, c: float, start: np.ndarray | None = None
) -> tuple[list[int], np.ndarray, float]:
    """L2 logistic regression on WoE with every coefficient held at or below zero.

    Higher WoE means fewer defaults, so a coefficient on the default logit above zero would
    make a bin rank against its own WoE; classic scorecard practice drops such a feature and
    refits until none is left. Bounding the coefficients (L-BFGS-B, scikit-learn's objective
    ``C·Σ log loss + ½‖β‖²``) reaches the same kind of card in one fit: a feature whose
    coefficient sits at the bound contributes nothing and is left out of the card.

    Returns the kept columns, their coefficients and the intercept.
    """
    usable = [j for j in range(woe.shape[1]) if np.ptp(woe[:, j]) > 0]
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    if not usable:
        return [], np.zeros(0), math.log(rate / (1 - rate))
    x = woe[:, usable]
    yf = y.astype(np.float64)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        loss = float(np.sum(np.logaddexp(0.0, z) - yf * z))
        residual = 1.0 / (1.0 + np.exp(-z)) - yf
        grad = np.append(c * (x.T @ residual) + theta[:-1], c * residual.sum())
        return c * loss + 0.5 * float(theta[:-1] @ theta[:-1]), grad

    theta0 = np.append(np.zeros(len(usable)), math.log(rate / (1 - rate)))
    if start is not None and len(start) == len(theta0):
        theta0 = start
    bounds = [(None, 0.0)] * len(usable) + [(None, None)]
    found = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    coef = found.x[:-1]
    kept = [j for j, b in zip(usable, coef, strict=True) if b < -_ZERO_COEF]
    values = np.array([b for b in coef if b < -_ZERO_COEF], dtype=np.float64)
    return kept, values, float(found.x[-1])


def _in_fold_categories(data: CvData, fit_rows: np.ndarray) -> np.ndarray:
    """Return ``X`` with each categorical re-encoded by a WoE table fitted on ``fit_rows``.

    The shared matrix holds out-of-fold WoE (a category takes a different value in each
    encoding fold), which suits trees but blurs a scorecard's bins; at serving a category
    has one value, the table fitted on the whole training window. So the card is binned on
    that table's values: fitted on the fold's rows inside cross-validation (no scored row's
    label in its own encoding), on every row for the final card (the served encoder's
    values exactly).
    """
    if not data.categories:
        return data.X
    x = data.X.copy()
    for j, categories in enumerate(data.categories):
        x[:, j] = woe_column(categories, data.y, fit_rows, data.smoothing)
    return x


class ScorecardCandidate:
    """OptBinning WoE binning plus L2 logistic regression, written as trees and points."""

    name = NAME

    def __init__(self, config: ScorecardConfig) -> None:
        self.config = config

    def cross_validate(self, data: CvData) -> CandidateResult:
        """Bin and fit on each fold; choose the L2 strength with the lowest mean log loss."""
        start = time.perf_counter()
        grid = list(self.config.c_grid)
        losses = np.zeros((len(grid), data.plan.n_folds))
        aucs = np.zeros_like(losses)
        margins: list[list[np.ndarray]] = [[] for _ in grid]
        for f, (fit_idx, scored_idx) in enumerate(data.plan.folds):
            x = _in_fold_categories(data, fit_idx)
            binned = _bin(x[fit_idx], data.y[fit_idx], data.monotone, self.config)
            woe_fit = _woe(binned, x[fit_idx])
            woe_scored = _woe(binned, x[scored_idx])
            for g, c in enumerate(grid):
                kept, coef, intercept = fit_bounded_logistic(woe_fit, data.y[fit_idx], c)
                margin = intercept + woe_scored[:, kept] @ coef
                losses[g, f], aucs[g, f] = fold_scores(data.y[scored_idx], margin)
                margins[g].append(margin)
        best = int(np.argmin(losses.mean(axis=1)))
        return CandidateResult(
            name=NAME,
            title=TITLE,
            params={"C": grid[best]},
            fold_log_loss=losses[best],
            fold_auc=aucs[best],
            oof_margin=out_of_fold(data.plan, margins[best]),
            seconds=time.perf_counter() - start,
            detail={
                "c_grid": {str(c): float(losses[g].mean()) for g, c in enumerate(grid)},
                "description": f"L2 strength C={grid[best]} chosen from {grid} by CV log loss",
            },
        )

    def fit_final(self, data: CvData, result: CandidateResult) -> FinalModel:
        """Bin and fit on the whole training window; write the card as trees and points."""
        x = _in_fold_categories(data, np.arange(len(data.y)))
        binned = _bin(x, data.y, data.monotone, self.config)
        woe = _woe(binned, x)
        kept, coef, intercept = fit_bounded_logistic(woe, data.y, float(result.params["C"]))
        card = _Card(binned, kept, coef, intercept)
        steps = [self._step(card, k, b) for k, b in zip(kept, coef, strict=True)]
        booster = additive_booster(steps, data.X.shape[1], intercept)
        # The trees must be the card: same margin as OptBinning's transform + the regression.
        gap = float(np.max(np.abs(raw_score(steps, x, intercept) - card.margin(woe))))
        written = np.asarray(booster.predict(x.astype(np.float32), raw_score=True))
        gap = max(gap, float(np.max(np.abs(written - card.margin(woe)))))
        if gap > _BUILD_TOLERANCE:
            raise TrainingError(
                f"the scorecard written as trees differs from the fitted card by {gap:.3g} on "
                "the training window; refusing it"
            )
        table = self.points_table(card, data.feature_names, steps)
        size = {"features": len(kept), "bins": sum(len(s.values) + 1 for s in steps)}
        return FinalModel(booster, None, {POINTS_TABLE: to_json_bytes(table)}, size)

    @staticmethod
    def _step(card: _Card, feature: int, beta: float) -> StepFunction:
        variable = card.binned.binning.get_binned_variable(f"f{feature}")
        table = variable.binning_table.build()
        cuts = tuple(float(s) for s in variable.splits)
        n_bins = len(cuts) + 1
        woe = table["WoE"].iloc[:n_bins].astype(float).to_numpy()
        counts = table["Count"].iloc[:n_bins].astype(int).to_numpy()
        missing = table.loc[table["Bin"] == "Missing"]
        missing_woe = float(missing["WoE"].iloc[0]) if len(missing) else 0.0
        missing_count = int(missing["Count"].iloc[0]) if len(missing) else 0
        return StepFunction(
            feature,
            cuts,
            tuple(float(beta * w) for w in woe),
            tuple(int(c) for c in counts),
            float(beta * missing_woe),
            missing_count,
        )

    def points_table(
        self, card: _Card, feature_names: list[str], steps: list[StepFunction]
    ) -> dict[str, Any]:
        """Return the classic points table: points per bin, scaled by PDO, base odds and points."""
        cfg = self.config
        factor = cfg.pdo / math.log(2)
        offset = cfg.base_points - factor * math.log(cfg.base_odds)
        n = max(len(steps), 1)
        share = offset / n - factor * card.intercept / n
        rows = []
        for step in steps:
            edges = [-math.inf, *step.cuts, math.inf]
            bins = [
                {
                    "bin": _interval(edges[i], edges[i + 1]),
                    "low": None if math.isinf(edges[i]) else edges[i],
                    "high": None if math.isinf(edges[i + 1]) else edges[i + 1],
                    "rows": step.counts[i],
                    "points": share - factor * value,
                }
                for i, value in enumerate(step.values)
            ]
            bins.append(
                {
                    "bin": "missing",
                    "low": None,
                    "high": None,
                    "rows": step.missing_count,
                    "points": share - factor * step.missing_value,
                }
            )
            rows.append({"feature": feature_names[step.feature], "bins": bins})
        return {
            "format": "jifen-points-table/1",
            "pdo": cfg.pdo,
            "base_points": cfg.base_points,
            "base_odds": cfg.base_odds,
            "factor": factor,
            "offset": offset,
            "formula": (
                "score = sum of the points of each feature's bin = offset - factor * logit "
                "(logit: the card's log-odds of default before calibration); bins are [low, high)"
            ),
            "features": rows,
        }


def _interval(low: float, high: float) -> str:
    left = "(-∞" if math.isinf(low) else f"[{low:.6g}"
    right = "+∞)" if math.isinf(high) else f"{high:.6g})"
    return f"{left}, {right}"
