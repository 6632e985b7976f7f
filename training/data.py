"""Data stage: load a dataset, drop immature outcomes, cut the test part off.

With a time column the test part is out of time: the latest applications, from
``split.test_start`` or the ``split.test_quantile`` of the mature rows' dates. Without one,
a stratified hold-out with a fixed seed, grouped by the spec's ``group_column`` when it
names one (a firm is never on both sides). Everything before the test part is the
training window, where cross-validation tunes, selects and calibrates, and on which the
served model is fitted. Rows whose outcome is not mature (a null target, or a status marked
immature) are excluded and counted: they carry no label yet.

Before any training the data must clear the configured minimums (rows and defaults), and
numeric columns may hold only numbers or blanks: ``inf``, ``nan`` and other text in a
numeric column is refused with its count and first row, never read as a number.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from training.config import MinimumsConfig
from training.errors import DatasetError
from training.spec import DatasetSpec, check_against, label_mask

MISSING_TEXT = ("", "NA", "N/A", "null", "NULL", "None")
"""Cells read as missing in a CSV; any other text in a numeric column is refused."""


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
    """The training window and the test part, with how they were cut and what was excluded."""

    train: Part
    test: Part
    method: str
    n_excluded_immature: int
    n_excluded_no_date: int = 0
    bounds: dict[str, str] = field(default_factory=dict)

    def parts(self) -> tuple[Part, Part]:
        """Return the two parts in time order."""
        return self.train, self.test

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
        DatasetError: the file is missing, has an unknown extension or cannot be parsed, or
            a numeric column holds text or an infinite value.

    """
    if not path.is_file():
        raise DatasetError(f"dataset {path} does not exist")
    text_columns = [
        *spec.categorical,
        *[c for c in (spec.id_column, spec.group_column) if c is not None],
    ]
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(
                path,
                dtype={c: "string" for c in text_columns},
                keep_default_na=False,
                na_values=list(MISSING_TEXT),
            )
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            raise DatasetError(f"dataset {path}: extension {suffix!r} must be .csv or .parquet")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"dataset {path} cannot be read: {exc}") from exc
    for column in text_columns:
        if column in frame.columns:
            frame[column] = frame[column].astype("string")
    _refuse_non_numbers(frame, spec, path)
    return frame


def _refuse_non_numbers(frame: pd.DataFrame, spec: DatasetSpec, path: Path) -> None:
    """Refuse text (``inf``, ``nan``, ``n/a``…) and infinities in numeric columns."""
    columns = [*spec.numeric, *([spec.points_column] if spec.points_column else [])]
    for column in [c for c in columns if c in frame.columns]:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values):
            bad = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
        else:
            parsed = pd.to_numeric(values, errors="coerce")
            bad = (parsed.isna() & values.notna()).to_numpy()
            bad |= np.isinf(parsed.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            shown = values.iloc[first]
            shown = str(float(shown)) if isinstance(shown, float | np.floating) else str(shown)
            raise DatasetError(
                f"dataset {path.name}: numeric column {column!r} holds {int(bad.sum())} value(s) "
                f"that are not finite numbers (first at data row {first + 1}: "
                f"{shown!r}); write a number, or leave the cell blank for missing"
            )


def prepare(frame: pd.DataFrame, spec: DatasetSpec, minimums: MinimumsConfig) -> Splits:
    """Check the spec and the minimums against the data, exclude immature rows and split.

    Raises:
        SpecError: the spec does not fit the data (see ``check_against``).
        DatasetError: too few rows or defaults, a date cannot be parsed, or a part is empty
            or has one class.

    """
    check_against(spec, frame)
    immature = frame[spec.target].isna()
    if spec.status_column in frame.columns:
        immature |= frame[spec.status_column].isin(spec.immature_values)
    mature = frame.loc[~immature].copy()
    _check_minimums(mature, spec, minimums)
    n_immature = int(immature.sum())
    if spec.time_column is None:
        return _holdout(mature, spec, n_immature)
    dates = _parse_dates(mature[spec.time_column], spec.time_column)
    has_date = dates.notna()
    mature, dates = mature.loc[has_date].copy(), dates[has_date]
    mature[spec.time_column] = dates
    return _by_vintage(mature, spec, spec.time_column, n_immature, int((~has_date).sum()))


def _check_minimums(mature: pd.DataFrame, spec: DatasetSpec, minimums: MinimumsConfig) -> None:
    n, bads = len(mature), int(_labels(mature, spec).sum())
    if n < minimums.rows:
        raise DatasetError(
            f"the dataset has {n} mature rows; training needs at least minimums.rows = "
            f"{minimums.rows}"
        )
    if bads < minimums.bads:
        raise DatasetError(
            f"target {spec.target!r} has {bads} defaults ({spec.positive_label!r}) among {n} "
            f"mature rows; training needs at least minimums.bads = {minimums.bads}"
        )


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
            f"{name} part has {part.n} rows and {part.defaults} defaults; each part needs "
            "both classes (move split.test_start or split.test_quantile)"
        )
    return part


def _by_vintage(
    frame: pd.DataFrame, spec: DatasetSpec, column: str, n_immature: int, n_no_date: int
) -> Splits:
    dates = frame[column]
    if spec.split.test_start is not None:
        test_start = pd.Timestamp(spec.split.test_start)
        method = "out_of_time_date"
    else:
        quantile = dates.quantile(spec.split.test_quantile)
        test_start = pd.Timestamp(quantile).normalize()  # type: ignore[arg-type]
        method = "out_of_time_quantile"
    frame = frame.sort_values(column, kind="stable")
    dates = frame[column]
    train = _part("train", frame.loc[dates < test_start], spec)
    test = _part("test", frame.loc[dates >= test_start], spec)
    bounds = {
        "train_from": str(dates.min().date()),
        "test_start": str(test_start.date()),
        "test_to": str(dates.max().date()),
    }
    return Splits(train, test, method, n_immature, n_no_date, bounds)


def _holdout(frame: pd.DataFrame, spec: DatasetSpec, n_immature: int) -> Splits:
    y = _labels(frame, spec)
    share, seed = spec.split.holdout_share, spec.split.seed
    if spec.group_column is not None:
        groups = frame[spec.group_column].astype("string").fillna("__missing__").to_numpy()
        cut = GroupShuffleSplit(n_splits=1, test_size=share, random_state=seed)
        train_idx, test_idx = next(cut.split(frame, y, groups))
        train, test = frame.iloc[train_idx], frame.iloc[test_idx]
        method = "grouped_holdout"
    else:
        try:
            train, test = train_test_split(frame, test_size=share, stratify=y, random_state=seed)
        except ValueError as exc:
            raise DatasetError(
                f"stratified split of {len(frame)} mature rows failed: {exc}"
            ) from exc
        method = "stratified_holdout"
    return Splits(_part("train", train, spec), _part("test", test, spec), method, n_immature)
