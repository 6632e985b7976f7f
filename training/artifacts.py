"""What a training run leaves behind: bundle files, fingerprint, tracking record.

Kept apart from the pipeline so that the orchestration reads as steps and the exact
contents of a bundle can be read in one place.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.blend import PointsBlend
from training.bundle import MODEL_ONNX, MODEL_TEXT, sha256_file, to_json_bytes
from training.calibrate import Calibrator
from training.candidates.base import CandidateResult
from training.choose import Choice
from training.config import TrainingConfig
from training.encode import FeatureEncoder
from training.export import ParityResult
from training.grades import MasterScale
from training.metrics import discrimination
from training.monotonicity import MonotonicityReport
from training.scorer import ONNX_INPUT
from training.spec import DatasetSpec
from training.tracking import ChildRun, RunRecord


@dataclass(frozen=True)
class Fitted:
    """The fitted pieces of the chain."""

    booster: lgb.Booster
    encoder: FeatureEncoder
    calibrator: Calibrator
    blend: PointsBlend | None
    scale: MasterScale


def fingerprint(
    dataset: Path,
    spec_path: Path,
    catalogue_version: str | None,
    feature_service_version: str | None,
) -> dict[str, str]:
    """SHA-256 of the training set and the spec, plus upstream versions when given."""
    out = {
        "dataset_file": dataset.name,
        "dataset_sha256": sha256_file(dataset),
        "spec_sha256": sha256_file(spec_path),
    }
    if catalogue_version:
        out["catalogue_version"] = catalogue_version
    if feature_service_version:
        out["feature_service_version"] = feature_service_version
    return out


def features_json(
    spec: DatasetSpec, encoder: FeatureEncoder, monotone: list[int]
) -> dict[str, Any]:
    """Input contract of the model: raw columns in, feature order, ONNX tensor names."""
    return {
        "feature_order": encoder.feature_names,
        "categorical": list(spec.categorical),
        "numeric": list(spec.numeric),
        "monotone": {f: m for f, m in zip(encoder.feature_names, monotone, strict=True) if m},
        "points_column": spec.points_column,
        "id_column": spec.id_column,
        "time_column": spec.time_column,
        "onnx_input": ONNX_INPUT,
        "onnx_input_dtype": "float32",
        "onnx_output": "probabilities",
        "onnx_output_column": 1,
    }


def bundle_files(
    fitted: Fitted,
    onnx_bytes: bytes,
    spec: DatasetSpec,
    monotone: list[int],
    metrics: dict[str, Any],
    report: dict[str, Any],
    training: dict[str, Any],
) -> dict[str, bytes]:
    """Every file of the bundle except the manifest, as bytes."""
    files = {
        MODEL_ONNX: onnx_bytes,
        MODEL_TEXT: fitted.booster.model_to_string().encode("utf-8"),
        "encoder.json": to_json_bytes(fitted.encoder.to_dict()),
        "calibrator.json": to_json_bytes(fitted.calibrator.to_dict()),
        "features.json": to_json_bytes(features_json(spec, fitted.encoder, monotone)),
        "master_scale.json": to_json_bytes(fitted.scale.to_dict()),
        "metrics.json": to_json_bytes(metrics),
        "evaluation.json": to_json_bytes(report),
        "training.json": to_json_bytes(training),
        "spec.json": to_json_bytes(spec.model_dump(mode="json")),
    }
    if fitted.blend is not None:
        files["blend.json"] = to_json_bytes(fitted.blend.to_dict())
    return files


def training_json(
    config: TrainingConfig,
    selected: CandidateResult,
    choice: Choice,
    parity: ParityResult,
    monotonicity: MonotonicityReport,
    split: dict[str, Any],
    fingerprint_: dict[str, str],
    dask: str | None,
) -> dict[str, Any]:
    """How the model was trained: candidate, parameters, study, checks, split, fingerprint."""
    study = {k: v for k, v in selected.detail.get("study", {}).items() if k != "trials"}
    return {
        "candidate": selected.name,
        "params": selected.params,
        "selection": choice.to_dict(),
        "study": study,
        "config": config.model_dump(mode="json"),
        "parity": parity.to_dict(),
        "monotonicity": monotonicity.to_dict(),
        "split": split,
        "fingerprint": fingerprint_,
        "trained_with": f"dask:{dask}" if dask else "single-process",
    }


def input_example(frame: pd.DataFrame, spec: DatasetSpec, rows: int = 5) -> pd.DataFrame:
    """Return a few raw input rows (features and points) with plain dtypes, for the pyfunc model."""
    columns = [*spec.features, *([spec.points_column] if spec.points_column else [])]
    example = frame[list(dict.fromkeys(columns))].head(rows).copy()
    for column in spec.categorical:
        example[column] = example[column].astype(object).where(example[column].notna(), None)
    for column in [c for c in example.columns if c not in spec.categorical]:
        example[column] = pd.to_numeric(example[column], errors="coerce").astype("float64")
    return example


def run_record(
    name: str,
    bundle_path: Path,
    metrics: dict[str, Any],
    training: dict[str, Any],
    results: dict[str, CandidateResult],
    candidate_rows: list[dict[str, Any]],
    report: dict[str, Any],
    plots: dict[str, bytes],
    example: pd.DataFrame,
) -> RunRecord:
    """Build the tracking record of a run: params, metrics, tags, reports, plots, children."""
    selected = results[training["candidate"]]
    params = {**selected.params, "candidate": selected.name}
    params |= {f"selection.{k}": v for k, v in training["selection"].items()}
    params |= {"calibration": report["calibration_oof"]["method"]}
    params |= {"imbalance": training["config"]["tuning"]["imbalance"]}
    params |= {"trained_with": training["trained_with"]}
    tags = {f"data.{k}": str(v) for k, v in training["fingerprint"].items()}
    tags |= {"bundle.version": bundle_path.name, "bundle.path": str(bundle_path)}
    tags |= {"bundle.manifest_sha256": sha256_file(bundle_path / "manifest.json")}
    children = [
        ChildRun(
            name=f"{name}/{row['name']}",
            params={**results[row["name"]].params, "candidate": row["name"]},
            metrics={
                "cv_log_loss_mean": row["cv_log_loss_mean"],
                "cv_log_loss_sd": row["cv_log_loss_sd"],
                "cv_auc_mean": row["cv_auc_mean"],
                "test_auc": row["test"]["auc"],
                "test_auc_low": row["test"]["auc_low"],
                "test_auc_high": row["test"]["auc_high"],
                "test_brier": row["test"]["brier"],
                "test_ks": row["test"]["ks"],
                "test_log_loss": row["test"]["log_loss"],
            },
            tags={"selected": str(row["selected"]).lower()},
        )
        for row in candidate_rows
    ]
    flat_metrics = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    studies = {r.name: r.detail["study"] for r in results.values() if "study" in r.detail}
    return RunRecord(
        name=name,
        bundle_path=bundle_path,
        params=params,
        metrics=flat_metrics,
        tags=tags,
        json_artifacts={
            "study.json": studies,
            "evaluation.json": report,
            "candidates.json": candidate_rows,
        },
        png_artifacts=plots,
        input_example=example,
        children=children,
    )


def plots(y_test: np.ndarray, scored_test: pd.DataFrame, scale: MasterScale) -> dict[str, bytes]:
    """ROC of points / model / blend and calibration per grade on the test vintage."""
    from training.plots import calibration_png, roc_png  # deferred: matplotlib, tracking only

    scores = {"model": scored_test["pd_model"].to_numpy()}
    if scored_test["pd_points_only"].notna().all():
        scores = {"points only": scored_test["pd_points_only"].to_numpy(), **scores}
        scores["blended"] = scored_test["pd"].to_numpy()
    labelled = {f"{k} (AUC {discrimination(y_test, v)['auc']:.3f})": v for k, v in scores.items()}
    return {
        "roc_test.png": roc_png(y_test, labelled, "ROC, test vintage"),
        "calibration_test.png": calibration_png(
            y_test, scored_test["pd"].to_numpy(), scale, "Calibration per grade, test vintage"
        ),
    }
