"""Encode feature rows into the model's float32 matrix without pandas, for single requests.

``training.encode.FeatureEncoder.transform`` builds a DataFrame per call, about 10 ms for
one row; a request needs microseconds. ``RowEncoder`` applies the same fitted tables to
plain values and gives bit-identical matrices (``tests/serving/test_encoding.py`` checks
it against ``FeatureEncoder`` on every row of a fixture, missing values included):

- categorical: missing (None, NaN) is the category ``__missing__``; other values are
  compared as text (``str``, as pandas' string dtype writes them); the smoothed WoE of the
  category, 0.0 for an unseen one;
- numeric: numbers as float32, text parsed as a number, anything else or an infinity is
  missing; a column without missing values in train gets its train median.

Files are scored with ``FeatureEncoder`` itself (vectorised over a chunk).
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np

from training.encode import MISSING, FeatureEncoder


def _category(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return value if isinstance(value, str) else str(value)


def _number(value: object) -> float:
    if value is None or (isinstance(value, str | bytes) and not value):
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


class RowEncoder:
    """A fitted ``FeatureEncoder`` applied value by value."""

    def __init__(self, encoder: FeatureEncoder) -> None:
        self.names: tuple[str, ...] = tuple(encoder.feature_names)
        self._tables = tuple((c, encoder.woe_[c]) for c in encoder.categorical)
        self._numeric = tuple(encoder.numeric)
        offset = len(encoder.categorical)
        fills = [encoder.fill_[c] for c in encoder.numeric]
        self._fill_at = np.array([offset + j for j, v in enumerate(fills) if v is not None])
        self._fill = np.array([v for v in fills if v is not None], dtype=np.float32)

    def encode(self, rows: Sequence[Mapping[str, object]]) -> np.ndarray:
        """Return the float32 matrix (rows x ``names``); absent keys count as missing."""
        values = [
            [table.get(_category(row.get(column)), 0.0) for column, table in self._tables]
            + [_number(row.get(column)) for column in self._numeric]
            for row in rows
        ]
        # float64 -> float32 rounds as pandas' astype does; fills apply after, as in training.
        out = np.asarray(values, dtype=np.float64).reshape(len(rows), len(self.names))
        out32 = out.astype(np.float32)
        if len(self._fill_at):
            block = out32[:, self._fill_at]
            out32[:, self._fill_at] = np.where(np.isnan(block), self._fill, block)
        return out32
