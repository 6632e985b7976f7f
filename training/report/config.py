"""Report configuration: PSI thresholds, test level, SHAP sizes and bilingual test texts.

Read from the shipped ``training/report/report.yaml`` (or a file given by the caller) and
validated once; ``load_report_config`` is cached per path.
"""

from enum import StrEnum
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Literal, Self, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from training.errors import TrainingConfigError

SHIPPED = "report.yaml"
Section = Literal[
    "discrimination",
    "accuracy",
    "calibration",
    "stability",
    "segments",
    "monotonicity",
    "explainability",
    "comparison",
    "monitoring",
]


class Level(StrEnum):
    """Traffic light of a stability index (or of a whole report: its worst light)."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Frozen):
    """A text in Chinese and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class PsiThresholds(_Frozen):
    """PSI at or above ``amber`` is amber, at or above ``red`` is red."""

    amber: float = Field(gt=0)
    red: float = Field(gt=0)
    bins: int = Field(ge=2, le=50)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.amber < self.red:
            raise ValueError(f"psi.amber must be below psi.red; got {self.amber} and {self.red}")
        return self

    def level(self, value: float | None) -> Level:
        """Traffic light of one PSI (a missing PSI is green: nothing to compare)."""
        if value is None or value < self.amber:
            return Level.GREEN
        return Level.AMBER if value < self.red else Level.RED


class ShapConfig(_Frozen):
    """How much of the test vintage TreeSHAP explains and how many features are plotted."""

    rows: int = Field(ge=50, le=100_000)
    dependence_features: int = Field(ge=0, le=12)
    importance_features: int = Field(ge=1, le=100)


class ReportConfig(_Frozen):
    """The report file."""

    report_version: str = Field(min_length=1)
    psi: PsiThresholds
    alpha: float = Field(gt=0, lt=0.5)
    shap: ShapConfig
    min_segment_rows: int = Field(ge=1)
    texts: dict[Section, Bilingual]

    @model_validator(mode="after")
    def _every_text(self) -> Self:
        missing = sorted(set(get_args(Section)) - set(self.texts))
        if missing:
            raise ValueError(f"texts must explain every section; missing {missing}")
        return self


def worst(levels: list[Level]) -> Level:
    """Return the worst of several traffic lights (green when there are none)."""
    order = [Level.GREEN, Level.AMBER, Level.RED]
    return max(levels, key=order.index, default=Level.GREEN)


def calibration_level(rejected: int) -> Level:
    """Light of a calibration test over all grades: 0 rejected green, 1 amber, 2+ red.

    Ten grades tested at 5 % reject one by chance about four times in ten, so a single
    rejection is a question, two are a finding.
    """
    return Level.GREEN if rejected == 0 else Level.AMBER if rejected == 1 else Level.RED


def load_report_config(path: Path | None = None) -> ReportConfig:
    """Load and validate the report configuration (default: the shipped file).

    Raises:
        TrainingConfigError: the file is missing, not YAML, or breaks a rule (named).

    """
    return _load(str(path) if path is not None else None)


@lru_cache(maxsize=4)
def _load(path: str | None) -> ReportConfig:
    where = path or f"training/report/{SHIPPED}"
    try:
        text = (
            Path(path).read_text(encoding="utf-8")
            if path is not None
            else files("training.report").joinpath(SHIPPED).read_text(encoding="utf-8")
        )
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise TrainingConfigError(f"report config {where} cannot be read: {exc}") from exc
    try:
        return ReportConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "file"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise TrainingConfigError(f"report config {where}: {field}: {message}") from exc
