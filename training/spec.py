"""Dataset spec: which column is what, read from YAML or JSON and checked before training.

A spec names the target and the value meaning default, the id and time columns, the
categorical and numeric features, the columns to drop, monotone constraints and the
optional innovation-points column that enables the blend. ``DatasetSpec`` checks the spec
on its own (a column in two lists, monotone on a non-numeric column); ``check_against``
checks it against the data (unknown columns, an absent label value, a single class), so
that every such mistake fails with a clear message before any training starts.
"""

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Literal, Self

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from training.errors import SpecError

_FEATURE_LISTS = ("categorical", "numeric", "drop")
_DIRECTIONS = {"increasing": 1, "decreasing": -1}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitSpec(_Strict):
    """Where the test part starts; everything before it is the training window.

    With a time column the test part is out of time: the latest applications, from
    ``test_start`` when given, else from the ``test_quantile`` of the application dates of
    mature rows. Without a time column: a stratified hold-out of ``holdout_share`` (grouped
    by ``group_column`` when the spec names one), with a fixed seed. There is no validation
    vintage: cross-validation inside the training window tunes, selects and calibrates.

    ``valid_start`` and ``valid_quantile`` are read for older specs and ignored.
    """

    valid_start: date | None = None
    test_start: date | None = None
    valid_quantile: float = Field(default=0.6, gt=0, lt=1)
    test_quantile: float = Field(default=0.8, gt=0, lt=1)
    holdout_share: float = Field(default=0.2, gt=0, lt=0.5)
    seed: int = 20240601

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.valid_start and self.test_start and not self.valid_start < self.test_start:
            raise ValueError(
                f"split.valid_start must be before split.test_start; got {self.valid_start} "
                f"and {self.test_start}"
            )
        return self


class DatasetSpec(_Strict):
    """What each column of a training dataset means to the pipeline."""

    spec_version: Literal[1] = 1
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """Registered model name; the CLI's ``--name`` wins, then this, then the spec file stem."""
    target: str
    positive_label: str | int | bool
    """Value of the target that means default."""
    id_column: str | None = None
    time_column: str | None = None
    group_column: str | None = None
    """Rows of one borrower (e.g. the credit code): never on both sides of a fold or split."""
    status_column: str = "outcome_status"
    """Rows whose status is in ``immature_values`` are excluded, when the column exists."""
    immature_values: tuple[str, ...] = ("immature",)
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    monotone: dict[str, Literal[1, -1]] = Field(default_factory=dict)
    """Risk direction per numeric feature: 1 if PD may only rise with it, -1 if only fall."""
    monotone_definitions: Path | None = None
    """Directory of feature-definition YAMLs whose ``monotone`` fields add constraints."""
    points_column: str | None = None
    segments: tuple[str, ...] = ()
    oracle_column: str | None = None
    """True PD of a simulated portfolio: evaluated against, never a feature."""
    unlisted_columns: Literal["error", "ignore"] = "error"
    split: SplitSpec = SplitSpec()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_lists(self)
        return self

    @property
    def features(self) -> list[str]:
        """Model features in their fixed order: categorical first, then numeric."""
        return [*self.categorical, *self.numeric]

    def named_columns(self) -> dict[str, str]:
        """Every column the spec names, mapped to the role that names it first."""
        named: dict[str, str] = {}
        singles = {
            "target": self.target,
            "id_column": self.id_column,
            "time_column": self.time_column,
            "group_column": self.group_column,
            "points_column": self.points_column,
            "oracle_column": self.oracle_column,
        }
        for role, column in singles.items():
            if column is not None:
                named.setdefault(column, role)
        for role in (*_FEATURE_LISTS, "segments"):
            for column in getattr(self, role):
                named.setdefault(column, role)
        for column in self.monotone:
            named.setdefault(column, "monotone")
        return named


def _check_lists(spec: DatasetSpec) -> None:
    counts = Counter(c for role in _FEATURE_LISTS for c in getattr(spec, role))
    for column, count in counts.items():
        if count > 1:
            roles = [r for r in _FEATURE_LISTS if column in getattr(spec, r)]
            raise ValueError(
                f"column {column!r} is in {' and '.join(roles)}; a column belongs to one list"
            )
    if not spec.features:
        raise ValueError("categorical and numeric are both empty; name at least one feature")
    singles = {
        "target": spec.target,
        "id_column": spec.id_column,
        "time_column": spec.time_column,
    }
    for role, column in singles.items():
        if column is not None and column in counts:
            raise ValueError(f"{role} {column!r} must not also be in categorical, numeric or drop")
    if spec.group_column is not None and spec.group_column in spec.features:
        raise ValueError(
            f"group_column {spec.group_column!r} must not be a model feature (it may be in drop)"
        )
    for column in spec.monotone:
        if column not in spec.numeric:
            raise ValueError(
                f"monotone names {column!r}, which is not in numeric; monotone constraints "
                "apply to numeric features only"
            )
    for column in spec.segments:
        if column not in spec.categorical and column not in spec.drop:
            raise ValueError(f"segment {column!r} must be a categorical or a dropped column")
    if spec.oracle_column is not None and spec.oracle_column in spec.features:
        raise ValueError(f"oracle_column {spec.oracle_column!r} must not be a model feature")
    if spec.points_column is not None and spec.points_column in spec.drop:
        raise ValueError(f"points_column {spec.points_column!r} must not be in drop")


def load_spec(path: Path) -> DatasetSpec:
    """Read a spec from YAML or JSON (by extension) and validate it.

    Raises:
        SpecError: the file is missing, unreadable or breaks a rule; the message names it.

    """
    if not path.is_file():
        raise SpecError(f"spec file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"spec file {path} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"spec file {path} must hold a mapping; got {type(raw).__name__}")
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(f"spec {path.name}: {_first_error(exc)}") from exc
    if spec.monotone_definitions is not None:
        folder = spec.monotone_definitions
        folder = folder if folder.is_absolute() else path.parent / folder
        spec = with_definition_constraints(spec, folder)
    return spec


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "spec"
    return f"{where}: {err['msg']}"


def with_definition_constraints(spec: DatasetSpec, folder: Path) -> DatasetSpec:
    """Add monotone constraints declared in feature-definition YAMLs; the spec's own win.

    Only numeric features of the spec are constrained; definitions of other features are
    ignored. A definition file is a mapping with a ``features`` list of ``name`` and
    ``monotone`` (``increasing``, ``decreasing`` or ``none``).
    """
    if not folder.is_dir():
        raise SpecError(f"monotone_definitions {folder} is not a directory")
    found: dict[str, Literal[1, -1]] = {}
    for file in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for feature in raw.get("features", []) if isinstance(raw, dict) else []:
            direction = _DIRECTIONS.get(str(feature.get("monotone", "none")))
            if direction is not None and feature.get("name") in spec.numeric:
                found[feature["name"]] = 1 if direction == 1 else -1
    merged = {**found, **spec.monotone}
    return spec.model_copy(update={"monotone": merged})


def check_against(spec: DatasetSpec, frame: pd.DataFrame) -> None:
    """Check that the spec fits the dataset; raise before any training if it does not.

    Raises:
        SpecError: an unknown or unlisted column, a non-numeric numeric feature, a label
            value absent from the target, or a target with one class among mature rows.

    """
    columns = set(frame.columns)
    for column, role in spec.named_columns().items():
        if column not in columns:
            raise SpecError(
                f"{role} names column {column!r}, which is not in the dataset "
                f"(columns: {', '.join(sorted(map(str, columns)))})"
            )
    if spec.unlisted_columns == "error":
        known = set(spec.named_columns()) | {spec.status_column}
        unlisted = sorted(str(c) for c in columns - known)
        if unlisted:
            raise SpecError(
                f"columns {unlisted} are in the dataset but in no list of the spec; add them to "
                "drop (or set unlisted_columns: ignore)"
            )
    numeric_like = [*spec.numeric, *([spec.points_column] if spec.points_column else [])]
    for column in numeric_like:
        if not (pd.api.types.is_numeric_dtype(frame[column]) or frame[column].isna().all()):
            raise SpecError(
                f"numeric column {column!r} has dtype {frame[column].dtype}; numeric features "
                "must hold numbers (put it in categorical instead)"
            )
    _check_target(spec, frame)


def _check_target(spec: DatasetSpec, frame: pd.DataFrame) -> None:
    target = frame[spec.target]
    mature = target.notna()
    if spec.status_column in frame.columns:
        mature &= ~frame[spec.status_column].isin(spec.immature_values)
    values = target[mature]
    positive = label_mask(values, spec.positive_label)
    seen = sorted({str(v) for v in values.unique()})[:10]
    if not positive.any():
        raise SpecError(
            f"positive_label {spec.positive_label!r} does not occur in target {spec.target!r} "
            f"among mature rows (values seen: {seen})"
        )
    if positive.all():
        raise SpecError(
            f"target {spec.target!r} has one class among mature rows (only "
            f"{spec.positive_label!r}); training needs defaults and non-defaults"
        )


def label_mask(values: pd.Series, positive_label: str | int | bool) -> pd.Series:
    """Return True where a target value equals the positive label.

    Numbers compare as numbers (so ``1`` matches ``1.0`` read from CSV), everything else as
    stripped text (so ``"bad"`` matches ``bad``).
    """
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        label = int(positive_label) if isinstance(positive_label, bool) else positive_label
        number = pd.to_numeric(pd.Series([label]), errors="coerce").iloc[0]
        if pd.notna(number):
            return (values.astype(float) == float(number)).fillna(False)
    return values.astype(str).str.strip() == str(positive_label).strip()
