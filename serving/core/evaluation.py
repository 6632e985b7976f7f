"""The pure part of a decision: assembled inputs → PD, grade, explanation, rules, limit.

Given the same inputs, model version, policy and reason texts, ``evaluate`` always gives
the same outputs, to the bit; a replay relies on it. Everything it returns is plain JSON
(finite numbers, ``null`` for missing), ready for the audit record and the response.
"""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from pydantic import JsonValue

from serving.core.audit import canonical_json
from serving.core.bundle import Explanations, Predictions, ServedModel
from serving.core.features import APPLICATION_GROUP, INLINE_GROUP, AssembledInputs
from serving.core.policy import Policy
from serving.core.reasons import ReasonWriter
from serving.core.rules import (
    decide,
    evaluate_rules,
    five_standards,
    limit_rule,
    product_rules,
    subsidy,
    suggest_limit,
)
from serving.responses import Outcome
from serving.schemas import Application

JsonDict = dict[str, JsonValue]


@dataclass(frozen=True)
class Evaluation:
    """What one application's inputs give under one model, policy and reason texts."""

    outputs: JsonDict
    """Decision, PDs, grade, score line, points, fired rules, limit, subsidy."""
    explanation: JsonDict
    """Base value, every contribution, the points line, the reasons, the link."""

    @property
    def outcome(self) -> str:
        """approve, refer or decline."""
        return str(self.outputs["decision"])


@dataclass(frozen=True)
class _Block:
    """The vectorised results of a block of rows, read row by row."""

    predictions: Predictions
    explanations: Explanations
    served_logit: np.ndarray
    lightgbm_pd: np.ndarray
    points_in: np.ndarray


def canonical(value: object) -> JsonValue:
    """Return ``value`` as it reads back from the audit log (for exact comparisons)."""
    parsed: JsonValue = json.loads(canonical_json(value))
    return parsed


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _feature_age_days(application_date: date, as_of: Mapping[str, datetime]) -> int | None:
    store = [t for g, t in as_of.items() if g not in (APPLICATION_GROUP, INLINE_GROUP)]
    return (application_date - min(store).date()).days if store else None


def _points_view(
    policy: Policy, row: AssembledInputs, total_name: str, fill_used: bool
) -> JsonDict:
    """Return the points beside the model (``PointsView`` as JSON)."""
    layout, values = policy.points, row.values
    total = _number(values.get(total_name))
    classes = {cls: _number(values.get(column)) for cls, column in layout.classes.items()}
    details: dict[str, JsonValue] = {
        column: values[column]  # type: ignore[misc]
        for column in layout.details
        if isinstance(values.get(column), bool | int | float) and _finite_or_flag(values[column])
    }
    prefix = layout.indicator_prefix
    indicators = {
        n.removeprefix(prefix): v
        for n in values
        if prefix and n.startswith(prefix) and (v := _number(values[n])) is not None
    }
    ranked = sorted(indicators.items(), key=lambda x: (-x[1], x[0]))
    top = layout.top_indicators
    gained: list[JsonValue] = [{"indicator": k, "points": v} for k, v in ranked[:top] if v > 0]
    lost: list[JsonValue] = [{"indicator": k, "points": v} for k, v in ranked[::-1] if v < 0]
    return {
        "total": total,
        "source": row.sources.get(total_name) if total is not None else None,
        "blend_fill_used": fill_used,
        "classes": {k: v for k, v in classes.items() if v is not None},
        "details": details,
        "top_gained": gained,
        "top_lost": lost[:top],
    }


def _finite_or_flag(value: object) -> bool:
    return isinstance(value, bool) or _number(value) is not None


def evaluate(
    model: ServedModel,
    policy: Policy,
    writer: ReasonWriter,
    applications: Sequence[Application],
    rows: Sequence[AssembledInputs],
    per_direction: int,
) -> list[Evaluation]:
    """Score, explain and decide a block of applications from their assembled inputs."""
    # predict and explain: one ONNX run and one TreeSHAP run for the whole block.
    matrix = model.encode_rows([r.values for r in rows])
    column = model.points_column
    given = [_number(r.values.get(column)) if column else None for r in rows]
    points = np.array([np.nan if v is None else v for v in given], dtype=np.float64)
    predictions = model.predict(matrix, points)
    explanations = model.explain(matrix, predictions.points_used)
    block = _Block(
        predictions,
        explanations,
        model.served_logit(predictions),
        model.pd_of_logit(explanations.logit),
        points,
    )
    return [
        _evaluate_row(model, policy, writer, app, row, block, i, per_direction)
        for i, (app, row) in enumerate(zip(applications, rows, strict=True))
    ]


def _evaluate_row(
    model: ServedModel,
    policy: Policy,
    writer: ReasonWriter,
    app: Application,
    row: AssembledInputs,
    block: _Block,
    i: int,
    per_direction: int,
) -> Evaluation:
    pred, expl, link = block.predictions, block.explanations, model.link
    scale = model.bundle.scale
    grade_name, lower, upper = model.grade_bounds[int(pred.grade_index[i])]
    total_name = model.points_column or policy.points.total
    # decide: every rule sees the inputs plus the score's derived fields.
    context = {
        **row.values,
        "pd": float(pred.pd[i]),
        "grade": int(pred.grade_index[i]) + 1,
        "points_total": row.values.get(total_name),
        "feature_age_days": _feature_age_days(app.application_date, row.as_of),
    }
    fired = evaluate_rules(policy, context, app.product)
    fired += product_rules(policy, app.product, app.amount_wan, app.term_months)
    revenue = row.values.get(policy.limit.revenue_field)
    declined = decide(fired) is Outcome.DECLINE
    limit = suggest_limit(policy, app.product, grade_name, revenue, declined)
    above = limit_rule(policy, app.amount_wan, limit)
    fired += [above] if above is not None else []
    outcome = decide(fired)
    points_in = float(block.points_in[i])
    fill_used = model.points_column is not None and math.isnan(points_in)
    # explain: the exact lines, and the largest of them in words.
    points_line = (
        (
            total_name,
            None if fill_used else points_in,
            link.points_fill or 0.0,
            float(expl.points_line[i]),
        )
        if model.points_column
        else None
    )
    raising, lowering = writer.top(
        model.feature_order, row.values, expl.contributions[i], points_line, per_direction
    )
    outputs: JsonDict = {
        "decision": outcome.value,
        "pd": float(pred.pd[i]),
        "pd_model": float(pred.pd_model[i]),
        "pd_points_only": _number(float(pred.pd_points_only[i])),
        "grade": {
            "grade": grade_name,
            "pd_lower": lower,
            "pd_upper": upper,
            "scale_version": scale.scale_version,
        },
        "score": {
            "logit": float(expl.logit[i]),
            "scale": link.scale,
            "pd_lightgbm": float(block.lightgbm_pd[i]),
            "onnx_logit": float(block.served_logit[i]),
        },
        "points": _points_view(policy, row, total_name, fill_used),
        "rules": [r.as_json() for r in fired],
        "five_standards": [s.as_json() for s in five_standards(policy, fired)],
        "limit": limit.as_json(),
        "subsidy": subsidy(policy, app.product, revenue, outcome).as_json(),
    }
    explanation: JsonDict = {
        "base_value": float(expl.base[i]),
        "contributions": dict(
            zip(model.feature_order, expl.contributions[i].tolist(), strict=True)
        ),
        "points_line": float(expl.points_line[i]),
        "reasons": {"raising": raising, "lowering": lowering},  # type: ignore[dict-item]
        "link": link.as_json(),  # type: ignore[dict-item]
    }
    return Evaluation(outputs, explanation)
