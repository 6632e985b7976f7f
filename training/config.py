"""Training configuration: one frozen pydantic model read from versioned YAML.

The embedded ``training/config/training.yaml`` holds every default. A user file passed with
``--config`` only needs the keys it changes; it is merged over the default mapping by
mapping (lists and scalars are replaced whole).
"""

from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from training.errors import TrainingConfigError

DEFAULT_CONFIG = "training.yaml"
MAX_COMPACT_LOG_LOSS_TOLERANCE = 0.01
"""Most mean CV log loss the served model may give up for fewer trees (a material loss)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Frozen):
    """A search range of one hyperparameter."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.low < self.high:
            raise ValueError(f"low must be below high; got {self.low} and {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0; got {self.low}")
        return self


class SearchSpace(_Frozen):
    """Ranges Optuna's TPE sampler draws LightGBM parameters from."""

    learning_rate: Range
    num_leaves: Range
    feature_fraction: Range
    bagging_fraction: Range
    lambda_l1: Range
    lambda_l2: Range
    min_gain_to_split: Range
    path_smooth: Range
    max_bin: tuple[int, ...] = Field(min_length=1)
    extra_trees: tuple[bool, ...] = Field(min_length=1)
    min_child_share: Range
    """min_child_samples as a share of the training rows (the search adapts to the data)."""
    small_data_bads: int = Field(ge=0)
    small_data_max_leaves: int = Field(ge=2)
    """Below ``small_data_bads`` defaults, num_leaves is searched up to this."""


class TuningConfig(_Frozen):
    """Budget, early stopping, imbalance handling and search space of the study."""

    n_trials: int = Field(ge=1, le=10_000)
    timeout_seconds: float | None = Field(default=None, gt=0)
    max_boost_rounds: int = Field(ge=10, le=100_000)
    early_stopping_rounds: int = Field(ge=5, le=10_000)
    imbalance: Literal["none", "tune_scale_pos_weight"]
    monotone_methods: tuple[Literal["basic", "intermediate", "advanced"], ...] = Field(min_length=1)
    search: SearchSpace
    compact_log_loss_tolerance: float = 0.0005

    @field_validator("compact_log_loss_tolerance")
    @classmethod
    def _tolerance_in_range(cls, value: float) -> float:
        # Written out rather than Field(ge=, le=) so the message names the range and the value
        # (also refuses NaN, which compares false both ways).
        if not 0 <= value <= MAX_COMPACT_LOG_LOSS_TOLERANCE:
            raise ValueError(f"must be in [0, {MAX_COMPACT_LOG_LOSS_TOLERANCE}]; got {value}")
        return value


class CvConfig(_Frozen):
    """Cross-validation inside the training window: tuning, selection and calibration.

    Folds are stratified by the label and grouped by the spec's ``group_column`` when it
    names one. With fewer than ``small_data_bads`` defaults in the training window the
    folds are repeated ``small_data_repeats`` times (small data: a single cut is noisy).
    """

    folds: int = Field(ge=2, le=20)
    tuning_folds: int = Field(ge=2, le=20)
    """Folds of the LightGBM study (it fits every trial on each: fewer is cheaper)."""
    repeats: int = Field(ge=1, le=20)
    small_data_bads: int = Field(ge=0)
    small_data_repeats: int = Field(ge=1, le=20)


class MinimumsConfig(_Frozen):
    """The least data a spec may train on, checked before any training."""

    rows: int = Field(ge=10)
    bads: int = Field(ge=2)
    bads_per_fold: int = Field(ge=1)


class ScorecardConfig(_Frozen):
    """The WoE logistic scorecard candidate (OptBinning binning, then logistic regression)."""

    enabled: bool = True
    min_prebin_size: float = Field(gt=0, le=0.5)
    max_n_bins: int = Field(ge=2, le=50)
    max_n_prebins: int = Field(ge=2, le=100)
    undeclared_trend: str = Field(min_length=1)
    """OptBinning's monotonic_trend for features without a declared direction."""
    c_grid: tuple[float, ...] = Field(min_length=1)
    """Inverse L2 strengths tried by cross-validation."""
    pdo: float = Field(gt=0)
    base_points: float
    base_odds: float = Field(gt=0)
    """Odds good:bad at ``base_points``; points double the odds every ``pdo`` points."""


class SelectionConfig(_Frozen):
    """Which candidate is served: best mean CV log loss, with the one-standard-error rule."""

    rule: Literal["one_se", "best"]
    simplicity: tuple[str, ...] = Field(min_length=1)
    """Candidates from simplest to most complex; under one_se the simplest within 1 SE wins."""
    stack: bool = True
    """Also offer the stack of the scorecard and LightGBM (weights fitted out of fold)."""
    refit_on_test: bool | Literal["auto"] = "auto"
    """Refit the served model on every row, test part included (reported as such).

    ``auto``: only when the test part is a random hold-out (no time column). There is then
    no out-of-time judgement to keep, cross-validation already gives the out-of-sample
    figures, and a small book should not lose a fifth of its rows to a hold-out whose AUC
    interval is too wide to tell anything. With a time column the latest vintage stays
    unseen, and judges exactly the served model."""
    serve: str = "auto"
    """``auto`` applies the rule; a candidate's name serves that one whatever the CV says
    (a bank's policy, e.g. scorecards only), and the report says it was imposed."""


class EncodingConfig(_Frozen):
    """Smoothed weight-of-evidence encoding of categorical features."""

    smoothing: float = Field(ge=0)
    folds: int = Field(ge=2, le=20)


class CalibrationConfig(_Frozen):
    """Which calibrator maps the model's probability to PD (``auto``: lower CV log loss)."""

    method: Literal["platt", "isotonic", "auto"]
    pd_floor: float = Field(ge=0, lt=0.01)
    pd_cap: float = Field(gt=0.5, le=1)


class ParityConfig(_Frozen):
    """ONNX-versus-LightGBM parity check run before export."""

    min_rows: int = Field(ge=1000)
    tolerance: float = Field(gt=0, le=1e-3)


class EvaluationConfig(_Frozen):
    """Binning of stability indices and the smallest segment worth a row of metrics."""

    psi_bins: int = Field(ge=2, le=50)
    min_segment_rows: int = Field(ge=1)


class MonotonicityConfig(_Frozen):
    """The post-training check of monotone constraints."""

    on_violation: Literal["fail", "warn"]
    rows: int = Field(ge=10, le=100_000)
    grid_size: int = Field(ge=3, le=1000)


class DaskConfig(_Frozen):
    """The local cluster started by ``--dask local``."""

    local_workers: int = Field(ge=1, le=64)


class PromotionConfig(_Frozen):
    """Rule of ``jifen promote``."""

    margin: float = Field(ge=0, le=0.2)


class TrainingConfig(_Frozen):
    """Everything about how to train that is not about the dataset (that is the spec)."""

    config_version: Literal[1]
    seed: int
    n_jobs: int = Field(ge=1, le=64)
    tuning: TuningConfig
    cv: CvConfig
    minimums: MinimumsConfig
    scorecard: ScorecardConfig
    selection: SelectionConfig
    encoding: EncodingConfig
    calibration: CalibrationConfig
    parity: ParityConfig
    evaluation: EvaluationConfig
    monotonicity: MonotonicityConfig
    dask: DaskConfig
    promotion: PromotionConfig

    def with_budget(self, n_trials: int | None, timeout_seconds: float | None) -> "TrainingConfig":
        """Return a copy with the CLI's trial and wall-time budget applied where given."""
        update: dict[str, Any] = {}
        if n_trials is not None:
            update["n_trials"] = n_trials
        if timeout_seconds is not None:
            update["timeout_seconds"] = timeout_seconds
        if not update:
            return self
        raw = self.model_dump()
        raw["tuning"].update(update)
        return _validate(raw, "budget options")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validate(raw: dict[str, Any], source: str) -> TrainingConfig:
    try:
        return TrainingConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        raise TrainingConfigError(f"training config ({source}): {where}: {message}") from exc


def embedded_text(name: str) -> str:
    """Return the text of a YAML file shipped in ``training/config/``."""
    return files("training").joinpath("config", name).read_text(encoding="utf-8")


def load_config(path: Path | None = None) -> TrainingConfig:
    """Load the embedded default, merged with the user file at ``path`` when given.

    Raises:
        TrainingConfigError: the user file is missing, not a mapping or breaks a rule.

    """
    base = yaml.safe_load(embedded_text(DEFAULT_CONFIG))
    if path is None:
        return _validate(base, "embedded default")
    if not path.is_file():
        raise TrainingConfigError(f"training config {path} does not exist")
    override = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(override, dict):
        raise TrainingConfigError(f"training config {path} must hold a mapping")
    return _validate(_merge(base, override), str(path))
