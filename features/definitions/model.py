"""Feature definitions as data: one YAML file per group, validated by pydantic.

A feature set version lives in ``features/definitions/<version>/``: ``feature_set.yaml``
holds the version, its description and the pipeline rules (thresholds such as the
electricity unit-error rule); every other ``*.yaml`` file holds the features of one group.
The model's monotone constraints, the reason texts and the Feast schema all read from here.
"""

from enum import StrEnum
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jifen.errors import ConfigError, NotFoundError

SOURCE_TABLES = (
    "enterprises",
    "innovation_filings",
    "electricity_monthly",
    "checkins_daily",
    "tax_monthly",
    "credit_events",
    "applications",
)
SET_FILE = "feature_set.yaml"


class Group(StrEnum):
    """Where a feature's signal comes from; one Feast feature view per entity group."""

    ELECTRICITY = "electricity"
    CHECKINS = "checkins"
    TAX = "tax"
    CREDIT = "credit"
    INNOVATION = "innovation"
    FIRM = "firm"
    POINTS = "points"
    APPLICATION = "application"


ENTITY_GROUPS = tuple(g for g in Group if g is not Group.APPLICATION)
"""Groups that describe the enterprise (served online); application fields come per request."""


class Monotone(StrEnum):
    """Expected direction of risk as the feature grows (feeds monotone constraints)."""

    INCREASING = "increasing"
    DECREASING = "decreasing"
    NONE = "none"

    @property
    def constraint(self) -> int:
        """LightGBM-style constraint: +1, -1 or 0."""
        return {"increasing": 1, "decreasing": -1, "none": 0}[self.value]


Dtype = Literal["float64", "int64", "bool", "string"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureDefinition(_Strict):
    """One feature: its meaning in two languages, its source, window and risk direction."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{2,63}$")
    description_zh: str = Field(min_length=2)
    description_en: str = Field(min_length=5)
    sources: tuple[str, ...] = Field(min_length=1)
    window: str = Field(pattern=r"^(none|latest|\d+[dm](_vs_\d+[dm])?|as_of)$")
    group: Group
    monotone: Monotone
    dtype: Dtype
    fill_missing: float | bool | None = None
    """Value used when no source record exists; NULL (None) unless stated, never silent 0."""

    @model_validator(mode="after")
    def _check(self) -> "FeatureDefinition":
        unknown = [s for s in self.sources if s not in SOURCE_TABLES]
        if unknown:
            raise ValueError(
                f"sources of {self.name} must be raw tables {SOURCE_TABLES}; got {unknown[0]!r}"
            )
        if self.dtype == "string" and self.monotone is not Monotone.NONE:
            raise ValueError(f"monotone of string feature {self.name} must be none")
        return self


class UnitErrorRule(_Strict):
    """A meter reading this many times below its meter's median was reported in MWh."""

    min_ratio: float = Field(gt=1)
    max_ratio: float = Field(gt=1)
    factor: float = Field(gt=1)
    median_window_months: int = Field(ge=3, le=60)

    @model_validator(mode="after")
    def _ordered(self) -> "UnitErrorRule":
        if not self.min_ratio < self.factor < self.max_ratio:
            raise ValueError(
                "unit_error needs min_ratio < factor < max_ratio; got "
                f"{self.min_ratio}, {self.factor}, {self.max_ratio}"
            )
        return self


class PointsRule(_Strict):
    """Which indicator catalogue the ``points`` group is scored with, and on which date."""

    catalogue: str = Field(min_length=1)
    snap: Literal["exact", "month"] = "month"
    """``month`` scores each as-of date at the last month end on or before it."""


class PipelineRules(_Strict):
    """Thresholds of the point-in-time pipelines, versioned with the feature set."""

    unit_error: UnitErrorRule
    low_month_share_of_median: float = Field(gt=0, lt=1)
    checkin_known_after_days: int = Field(ge=0, le=30)
    points: PointsRule


class FeatureSet(_Strict):
    """A versioned, ordered list of features with the rules that compute them."""

    feature_set_version: str = Field(pattern=r"^v\d+(\.\d+)*$")
    description: str
    rules: PipelineRules
    features: tuple[FeatureDefinition, ...]

    @model_validator(mode="after")
    def _unique(self) -> "FeatureSet":
        seen: set[str] = set()
        for feature in self.features:
            if feature.name in seen:
                raise ValueError(f"feature name {feature.name!r} is defined twice")
            seen.add(feature.name)
        return self

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Feature names in definition order."""
        return tuple(f.name for f in self.features)

    def by_group(self, group: Group) -> tuple[FeatureDefinition, ...]:
        """Features of one group, in definition order."""
        return tuple(f for f in self.features if f.group is group)

    def entity_features(self) -> tuple[FeatureDefinition, ...]:
        """Features that describe the enterprise (everything but application fields)."""
        return tuple(f for f in self.features if f.group is not Group.APPLICATION)

    def monotone_constraints(self) -> dict[str, int]:
        """Constraint per feature name (+1 risk rises, -1 risk falls, 0 free)."""
        return {f.name: f.monotone.constraint for f in self.features}


def definitions_dir() -> Path:
    """Folder holding one sub-folder per shipped feature set version."""
    return Path(str(resources.files("features.definitions")))


def list_feature_sets() -> list[str]:
    """Shipped feature set versions, sorted by name."""
    return sorted(p.name for p in definitions_dir().iterdir() if (p / SET_FILE).is_file())


def load_feature_set(version_or_dir: str | Path = "v1") -> FeatureSet:
    """Load and validate a feature set by shipped version or by folder.

    Args:
        version_or_dir: A shipped version such as ``"v1"`` or a folder with a
            ``feature_set.yaml`` and one YAML file per group.

    Raises:
        NotFoundError: No such version or folder.
        ConfigError: A file is not valid YAML or breaks a rule; the message names the
            file and the field.

    """
    folder = Path(version_or_dir)
    if not folder.is_dir():
        folder = definitions_dir() / str(version_or_dir)
    if not (folder / SET_FILE).is_file():
        raise NotFoundError(
            f"feature set {version_or_dir!s} has no {SET_FILE}; shipped: {list_feature_sets()}"
        )
    # Cached per folder and file stamps: loaders on hot paths pay the YAML parse once.
    stamps = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.yaml")))
    return _load_folder(folder.resolve(), stamps)


@lru_cache(maxsize=16)
def _load_folder(folder: Path, stamps: tuple[tuple[str, int], ...]) -> FeatureSet:
    header = _read_yaml(folder / SET_FILE)
    features: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == SET_FILE:
            continue
        features.extend(_group_features(path, header.get("feature_set_version")))
    try:
        return FeatureSet.model_validate({**header, "features": features})
    except ValidationError as exc:
        raise ConfigError(f"feature set in {folder} is invalid: {exc}") from exc


def _group_features(path: Path, version: object) -> list[dict[str, Any]]:
    data = _read_yaml(path)
    if data.get("feature_set_version") != version:
        raise ConfigError(
            f"{path.name}: feature_set_version must equal {version!r} from {SET_FILE}; "
            f"got {data.get('feature_set_version')!r}"
        )
    group = data.get("group")
    items = data.get("features")
    if not isinstance(items, list):
        raise ConfigError(f"{path.name}: features must be a list; got {type(items).__name__}")
    return [{"group": group, **item} for item in items]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name} must hold a mapping; got {type(data).__name__}")
    return data
