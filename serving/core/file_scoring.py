"""Score a CSV or Parquet file in chunks: ``jifen score FILE``.

Rows carry the model's raw features (and the points column when the model blends); each
chunk is encoded with the bundle's vectorised encoder, scored with ONNX Runtime in one
call and, with explanations, explained with one TreeSHAP call. No feature store, policy
or audit log is involved: this is the model's offline scoring, e.g. for a portfolio
review or a back-test, and the output names the model version it came from.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from jifen.errors import DataContractError
from serving.core.bundle import ServedModel

DEFAULT_CHUNK: Final = 50_000
ID_COLUMNS: Final = ("application_id", "credit_code", "id")
"""Columns copied to the output, when present, so rows can be joined back."""


def _reader(path: Path, chunk: int, categorical: list[str]) -> Iterator[pa.RecordBatch]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=chunk)
    elif suffix == ".csv":
        options = pacsv.ConvertOptions(column_types={c: pa.string() for c in categorical})
        read = pacsv.ReadOptions(block_size=1 << 22)
        with pacsv.open_csv(path, read_options=read, convert_options=options) as reader:
            for batch in reader:
                yield from (batch.slice(i, chunk) for i in range(0, batch.num_rows, chunk))
    else:
        raise DataContractError(f"FILE must be .csv or .parquet; got {path.name!r}")


def count_rows(path: Path) -> int | None:
    """Rows of a Parquet file from its footer, or of a CSV by counting lines (header off)."""
    if path.suffix.lower() == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
    return max(lines - 1, 0)


def score_frame(model: ServedModel, frame: pd.DataFrame, explain: bool, top: int) -> pd.DataFrame:
    """Score one chunk; with ``explain`` add base, points line, SHAP per feature and top reasons."""
    missing = [c for c in model.feature_order if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"columns {missing[:8]} of model {model.model_version} are not in the file"
        )
    matrix = model.encode_frame(frame)
    column = model.points_column
    points = (
        pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        if column and column in frame.columns
        else np.full(len(frame), np.nan)
    )
    pred = model.predict(matrix, points)
    out = pd.DataFrame({c: frame[c].to_numpy() for c in ID_COLUMNS if c in frame.columns})
    out["pd"] = pred.pd
    out["pd_model"] = pred.pd_model
    out["pd_points_only"] = pred.pd_points_only
    out["grade"] = np.asarray(model.bundle.scale.names, dtype=object)[pred.grade_index]
    out["score_logit"] = model.served_logit(pred)
    if not explain:
        return out
    expl = model.explain(matrix, pred.points_used)
    out["score_logit"] = expl.logit
    out["base_value"] = expl.base
    out["points_line"] = expl.points_line
    for j, name in enumerate(model.feature_order):
        out[f"shap_{name}"] = expl.contributions[:, j]
    names = np.asarray(model.feature_order, dtype=object)
    order = np.argsort(expl.contributions, axis=1)
    rows = np.arange(len(out))
    for k in range(min(top, len(names))):
        up, down = order[:, -1 - k], order[:, k]
        raises = [
            n if c > 0 else None
            for n, c in zip(names[up], expl.contributions[rows, up], strict=True)
        ]
        lowers = [
            n if c < 0 else None
            for n, c in zip(names[down], expl.contributions[rows, down], strict=True)
        ]
        out[f"raises_{k + 1}"] = pd.array(raises, dtype="string")
        out[f"lowers_{k + 1}"] = pd.array(lowers, dtype="string")
    return out


def score_file(
    model: ServedModel,
    path: Path,
    out: Path,
    *,
    explain: bool,
    chunk: int = DEFAULT_CHUNK,
    top: int = 3,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Stream ``path`` through the model into ``out`` (.csv or .parquet); return the row count.

    Raises:
        DataContractError: an unknown file type, or a model feature missing from the file.

    """
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataContractError(f"--out must end in .csv or .parquet; got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    schema: pa.Schema | None = None
    rows = 0
    try:
        for batch in _reader(path, chunk, list(model.bundle.encoder.categorical)):
            table = pa.Table.from_pandas(
                score_frame(model, batch.to_pandas(), explain, top), preserve_index=False
            )
            if writer is None or schema is None:
                schema = table.schema
                writer = (
                    pq.ParquetWriter(tmp, schema)
                    if out.suffix.lower() == ".parquet"
                    else pacsv.CSVWriter(tmp, schema)
                )
            writer.write_table(table.cast(schema))
            rows += table.num_rows
            if on_rows is not None:
                on_rows(table.num_rows)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise DataContractError(f"{path} holds no rows to score")
    tmp.replace(out)
    return rows
