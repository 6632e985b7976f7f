"""Validation statistics: discrimination, calibration tests per grade, population stability.

Conventions (as in the ECB's instructions for reporting IRB validation results):

- Binomial test, one-sided: H0 "the grade's PD is right", against "defaults exceed it";
  p-value = P(X ≥ d) for X ~ Binomial(n, PD).
- Jeffreys test: the posterior of the default rate under a Jeffreys prior is
  Beta(d + ½, n − d + ½); p-value = its CDF at PD (small: PD underestimates the risk);
  the interval is its equal-tailed credible interval.
- PSI = Σ (actual − expected) · ln(actual / expected) over bins fixed on the expected
  (train) sample; missing values are a bin of their own.
"""

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

from training.grades import MasterScale

_PSI_EPS = 1e-6


def ks_statistic(y: np.ndarray, score: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance between the scores of defaults and non-defaults."""
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.max(tpr - fpr))


def discrimination(y: np.ndarray, pd_: np.ndarray) -> dict[str, float]:
    """AUC, Gini, KS, Brier score and log loss of PDs against 0/1 outcomes."""
    y = np.asarray(y, dtype=np.int64)
    pd_ = np.asarray(pd_, dtype=np.float64)
    auc = float(roc_auc_score(y, pd_))
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y, pd_),
        "brier": float(brier_score_loss(y, pd_)),
        "log_loss": float(log_loss(y, np.clip(pd_, 1e-12, 1 - 1e-12), labels=[0, 1])),
        "n": float(len(y)),
        "defaults": float(y.sum()),
        "default_rate": float(y.mean()),
        "mean_pd": float(pd_.mean()),
    }


AUC_LEVEL = 0.95
AUC_RESAMPLES = 1000


def auc_interval(
    y: np.ndarray, score: np.ndarray, level: float = AUC_LEVEL, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap percentile interval of the AUC (``scipy.stats.bootstrap``, rows paired)."""
    y = np.asarray(y, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)

    def auc(labels: np.ndarray, values: np.ndarray, axis: int = -1) -> np.ndarray:
        # The Mann-Whitney form of the AUC, on every resample at once (ties count half);
        # a resample with one class has no AUC (NaN).
        ranks = stats.rankdata(values, axis=axis)
        n_pos = labels.sum(axis=axis)
        n_neg = labels.shape[axis] - n_pos
        u = (ranks * labels).sum(axis=axis) - n_pos * (n_pos + 1) / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(u / (n_pos * n_neg), dtype=np.float64)

    result = stats.bootstrap(
        (y, score),
        auc,
        paired=True,
        vectorized=True,
        n_resamples=AUC_RESAMPLES,
        batch=100,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def with_interval(y: np.ndarray, pd_: np.ndarray, seed: int = 0) -> dict[str, float]:
    """``discrimination`` plus the AUC's 95 % bootstrap interval (``auc_low``, ``auc_high``)."""
    out = discrimination(y, pd_)
    out["auc_low"], out["auc_high"] = auc_interval(y, pd_, seed=seed)
    return out


def binomial_pvalue(n: int, defaults: int, pd_: float) -> float:
    """One-sided binomial p-value P(X ≥ defaults), X ~ Binomial(n, pd_)."""
    return float(stats.binom.sf(defaults - 1, n, pd_))


def jeffreys(n: int, defaults: int, pd_: float, level: float = 0.95) -> dict[str, float]:
    """Jeffreys test of a PD: p-value and credible interval from Beta(d + ½, n − d + ½)."""
    posterior = stats.beta(defaults + 0.5, n - defaults + 0.5)
    tail = (1 - level) / 2
    return {
        "p_value": float(posterior.cdf(pd_)),
        "low": float(posterior.ppf(tail)),
        "high": float(posterior.ppf(1 - tail)),
    }


def calibration_by_grade(
    y: np.ndarray, pd_: np.ndarray, scale: MasterScale, alpha: float = 0.05
) -> list[dict[str, Any]]:
    """Per grade: rows, defaults, mean PD, default rate, binomial and Jeffreys tests.

    The tested PD of a grade is the mean PD of its rows. ``rejected`` is True when either
    test's p-value is below ``alpha`` (the grade's PD underestimates its default rate).
    """
    y = np.asarray(y, dtype=np.int64)
    index = scale.index_of(pd_)
    rows: list[dict[str, Any]] = []
    for i, (grade, low, high) in enumerate(scale.bounds()):
        mask = index == i
        n, d = int(mask.sum()), int(y[mask].sum())
        row: dict[str, Any] = {"grade": grade, "pd_low": low, "pd_high": high, "n": n}
        if n == 0:
            rows.append(row | {"defaults": 0})
            continue
        mean_pd = float(np.mean(pd_[mask]))
        jef = jeffreys(n, d, mean_pd)
        row |= {
            "defaults": d,
            "mean_pd": mean_pd,
            "default_rate": d / n,
            "binomial_p": binomial_pvalue(n, d, mean_pd),
            "jeffreys_p": jef["p_value"],
            "jeffreys_low": jef["low"],
            "jeffreys_high": jef["high"],
        }
        row["rejected"] = bool(min(row["binomial_p"], row["jeffreys_p"]) < alpha)
        rows.append(row)
    return rows


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return np.asarray(np.clip(counts / total if total else counts, _PSI_EPS, None), dtype=float)


def _psi_from_counts(expected: np.ndarray, actual: np.ndarray) -> float:
    e, a = _shares(expected.astype(float)), _shares(actual.astype(float))
    return float(np.sum((a - e) * np.log(a / e)))


def psi_numeric(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """PSI of a numeric variable; bins are the expected sample's quantiles plus a NaN bin."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    finite = expected[np.isfinite(expected)]
    if finite.size == 0:
        return 0.0
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1))[1:-1])

    def counts(values: np.ndarray) -> np.ndarray:
        missing = ~np.isfinite(values)
        idx = np.searchsorted(edges, values[~missing], side="right")
        return np.append(np.bincount(idx, minlength=edges.size + 1), missing.sum())

    return _psi_from_counts(counts(expected), counts(actual))


def psi_categorical(expected: pd.Series, actual: pd.Series) -> float:
    """PSI of a categorical variable; categories unseen in the expected sample count too."""
    e = expected.astype("string").fillna("__missing__").value_counts()
    a = actual.astype("string").fillna("__missing__").value_counts()
    categories = e.index.union(a.index)
    return _psi_from_counts(
        e.reindex(categories, fill_value=0).to_numpy(),
        a.reindex(categories, fill_value=0).to_numpy(),
    )
