"""Turn column arrays into Arrow tables typed by the contract and write Parquet parts.

A table is built as a ``Frame``: column name to numpy array. Dates are numpy
``datetime64[D]`` (NaT for null), counts are float (NaN for null), strings are object
arrays, or ``Coded`` columns when few distinct strings repeat over many rows (credit
codes in the daily and monthly tables: converting millions of Python strings to Arrow
one by one would dominate the run time). The Arrow types come from the pandera contract
so the files match it exactly; nothing time-dependent goes into the files, so the same
data give the same bytes.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from features.contracts.tables import CONTRACTS
from features.layout import DataLayout
from jifen.errors import DataContractError


@dataclass
class Coded:
    """A string column kept as its distinct values and one index per row."""

    values: npt.NDArray[np.object_]
    index: npt.NDArray[np.int64]

    @property
    def dtype(self) -> np.dtype[np.object_]:
        """Behave like an object array for code that inspects the kind."""
        return np.dtype(object)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows: Any) -> Any:
        return self.values[self.index[rows]]

    def __setitem__(self, row: int, value: Any) -> None:
        self.values = np.append(self.values, np.array([value], dtype=object))
        self.index[row] = len(self.values) - 1

    def copy(self) -> Self:
        """Return an independent copy."""
        return type(self)(self.values.copy(), self.index.copy())

    def take(self, rows: npt.NDArray[np.int64]) -> Self:
        """Return the column restricted to ``rows``."""
        return type(self)(self.values, self.index[rows])

    def extend(self, other: Self) -> Self:
        """Return this column followed by ``other``."""
        return type(self)(
            np.concatenate([self.values, other.values]),
            np.concatenate([self.index, other.index + len(self.values)]),
        )

    def to_arrow(self) -> pa.Array:
        """Arrow string array, built by an Arrow take (no per-row Python strings)."""
        return pa.array(self.values, type=pa.string()).take(pa.array(self.index))


Column = npt.NDArray[Any] | Coded
Frame = dict[str, Column]
_COMPRESSION = "zstd"
_ARROW_TYPES = {
    "str": pa.string(),
    "datetime64[ms]": pa.date32(),
    "datetime64[ns]": pa.date32(),
    "float64": pa.float64(),
    "Int64": pa.int64(),
    "int64": pa.int64(),
    "bool": pa.bool_(),
}


@cache
def arrow_schema(table: str) -> pa.Schema:
    """Arrow schema of a raw table, in the contract's column order."""
    columns = CONTRACTS[table].schema.columns
    fields = []
    for name, column in columns.items():
        kind = str(column.dtype)
        if kind not in _ARROW_TYPES:
            raise DataContractError(f"table {table}: column {name} has unmapped dtype {kind}")
        fields.append(pa.field(name, _ARROW_TYPES[kind], nullable=True))
    return pa.schema(fields)


def _to_arrow(values: Column, kind: pa.DataType) -> pa.Array:
    if isinstance(values, Coded):
        return values.to_arrow()
    if values.dtype.kind == "O":
        return pa.array(values, type=kind)  # strings are never null here: skip NaN checks
    if kind == pa.int64() and values.dtype.kind == "f":
        missing = np.isnan(values)
        return pa.array(np.where(missing, 0, values).astype(np.int64), mask=missing, type=kind)
    if kind == pa.date32():
        return pa.array(values.astype("datetime64[D]"), type=kind, from_pandas=True)
    return pa.array(values, type=kind, from_pandas=True)


def to_table(table: str, frame: Frame) -> pa.Table:
    """Build the Arrow table of ``frame``; it must hold exactly the contract's columns."""
    schema = arrow_schema(table)
    if set(frame) != set(schema.names):
        raise DataContractError(
            f"table {table}: simulator columns {sorted(frame)} differ from the contract "
            f"{sorted(schema.names)}"
        )
    arrays = [_to_arrow(frame[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def frame_rows(frame: Frame) -> int:
    """Return the number of rows of a frame."""
    return len(next(iter(frame.values()))) if frame else 0


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write one Parquet file deterministically (no timestamps, fixed settings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression=_COMPRESSION)


class PartWriter:
    """Write each raw table's chunk as ``part-NNNNN.parquet`` under the layout."""

    def __init__(self, layout: DataLayout) -> None:
        self.layout = layout
        self.rows: dict[str, int] = dict.fromkeys(CONTRACTS, 0)

    def clear(self) -> None:
        """Remove parts of a previous run so stale chunks cannot mix with new ones."""
        for table in CONTRACTS:
            for old in sorted(self.layout.raw(table).glob("part-*.parquet")):
                old.unlink()

    def write(self, table: str, chunk: int, frame: Frame) -> None:
        """Write the frame as part ``chunk`` of ``table``."""
        arrow = to_table(table, frame)
        write_parquet(arrow, self.layout.raw(table) / f"part-{chunk:05d}.parquet")
        self.rows[table] += arrow.num_rows


class OracleWriter:
    """Append row groups to one oracle Parquet file, chunk after chunk."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        self._writer = pq.ParquetWriter(path, schema, compression=_COMPRESSION)

    def write(self, columns: dict[str, npt.NDArray[Any]]) -> None:
        """Append one chunk's rows."""
        arrays = [pa.array(columns[f.name], type=f.type, from_pandas=True) for f in self.schema]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        """Finish the file."""
        self._writer.close()
