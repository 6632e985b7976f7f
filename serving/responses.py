"""Public shapes of scoring: what ``/v1/score``, replays, the model card and reloads return.

Kept apart from the request and stored shapes (``serving.schemas``). Every number here is
finite: missing values are ``null``, never NaN.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from serving.schemas import DecisionId, UtcTime


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class Bilingual(_Public):
    """A text in Chinese and English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str
    en: str


class Outcome(StrEnum):
    """The recommendation: the worst outcome among the rules that fired."""

    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"


class FiredRule(_Public):
    """A policy rule that fired, with what it saw and its threshold."""

    id: str
    kind: str
    standard: str | None = None
    """The five-standards item the rule checks, if it is one."""
    outcome: Outcome
    value: float | int | str | bool | None
    threshold: float | int | str | bool | list[Any] | None
    missing: bool = False
    """True when the rule fired because its field had no value."""
    message: Bilingual


StandardStatus = Literal["pass", "fail", "unknown"]
LimitBasis = Literal["revenue_share", "product_max", "product_max_no_revenue", "declined"]


class FiveStandard(_Public):
    """One of the five standards and whether the screen passed it."""

    id: str
    name: Bilingual
    status: StandardStatus
    rules: list[str]


class LimitAdvice(_Public):
    """The suggested limit and how it was reached."""

    suggested_wan: float
    product_max_wan: float
    grade_factor: float
    basis: LimitBasis


class SubsidyAdvice(_Public):
    """Interest-subsidy eligibility by revenue band."""

    eligible: bool
    max_rate_pct: float | None = None
    band: str | None = None
    revenue_wan: float | None = None
    reason: str


class ReasonDirection(StrEnum):
    """Which way a line of the explanation moved the risk."""

    RAISES = "raises"
    LOWERS = "lowers"


class Reason(_Public):
    """One line of the exact explanation, in words."""

    feature: str
    value: float | int | str | bool | None
    shap: float
    """Contribution to the score's logit."""
    direction: ReasonDirection
    text_zh: str
    text_en: str


class Reasons(_Public):
    """The largest contributions on each side."""

    raising: list[Reason]
    lowering: list[Reason]


class GradeBand(_Public):
    """A grade of the master scale and the PDs it holds, (lower, upper]."""

    grade: str
    pd_lower: float
    pd_upper: float


class GradeView(GradeBand):
    """The grade of this decision."""

    scale_version: str


class IndicatorPoints(_Public):
    """Points one indicator gave (or cost)."""

    indicator: str
    points: float


class PointsView(_Public):
    """The innovation points beside the model, as the store or the caller gave them."""

    total: float | None
    source: str | None
    """Where the total came from: a store group, ``inline``, or null if missing."""
    blend_fill_used: bool
    """The blend read its training median because the points were missing."""
    classes: dict[str, float]
    """Points per first-level class of the catalogue (技术创新, 成长经营, 辅助)."""
    details: dict[str, float | int | bool]
    """Further points columns: rank percentile, white list, indicators missing."""
    top_gained: list[IndicatorPoints]
    top_lost: list[IndicatorPoints]


class ScoreLine(_Public):
    """The blended score: model margin and points on one logit, and the PD of it."""

    logit: float
    """``explanation.base_value + Σ contributions + points_line`` exactly."""
    scale: Literal["blended_logit", "calibrated_logit", "model_logit"]
    pd_lightgbm: float
    """PD of this logit through the LightGBM chain (``pd`` is ONNX Runtime's)."""
    onnx_logit: float
    """The same logit as the served ONNX chain computes it (float32 margin)."""


class Explanation(_Public):
    """Exact TreeSHAP of the score's logit: base + contributions + points line = logit."""

    base_value: float
    contributions: dict[str, float]
    points_line: float


class ScoreResult(_Public):
    """A scored, recorded decision."""

    decision_id: DecisionId
    request_id: str | None
    decision: Outcome
    pd: float = Field(description="Final PD from ONNX Runtime (blended when the model blends).")
    pd_model: float
    pd_points_only: float | None
    grade: GradeView
    score: ScoreLine
    points: PointsView
    rules: list[FiredRule]
    five_standards: list[FiveStandard]
    limit: LimitAdvice
    subsidy: SubsidyAdvice
    reasons: Reasons
    explanation: Explanation
    model_version: str
    catalogue_version: str
    policy_version: str
    feature_as_of: dict[str, UtcTime]
    scored_at: UtcTime
    server_ms: float = Field(description="Time from receipt to the committed audit record.")


class BatchItemError(_Public):
    """Why one application of a batch was not scored."""

    status: int
    detail: str


class BatchItem(_Public):
    """One application of a batch: its result, or its error."""

    index: int
    result: ScoreResult | None = None
    error: BatchItemError | None = None


class BatchScoreResult(_Public):
    """Every application of a batch, in request order; all recorded in one transaction."""

    items: list[BatchItem]
    scored: int
    failed: int
    server_ms: float


class Difference(_Public):
    """One output that a replay did not reproduce."""

    path: str
    stored: JsonValue
    replayed: JsonValue


class ReplayResult(_Public):
    """A decision re-scored from its stored inputs with its stored model version."""

    decision_id: DecisionId
    identical: bool
    model_version: str
    policy_version_recorded: str | None
    policy_version_now: str
    differences: list[Difference]
    replayed: dict[str, JsonValue]


class ModelFeature(_Public):
    """A model input, with its meaning and declared risk direction."""

    name: str
    kind: Literal["categorical", "numeric"]
    group: str | None
    description_zh: str | None
    description_en: str | None
    monotone: int
    """Constraint the model was trained with: +1, -1 or 0."""


class ModelCard(_Public):
    """What is served: version, provenance, metrics, inputs, points and grades."""

    name: str
    version: str
    model_version: str
    source: str
    loaded_at: datetime
    manifest_sha256: str
    created_at: str | None
    catalogue_version: str
    """Catalogue of the points served with this model (the feature set's points rule)."""
    trained_catalogue_version: str
    """Catalogue of the points the model was trained on, as its bundle records it."""
    policy_version: str
    reasons_version: str
    feature_service: str
    metrics: dict[str, JsonValue]
    score_link: dict[str, JsonValue]
    points_column: str | None
    features: list[ModelFeature]
    master_scale: list[GradeBand]
    scale_version: str
    cached_versions: list[str]
    fallback: str | None = None
    """Why an older bundle is served than the settings choose (the newer one was refused at
    start-up); null when the served bundle is the one they choose."""


class ReloadRequest(BaseModel):
    """Which version to load; the settings' choice (pin or newest) when absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class WorkerModel(_Public):
    """The model one worker process served before a reload and serves now."""

    worker: int
    """The worker's number (0 when the service runs in one process)."""
    pid: int | None
    previous: str | None
    serving: str | None
    """null: the worker did not confirm in time (the reload is then a 503)."""


class ReloadResult(_Public):
    """The outcome of a reload: every worker serves ``current``."""

    previous: str | None
    """What the worker that took the request served before."""
    current: str
    changed: bool
    """Whether any worker serves another version than before."""
    workers: list[WorkerModel]
