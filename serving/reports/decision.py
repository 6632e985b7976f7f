"""Assemble one decision's report from its audit record and the model that made it.

Every number comes from the sealed record (inputs, outputs, explanation) or from the
recorded model version's bundle (master scale, validation metrics, training reference);
texts come from the feature definitions (each feature's description in both languages,
its sources) and the report file. Nothing is re-scored: the report shows what was
decided, and ``POST /v1/decisions/{id}/replay`` is there to show it can be reproduced.
"""

import math
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final

from pydantic import JsonValue

from features.definitions.model import FeatureDefinition, FeatureSet
from serving.core.audit import AuditRow, hash_matches
from serving.core.db import Store
from serving.core.policy import Policy
from serving.reports.config import DecisionReportConfig
from serving.schemas import StoredRecord
from training.bundle import Bundle
from training.report.reference import FILENAME as REFERENCE_FILE
from training.report.reference import peer_percentile
from training.report.render import data_uri

VALIDATION_REPORT: Final = "validation_report.html"
_VALIDATION_METRICS: Final = (
    ("test_auc", "AUC"),
    ("test_gini", "Gini"),
    ("test_ks", "KS"),
    ("test_brier", "Brier"),
    ("points_only_test_auc", "AUC points only 仅积分"),
    ("model_only_test_auc", "AUC model only 仅模型"),
    ("psi_score", "PSI score (train → test)"),
    ("grades_rejected", "grades rejected 被拒绝等级数"),
    ("monotonicity_ok", "monotone constraints hold 单调约束满足"),
    ("n_train", "train rows 训练样本"),
    ("n_test", "test rows 测试样本"),
)


@dataclass(frozen=True)
class ChainPosition:
    """Where a record sits in the hash chain and what checks of it found."""

    lane: int
    """The chain (one per writing process) the record is stored in."""
    sequence: int
    head_sequence: int
    hash_valid: bool
    """The record's content still hashes to its stored hash."""
    link_valid: bool | None
    """Its ``prev_hash`` is the stored hash of record ``sequence − 1`` (None for the first)."""


def chain_position(store: Store, row: AuditRow) -> ChainPosition:
    """Check a record's own hash and its link to its predecessor; find the chain's head."""
    link: bool | None = None
    if row.sequence > 1:
        previous = next(store.iter_rows(lane=row.lane, from_sequence=row.sequence - 1), None)
        link = previous is not None and previous.sequence == row.sequence - 1
        link = link and previous is not None and previous.hash == row.prev_hash
    head = store.head(row.lane)
    return ChainPosition(
        row.lane, row.sequence, head.sequence if head else row.sequence, hash_matches(row), link
    )


def _dict(value: JsonValue | None) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: JsonValue | None) -> list[Any]:
    return value if isinstance(value, list) else []


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _describe(name: str, definitions: dict[str, FeatureDefinition]) -> dict[str, str]:
    found = definitions.get(name)
    if found is None:
        return {"name": name, "zh": name, "en": name}
    return {"name": name, "zh": found.description_zh, "en": found.description_en}


def _explanation(
    record: StoredRecord, definitions: dict[str, FeatureDefinition]
) -> tuple[list[dict[str, Any]], bytes]:
    from serving.reports.charts import Line, waterfall_png  # deferred: matplotlib is slow

    ex, values = record.explanation, _dict(record.inputs.get("values"))
    contributions = {k: float(v) for k, v in _dict(ex.get("contributions")).items()}
    link = _dict(ex.get("link"))
    points_name = link.get("points_column")
    lines: list[dict[str, Any]] = [
        {**_describe(n, definitions), "value": _shown(values.get(n)), "contribution": c}
        for n, c in contributions.items()
    ]
    points_line = float(ex.get("points_line") or 0.0)  # type: ignore[arg-type]
    if points_name:
        lines.append(
            {
                **_describe(str(points_name), definitions),
                "contribution": points_line,
                "value": _shown(values.get(str(points_name))),
            }
        )
    lines.sort(key=lambda line: -abs(line["contribution"]))
    base = float(ex.get("base_value") or 0.0)  # type: ignore[arg-type]
    final = float(_dict(record.outputs.get("score")).get("logit") or 0.0)
    chart = waterfall_png(
        base, [Line(f"{x['zh']} = {x['value']}", x["contribution"]) for x in lines], final
    )
    return lines, chart


def _points(
    record: StoredRecord,
    reference: dict[str, Any] | None,
    definitions: dict[str, FeatureDefinition],
    policy: Policy | None,
) -> dict[str, Any]:
    points = _dict(record.outputs.get("points"))
    values = _dict(record.inputs.get("values"))
    total = points.get("total")
    threshold = None
    if policy is not None:
        for rule in policy.rules:
            if rule.kind.value == "points" and isinstance(rule.when.value, int | float):
                threshold = float(rule.when.value)
    layout = policy.points.classes if policy is not None else {}
    classes = [
        {**_describe(layout.get(cls, f"points_{cls}"), definitions), "class": cls, "points": v}
        for cls, v in _dict(points.get("classes")).items()
    ]
    peers: list[dict[str, Any]] = []
    details = _dict(points.get("details"))
    if isinstance(details.get("points_pct_zone_industry"), int | float):
        peers.append(
            {
                "group": "同园区同行业 same zone and industry (points engine, same date)",
                "n": None,
                "median": None,
                "percentile": float(details["points_pct_zone_industry"]),
            }
        )
    stored = (reference or {}).get("peers")
    if isinstance(total, int | float) and isinstance(stored, dict):
        levels = stored["quantile_levels"]
        groups = [("训练组合 training portfolio (all)", stored["all"])]
        for column, by_value in stored.get("by", {}).items():
            own = values.get(column)
            if own is not None and str(own) in by_value:
                groups.append((f"{column} = {own} (training portfolio)", by_value[str(own)]))
        for label, summary in groups:
            if summary.get("quantiles"):
                peers.append(
                    {
                        "group": label,
                        "n": summary["n"],
                        "median": summary["quantiles"][5],
                        "percentile": peer_percentile(summary["quantiles"], levels, float(total)),
                    }
                )
    return {
        "total": total,
        "source": points.get("source"),
        "fill_used": bool(points.get("blend_fill_used")),
        "threshold": threshold,
        "classes": classes,
        "details_described": [
            {**_describe(k, definitions), "value": _shown(v)} for k, v in details.items()
        ],
        "top_gained": _list(points.get("top_gained")),
        "top_lost": _list(points.get("top_lost")),
        "peers": peers,
        "catalogue_version": record.catalogue_version,
        "pd_points_only": record.outputs.get("pd_points_only"),
    }


def _provenance(
    record: StoredRecord, feature_set: FeatureSet, config: DecisionReportConfig
) -> list[dict[str, Any]]:
    sources = {str(k): str(v) for k, v in _dict(record.inputs.get("sources")).items()}
    tables_of: dict[str, set[str]] = {}
    for feature in feature_set.features:
        tables_of.setdefault(feature.group.value, set()).update(feature.sources)
    rows = []
    for group, as_of in sorted(record.feature_as_of.items(), key=lambda kv: kv[0]):
        tables = sorted(tables_of.get(group, set()))
        rows.append(
            {
                "group": group,
                "label": config.group(group),
                "as_of": as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "tables": [config.tables.get(t) or {"zh": t, "en": t} for t in tables],
                "table_names": tables,
                "features": sorted(n for n, g in sources.items() if g == group),
            }
        )
    return rows


def _model(bundle: Bundle, reference: dict[str, Any] | None) -> dict[str, Any]:
    metrics = bundle.metrics
    files = bundle.manifest.get("files", {})
    report = files.get(VALIDATION_REPORT, {})
    return {
        "name": bundle.name,
        "version": bundle.version,
        "created_at": bundle.manifest.get("created_at"),
        "metrics": [
            {"key": k, "label": label, "value": metrics[k]}
            for k, label in _VALIDATION_METRICS
            if k in metrics
        ],
        "validation_report_sha256": report.get("sha256"),
        "fingerprint": bundle.manifest.get("fingerprint", {}),
        "reference_period": (reference or {}).get("period"),
        "scale": [{"grade": g, "low": lo, "high": hi} for g, lo, hi in bundle.scale.bounds()],
    }


def decision_context(
    record: StoredRecord,
    chain: ChainPosition,
    bundle: Bundle,
    reference: dict[str, Any] | None,
    feature_set: FeatureSet,
    policy: Policy | None,
    config: DecisionReportConfig,
) -> dict[str, Any]:
    """Return the template context of one decision's report (its waterfall embedded)."""
    definitions = {f.name: f for f in feature_set.features}
    out = record.outputs
    request = _dict(record.inputs.get("request"))
    application = _dict(request.get("application"))
    product = str(application.get("product", ""))
    product_name = (
        policy.products[product].name.model_dump()
        if policy is not None and product in policy.products
        else {"zh": product, "en": product}
    )
    lines, chart = _explanation(record, definitions)
    reasons = _dict(record.explanation.get("reasons"))
    outcome = str(out.get("decision"))
    pd_final = out.get("pd")
    return {
        "title": f"Decision report 决策报告 — {record.decision_id}",
        "record": record,
        "chain": chain,
        "outcome": outcome,
        "outcome_label": config.outcomes.get(outcome),  # type: ignore[call-overload]
        "pd": pd_final,
        "pd_model": out.get("pd_model"),
        "pd_points_only": out.get("pd_points_only"),
        "pd_is_finite": isinstance(pd_final, float) and math.isfinite(pd_final),
        "grade": _dict(out.get("grade")),
        "limit": _dict(out.get("limit")),
        "subsidy": _dict(out.get("subsidy")),
        "score": _dict(out.get("score")),
        "application": application,
        "credit_code": _dict(request.get("enterprise")).get("credit_code"),
        "request_id": request.get("request_id"),
        "product_name": product_name,
        "policy_version": record.inputs.get("policy_version"),
        "reasons_version": record.inputs.get("reasons_version"),
        "raising": _list(reasons.get("raising")),
        "lowering": _list(reasons.get("lowering")),
        "lines": lines,
        "base_value": record.explanation.get("base_value"),
        "rules": _list(out.get("rules")),
        "five_standards": _list(out.get("five_standards")),
        "standard_status": {k: v.model_dump() for k, v in config.standard_status.items()},
        "points": _points(record, reference, definitions, policy),
        "provenance": _provenance(record, feature_set, config),
        "model": _model(bundle, reference),
        "texts": {k: v.model_dump() for k, v in config.texts.items()},
        "report_version": config.report_version,
        "images": {"waterfall": data_uri(chart)},
        "reference_file": REFERENCE_FILE,
    }
