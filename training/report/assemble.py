"""Gather one training run's validation evidence into the report's context and charts.

The figures come from the evaluation stage (``training.evaluate``) wherever it already
computed them; this module adds what a validator needs besides: tests per grade at the
configured level, traffic lights, CAP and KS curves, TreeSHAP, the champion re-scored
on the same rows, and the texts that say what each test means.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.blend import PointsBlend
from training.bundle import sha256_bytes
from training.calibrate import Calibrator
from training.data import Splits
from training.encode import FeatureEncoder
from training.grades import MasterScale
from training.metrics import calibration_by_grade
from training.monotonicity import MonotonicityReport
from training.report import charts
from training.report.champion import ChampionView, find_champion
from training.report.config import Level, ReportConfig, calibration_level, worst
from training.report.explain import LinkWeights, ShapSummary, summarise
from training.report.render import data_uri
from training.spec import DatasetSpec
from training.tracking import TrackingTarget

_MODELS = {
    "points_only": "points only 仅积分",
    "model_only": "model only 仅模型",
    "blended": "blended 融合",
}


@dataclass(frozen=True)
class ReportInputs:
    """Everything of a training run the report reads (the pipeline fills it)."""

    name: str
    spec: DatasetSpec
    splits: Splits
    scored: dict[str, pd.DataFrame]
    evaluation: dict[str, Any]
    scale: MasterScale
    booster: lgb.Booster
    encoder: FeatureEncoder
    calibrator: Calibrator
    blend: PointsBlend | None
    monotonicity: MonotonicityReport
    onnx_bytes: bytes
    tracking: TrackingTarget | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Free facts shown in the header (e.g. the data fingerprint)."""
    points_table: dict[str, Any] | None = None
    """The scorecard candidate's points table, when one was built."""


@dataclass(frozen=True)
class Assembled:
    """The template's context and the PNG charts it embeds."""

    context: dict[str, Any]
    charts: dict[str, bytes]


def _scores(scored: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {"model only 仅模型": scored["pd_model"].to_numpy()}
    if scored["pd_points_only"].notna().all():
        out = {"points only 仅积分": scored["pd_points_only"].to_numpy(), **out}
        out["blended 融合"] = scored["pd"].to_numpy()
    return out


def _discrimination(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"split": s, **evaluation[s]} for s in ("train", "test") if s in evaluation]


def _comparison(evaluation: dict[str, Any], champion: ChampionView | None) -> list[dict[str, Any]]:
    rows = [
        {"model": _MODELS[k], **v} for k, v in evaluation["comparison_test"].items() if k in _MODELS
    ]
    if champion is not None and champion.same_rows is not None:
        label = f"champion 冠军 v{champion.registry_version} (same rows 同一样本)"
        rows.append({"model": label, **champion.same_rows})
    return rows


def _stability(evaluation: dict[str, Any], config: ReportConfig) -> dict[str, Any]:
    psi = evaluation["psi"]
    features = [
        {"feature": k, "psi": v, "level": config.psi.level(v)}
        for k, v in sorted(psi["features"].items(), key=lambda kv: -kv[1])
    ]
    score = {"psi": psi["score"], "level": config.psi.level(psi["score"])}
    levels = [score["level"], *(f["level"] for f in features)]
    return {"score": score, "features": features, "level": worst(levels)}


def _shap(inputs: ReportInputs, config: ReportConfig) -> ShapSummary:
    test = inputs.splits.test.frame
    matrix = inputs.encoder.transform(test)
    points = None
    if inputs.spec.points_column is not None:
        points = pd.to_numeric(test[inputs.spec.points_column], errors="coerce").to_numpy(float)
    link = LinkWeights.of(inputs.calibrator, inputs.blend)
    return summarise(
        inputs.booster,
        matrix,
        test[inputs.encoder.feature_names],
        inputs.encoder.feature_names,
        link,
        points,
        rows=config.shap.rows,
        seed=inputs.seed,
    )


def _draw(
    inputs: ReportInputs,
    shap: ShapSummary,
    grades: list[dict[str, Any]],
    stability: dict[str, Any],
    config: ReportConfig,
) -> dict[str, bytes]:
    y, scored = inputs.splits.test.y, inputs.scored["test"]
    scores = _scores(scored)
    psi = {f["feature"]: f["psi"] for f in stability["features"]}
    psi["PD (score)"] = stability["score"]["psi"]
    out = {
        "roc": charts.roc_png(y, scores),
        "cap": charts.cap_png(y, scores),
        "ks": charts.ks_png(y, scored["pd"].to_numpy()),
        "calibration": charts.calibration_png(grades),
        "psi": charts.psi_png(psi, config.psi, "PSI train → test 训练期→测试期"),
        "importance": charts.importance_png(
            shap.importance, config.shap.importance_features, shap.scale
        ),
    }
    ranked = [f for f in shap.importance if f in shap.features]
    for feature in ranked[: config.shap.dependence_features]:
        j = shap.features.index(feature)
        out[f"dependence_{feature}"] = charts.dependence_png(
            feature, shap.raw[feature].to_numpy(dtype=object), shap.contributions[:, j], shap.scale
        )
    return out


def _summary(
    evaluation: dict[str, Any],
    grades: list[dict[str, Any]],
    stability: dict[str, Any],
    mono: MonotonicityReport,
    champion: ChampionView | None,
) -> list[dict[str, Any]]:
    test = evaluation["test"]
    rejected = [g["grade"] for g in grades if g.get("rejected")]
    rows: list[dict[str, Any]] = [
        {
            "check": "Discrimination 区分能力",
            "level": None,
            "value": f"AUC {test['auc']:.4f} · Gini {test['gini']:.4f} · KS {test['ks']:.4f}",
        },
        {
            "check": "Calibration 校准",
            "level": calibration_level(len(rejected)),
            "value": f"{len(rejected)} grade(s) rejected {rejected or ''}".strip(),
        },
        {
            "check": "Stability 稳定性",
            "level": stability["level"],
            "value": f"PSI score {stability['score']['psi']:.4f}; worst feature "
            f"{max((f['psi'] for f in stability['features']), default=0.0):.4f}",
        },
        {
            "check": "Monotonicity 单调性",
            "level": Level.GREEN if mono.ok else Level.RED,
            "value": f"{len(mono.checked)} constrained, {len(mono.violations)} violated",
        },
    ]
    if champion is not None and champion.same_rows is not None:
        gap = test["auc"] - champion.same_rows["auc"]
        rows.append(
            {
                "check": "Champion 冠军模型",
                "level": Level.GREEN if gap >= 0 else Level.AMBER,
                "value": f"test AUC {gap:+.4f} against champion v{champion.registry_version}",
            }
        )
    return rows


def _points_rows(table: dict[str, Any] | None, config: ReportConfig) -> dict[str, Any] | None:
    """Return the points table, its features ordered by their spread of points (widest first)."""
    if table is None:
        return None
    features = sorted(
        table["features"],
        key=lambda f: -(max(b["points"] for b in f["bins"]) - min(b["points"] for b in f["bins"])),
    )
    shown = features[: config.shap.importance_features]
    return table | {"features": shown, "n_features": len(features), "n_shown": len(shown)}


def assemble(inputs: ReportInputs, config: ReportConfig) -> Assembled:
    """Compute every section of the report and draw its charts."""
    evaluation, test = inputs.evaluation, inputs.splits.test
    grades = calibration_by_grade(
        test.y, inputs.scored["test"]["pd"].to_numpy(), inputs.scale, alpha=config.alpha
    )
    stability = _stability(evaluation, config)
    champion = None
    if inputs.tracking is not None:
        champion = find_champion(inputs.tracking, inputs.name, test.frame, test.y)
    shap = _shap(inputs, config)
    drawn = _draw(inputs, shap, grades, stability, config)
    total = sum(shap.importance.values()) or 1.0
    context: dict[str, Any] = {
        "title": f"Model validation report 模型验证报告 — {inputs.name}",
        "meta": {
            "name": inputs.name,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "onnx_sha256": sha256_bytes(inputs.onnx_bytes),
            "scale_version": inputs.scale.scale_version,
            "report_version": config.report_version,
            "calibration": inputs.calibrator.method,
            "blend": inputs.blend.describe() if inputs.blend is not None else None,
            "split": inputs.splits.summary(),
            "features": len(inputs.encoder.feature_names),
            **inputs.extra,
        },
        "summary": _summary(evaluation, grades, stability, inputs.monotonicity, champion),
        "discrimination": _discrimination(evaluation),
        "comparison": _comparison(evaluation, champion),
        "champion": champion,
        "calibration_effect": evaluation["calibration_test"],
        "calibration_oof": evaluation.get("calibration_oof"),
        "candidates": evaluation.get("candidates", []),
        "selection": evaluation.get("selection"),
        "points_table": _points_rows(inputs.points_table, config),
        "grades": grades,
        "alpha": config.alpha,
        "stability": stability,
        "psi_thresholds": config.psi,
        "segments": evaluation["segments_test"],
        "monotonicity": inputs.monotonicity.to_dict(),
        "monotone": {
            f: inputs.spec.monotone[f]
            for f in inputs.monotonicity.checked
            if f in inputs.spec.monotone
        },
        "shap": {
            "rows": shap.rows,
            "scale": shap.scale,
            "base_value": shap.base_value,
            "importance": [
                {"feature": k, "value": v, "share": v / total}
                for k, v in list(shap.importance.items())[: config.shap.importance_features]
            ],
            "dependence": [
                k.removeprefix("dependence_") for k in drawn if k.startswith("dependence_")
            ],
        },
        "oracle": evaluation.get("oracle_test"),
        "texts": {k: v.model_dump() for k, v in config.texts.items()},
        "images": {k: data_uri(v) for k, v in drawn.items()},
    }
    return Assembled(context, drawn)
