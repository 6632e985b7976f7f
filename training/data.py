"""Data stage: load a dataset, drop immature outcomes, split out of time by vintage.

With a time column, train holds the oldest applications, validation the next vintage and
test the latest, cut by configurable dates or by quantiles of the application date. Without
one, a stratified hold-out with a fixed seed. Rows whose outcome is not mature (a null
target, or a status marked immature) are excluded and counted: they carry no label yet.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from training.errors import DatasetError
from training.spec import DatasetSpec, check_against, label_mask


@dataclass(frozen=True)
class Part:
    """One split: the original columns of its rows and the 0/1 default label."""

    name: str
    frame: pd.DataFrame
    y: np.ndarray

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.frame)

    @property
    def defaults(self) -> int:
        """Number of defaults."""
        return int(self.y.sum())


@dataclass(frozen=True)
class Splits:
    """Train, validation and test parts, with how they were cut and what was excluded."""

    train: Part
    valid: Part
    test: Part
    method: str
    n_excluded_immature: int
    n_excluded_no_date: int = 0
    bounds: dict[str, str] = field(default_factory=dict)

    def parts(self) -> tuple[Part, Part, Part]:
        """Return the three parts in time order."""
        return self.train, self.valid, self.test

    def summary(self) -> dict[str, object]:
        """Return counts and cut points, for metrics.json and the tracking run."""
        out: dict[str, object] = {
            "split_method": self.method,
            "n_excluded_immature": self.n_excluded_immature,
            "n_excluded_no_date": self.n_excluded_no_date,
            **self.bounds,
        }
        for part in self.parts():
            out[f"n_{part.name}"] = part.n
            out[f"defaults_{part.name}"] = part.defaults
        return out


def load_dataset(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """Read a CSV or Parquet file; categorical and id columns are read as text.

    Raises:
        DatasetError: the file is missing, has an unknown extension or cannot be parsed.

    """
    if not path.is_file():
        raise DatasetError(f"dataset {path} does not exist")
    text_columns = [*spec.categorical, *([spec.id_column] if spec.id_column else [])]
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype={c: "string" for c in text_columns})
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            raise DatasetError(f"dataset {path}: extension {suffix!r} must be .csv or .parquet")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"dataset {path} cannot be read: {exc}") from exc
    for column in text_columns:
        if column in frame.columns:
            frame[column] = frame[column].astype("string")
    return frame


def prepare(frame: pd.DataFrame, spec: DatasetSpec) -> Splits:
    """Check the spec against the data, exclude immature rows and split.

    Raises:
        SpecError: the spec does not fit the data (see ``check_against``).
        DatasetError: a date cannot be parsed or a split is empty or has one class.

    """
    check_against(spec, frame)
    immature = frame[spec.target].isna()
    if spec.status_column in frame.columns:
        immature |= frame[spec.status_column].isin(spec.immature_values)
    mature = frame.loc[~immature].copy()
    n_immature = int(immature.sum())
    if spec.time_column is None:
        return _stratified(mature, spec, n_immature)
    dates = _parse_dates(mature[spec.time_column], spec.time_column)
    has_date = dates.notna()
    mature, dates = mature.loc[has_date].copy(), dates[has_date]
    mature[spec.time_column] = dates
    return _by_vintage(mature, spec, spec.time_column, n_immature, int((~has_date).sum()))


def _parse_dates(values: pd.Series, column: str) -> pd.Series:
    try:
        return pd.to_datetime(values, errors="raise").dt.normalize()
    except (ValueError, TypeError) as exc:
        raise DatasetError(
            f"time_column {column!r} holds a value that is not a date: {exc}"
        ) from exc


def _labels(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    return label_mask(frame[spec.target], spec.positive_label).to_numpy(dtype=np.int8)


def _part(name: str, frame: pd.DataFrame, spec: DatasetSpec) -> Part:
    part = Part(name, frame.reset_index(drop=True), _labels(frame, spec))
    if part.n == 0 or part.defaults in (0, part.n):
        raise DatasetError(
            f"{name} split has {part.n} rows and {part.defaults} defaults; each split needs "
            "both classes (move split.valid_start / split.test_start or the quantiles)"
        )
    return part


def _by_vintage(
    frame: pd.DataFrame, spec: DatasetSpec, column: str, n_immature: int, n_no_date: int
) -> Splits:
    dates = frame[column]
    if spec.split.valid_start is not None and spec.split.test_start is not None:
        valid_start = pd.Timestamp(spec.split.valid_start)
        test_start = pd.Timestamp(spec.split.test_start)
        method = "out_of_time_dates"
    else:
        valid_start = pd.Timestamp(dates.quantile(spec.split.valid_quantile)).normalize()  # type: ignore[arg-type]
        test_start = pd.Timestamp(dates.quantile(spec.split.test_quantile)).normalize()  # type: ignore[arg-type]
        method = "out_of_time_quantiles"
    frame = frame.sort_values(column, kind="stable")
    dates = frame[column]
    train = _part("train", frame.loc[dates < valid_start], spec)
    valid = _part("valid", frame.loc[(dates >= valid_start) & (dates < test_start)], spec)
    test = _part("test", frame.loc[dates >= test_start], spec)
    bounds = {
        "train_from": str(dates.min().date()),
        "valid_start": str(valid_start.date()),
        "test_start": str(test_start.date()),
        "test_to": str(dates.max().date()),
    }
    return Splits(train, valid, test, method, n_immature, n_no_date, bounds)


def _stratified(frame: pd.DataFrame, spec: DatasetSpec, n_immature: int) -> Splits:
    y = _labels(frame, spec)
    share, seed = spec.split.holdout_share, spec.split.seed
    try:
        rest, test = train_test_split(frame, test_size=share, stratify=y, random_state=seed)
        rest_y = _labels(rest, spec)
        train, valid = train_test_split(
            rest, test_size=share / (1 - share), stratify=rest_y, random_state=seed + 1
        )
    except ValueError as exc:
        raise DatasetError(f"stratified split of {len(frame)} mature rows failed: {exc}") from exc
    return Splits(
        _part("train", train, spec),
        _part("valid", valid, spec),
        _part("test", test, spec),
        "stratified_holdout",
        n_immature,
    )
