"""Evaluation stage: one report of how the trained chain does, mostly on the test part.

Discrimination (AUC with its 95 % bootstrap interval on test, Gini, KS) and accuracy (Brier,
log loss) of the final PD per part; points only, model only and blended side by side on
test; calibration per grade with binomial and Jeffreys tests; PSI between train
and test for the score and every feature; metrics per segment; the oracle's AUC and the gap
when a true PD is known (simulated portfolios).
"""

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from training.config import EvaluationConfig
from training.data import Part, Splits
from training.grades import MasterScale
from training.metrics import (
    auc_interval,
    calibration_by_grade,
    discrimination,
    psi_categorical,
    psi_numeric,
    with_interval,
)
from training.spec import DatasetSpec

Scored = dict[str, pd.DataFrame]
"""Output of ``Scorer.score`` per part name (train, test)."""


def compare_models(part: Part, scored: pd.DataFrame, seed: int = 0) -> dict[str, dict[str, float]]:
    """Points only, model only and blended PDs on one part, side by side (AUC intervals)."""
    out = {"model_only": with_interval(part.y, scored["pd_model"].to_numpy(), seed)}
    if scored["pd_points_only"].notna().all():
        out["points_only"] = with_interval(part.y, scored["pd_points_only"].to_numpy(), seed)
        out["blended"] = with_interval(part.y, scored["pd"].to_numpy(), seed)
    return out


def calibration_effect(part: Part, scored: pd.DataFrame) -> dict[str, float]:
    """Brier score of the raw model probability and of the calibrated PD on one part."""
    return {
        "raw_brier": float(brier_score_loss(part.y, scored["p_model_raw"])),
        "calibrated_brier": float(brier_score_loss(part.y, scored["pd_model"])),
        "raw_mean": float(scored["p_model_raw"].mean()),
        "calibrated_mean": float(scored["pd_model"].mean()),
        "default_rate": float(part.y.mean()),
    }


def stability(
    spec: DatasetSpec, train: Part, test: Part, scored: Scored, bins: int
) -> dict[str, Any]:
    """PSI between train and test for the final PD and every feature."""
    features: dict[str, float] = {}
    for column in spec.categorical:
        features[column] = psi_categorical(train.frame[column], test.frame[column])
    for column in spec.numeric:
        features[column] = psi_numeric(
            pd.to_numeric(train.frame[column], errors="coerce").to_numpy(dtype=float),
            pd.to_numeric(test.frame[column], errors="coerce").to_numpy(dtype=float),
            bins,
        )
    score = psi_numeric(scored["train"]["pd"].to_numpy(), scored["test"]["pd"].to_numpy(), bins)
    return {"score": score, "features": features}


def by_segment(
    spec: DatasetSpec, part: Part, scored: pd.DataFrame, min_rows: int
) -> dict[str, list[dict[str, Any]]]:
    """Rows, defaults, default rate, mean PD and AUC per value of each segment column."""
    out: dict[str, list[dict[str, Any]]] = {}
    for column in spec.segments:
        values = part.frame[column].astype("string").fillna("__missing__")
        rows = []
        for value in sorted(values.unique()):
            mask = (values == value).to_numpy()
            y, pd_ = part.y[mask], scored["pd"].to_numpy()[mask]
            row: dict[str, Any] = {"value": str(value), "n": int(mask.sum())}
            row |= {"defaults": int(y.sum()), "default_rate": float(y.mean())}
            row["mean_pd"] = float(pd_.mean())
            enough = mask.sum() >= min_rows and 0 < y.sum() < mask.sum()
            row["auc"] = float(roc_auc_score(y, pd_)) if enough else None
            rows.append(row)
        out[column] = rows
    return out


def oracle_gap(part: Part, scored: pd.DataFrame, oracle_pd: np.ndarray) -> dict[str, float]:
    """AUC of the true PD on the split, the model's AUC and the gap between them."""
    known = ~np.isnan(oracle_pd)
    y, oracle = part.y[known], oracle_pd[known]
    model_auc = float(roc_auc_score(y, scored["pd"].to_numpy()[known]))
    oracle_auc = float(roc_auc_score(y, oracle))
    low, high = auc_interval(y, oracle)
    return {
        "oracle_auc": oracle_auc,
        "oracle_auc_low": low,
        "oracle_auc_high": high,
        "model_auc": model_auc,
        "gap": oracle_auc - model_auc,
        "rows": int(known.sum()),
    }


def evaluate(
    spec: DatasetSpec,
    splits: Splits,
    scored: Scored,
    scale: MasterScale,
    config: EvaluationConfig,
    oracle_pd_test: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Assemble the full evaluation report (a plain-JSON mapping)."""
    report: dict[str, Any] = {
        "train": discrimination(splits.train.y, scored["train"]["pd"].to_numpy()),
        "test": with_interval(splits.test.y, scored["test"]["pd"].to_numpy(), seed),
    }
    report["calibration_test"] = calibration_effect(splits.test, scored["test"])
    report["comparison_test"] = compare_models(splits.test, scored["test"], seed)
    report["grades_test"] = calibration_by_grade(
        splits.test.y, scored["test"]["pd"].to_numpy(), scale
    )
    report["psi"] = stability(spec, splits.train, splits.test, scored, config.psi_bins)
    report["segments_test"] = by_segment(spec, splits.test, scored["test"], config.min_segment_rows)
    if oracle_pd_test is not None:
        report["oracle_test"] = oracle_gap(splits.test, scored["test"], oracle_pd_test)
    return report


def headline(report: dict[str, Any], splits: Splits) -> dict[str, Any]:
    """Return the flat metrics written to ``metrics.json`` and logged to the tracking run."""
    test = report["test"]
    out: dict[str, Any] = {
        "test_auc": test["auc"],
        "test_auc_low": test["auc_low"],
        "test_auc_high": test["auc_high"],
        "test_gini": test["gini"],
        "test_ks": test["ks"],
        "test_brier": test["brier"],
        "test_log_loss": test["log_loss"],
        "train_auc": report["train"]["auc"],
        "psi_score": report["psi"]["score"],
        "psi_max_feature": max(report["psi"]["features"].values(), default=0.0),
        "grades_rejected": sum(bool(g.get("rejected")) for g in report["grades_test"]),
        "test_raw_brier": report["calibration_test"]["raw_brier"],
        "test_calibrated_brier": report["calibration_test"]["calibrated_brier"],
    }
    for model, values in report["comparison_test"].items():
        out[f"{model}_test_auc"] = values["auc"]
        out[f"{model}_test_auc_low"] = values["auc_low"]
        out[f"{model}_test_auc_high"] = values["auc_high"]
        out[f"{model}_test_brier"] = values["brier"]
    if "oracle_test" in report:
        out["oracle_test_auc"] = report["oracle_test"]["oracle_auc"]
        out["oracle_test_auc_low"] = report["oracle_test"]["oracle_auc_low"]
        out["oracle_test_auc_high"] = report["oracle_test"]["oracle_auc_high"]
        out["oracle_auc_gap"] = report["oracle_test"]["gap"]
    summary = splits.summary()
    for key in ("n_train", "n_test", "defaults_train", "defaults_test"):
        out[key] = summary[key]
    for key in ("n_excluded_immature", "n_excluded_no_date"):
        out[key] = summary[key]
    return out
