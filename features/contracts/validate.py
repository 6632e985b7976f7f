"""Validate raw tables against their contracts: clean rows out, bad rows into quarantine.

Every violation is reported with table, row key, column, value and rule; every bad row
is kept in ``quarantine/<table>.parquet`` with its reasons, so nothing is dropped silently.
"""

import json
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import Progress, TaskID

from features.contracts.arrow import arrow_schema, to_arrow
from features.contracts.report import TableResult, ValidationReport
from features.contracts.tables import CONTRACTS, TableContract
from features.contracts.violations import VIOLATION_COLUMNS, as_text, validate_rows
from features.layout import DataLayout
from jifen.console import make_progress
from jifen.errors import DataContractError

BATCH_ROWS = 500_000
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("row_number", pa.int64()),
        ("row_key", pa.string()),
        ("reasons", pa.string()),
        ("record", pa.string()),
    ]
)
VIOLATION_SCHEMA = pa.schema(
    [(c, pa.int64() if c == "row_number" else pa.string()) for c in VIOLATION_COLUMNS]
)
UNKNOWN_ENTERPRISE = "must be a known enterprise (present in enterprises)"
DUPLICATE_KEY = "key must be unique; an earlier row already holds it"
UNIQUE_KEY_CHECK, KNOWN_ENTERPRISE_CHECK = "unique_key", "known_enterprise"


@dataclass
class _Chunk:
    source_file: str
    frame: pd.DataFrame  # index = row number within the source file


def validate_tables(
    layout: DataLayout, tables: Sequence[str] | None = None, max_quarantine_share: float = 0.05
) -> ValidationReport:
    """Validate each raw table, write its clean rows and quarantine, and return a report.

    Args:
        layout: where raw tables are read and clean/quarantine tables written.
        tables: names to validate (default: all, enterprises first for the code check).
        max_quarantine_share: above this share of bad rows a table is marked failed,
            because an extract that broken is more likely a faulty export than bad rows.

    """
    names = list(CONTRACTS) if not tables else _ordered(tables)
    parts = {name: sorted(layout.raw(name).glob("*.parquet")) for name in names}
    violations_path = layout.reports / "violations.parquet"
    violations_path.parent.mkdir(parents=True, exist_ok=True)
    results: list[TableResult] = []
    with (
        make_progress() as progress,
        pq.ParquetWriter(violations_path, VIOLATION_SCHEMA) as violation_writer,
    ):
        task = progress.add_task("validating", total=sum(len(p) for p in parts.values()))
        known_codes: set[str] | None = None
        for name in names:
            contract = CONTRACTS[name]
            if name != "enterprises" and known_codes is None:
                known_codes = _clean_codes(layout)
            progress.update(task, description=f"validating {name}")
            result = _validate_table(
                contract, parts[name], layout, known_codes, violation_writer, progress, task
            )
            result.check_share(max_quarantine_share)
            results.append(result)
            if name == "enterprises" and result.status != "rejected":
                known_codes = _clean_codes(layout)
    report = ValidationReport(results=results, violations_path=violations_path)
    (layout.reports / "validation.json").write_text(json.dumps(report.as_dict(), indent=2))
    return report


def _ordered(tables: Sequence[str]) -> list[str]:
    unknown = sorted(set(tables) - set(CONTRACTS))
    if unknown:
        raise DataContractError(
            f"table {unknown[0]!r} is not a known raw table; expected one of {list(CONTRACTS)}"
        )
    return [name for name in CONTRACTS if name in tables]


def _clean_codes(layout: DataLayout) -> set[str] | None:
    files = sorted(layout.clean("enterprises").glob("*.parquet"))
    if not files:
        return None
    return set(pq.read_table(files, columns=["credit_code"]).column(0).to_pylist())


def _validate_table(
    contract: TableContract,
    files: list[Path],
    layout: DataLayout,
    known_codes: set[str] | None,
    violation_writer: pq.ParquetWriter,
    progress: Progress,
    task: TaskID,
) -> TableResult:
    result = TableResult(table=contract.name)
    if not files:
        result.mark_missing(f"no Parquet files under {layout.raw(contract.name)}")
        return result
    clean_dir, quarantine_path = layout.clean(contract.name), layout.quarantine(contract.name)
    shutil.rmtree(clean_dir, ignore_errors=True)
    clean_dir.mkdir(parents=True)
    quarantine_path.parent.mkdir(parents=True, exist_ok=True)
    repeated = _repeated_keys(files, contract.key)
    claimed: set[tuple[object, ...]] = set()  # keys already loaded clean
    clean_schema = arrow_schema(contract)
    try:
        with pq.ParquetWriter(quarantine_path, QUARANTINE_SCHEMA) as quarantine_writer:
            for part_number, chunk in enumerate(_chunks(files, progress, task)):
                good, violations = validate_rows(chunk.frame, contract.schema, contract.name)
                good, extra = _cross_row_rules(good, contract, repeated, claimed, known_codes)
                violations = pd.concat([violations, extra], ignore_index=True)
                bad_rows = chunk.frame.loc[violations["index"].unique()]
                pq.write_table(
                    to_arrow(good, clean_schema), clean_dir / f"part-{part_number:05d}.parquet"
                )
                _write_quarantine(
                    quarantine_writer, chunk.source_file, bad_rows, violations, contract
                )
                violation_writer.write_table(_violation_table(contract, chunk, violations))
                result.add(rows=len(chunk.frame), clean=len(good), violations=violations)
    except DataContractError as exc:
        shutil.rmtree(clean_dir, ignore_errors=True)
        result.mark_rejected(str(exc))
    return result


def _chunks(files: list[Path], progress: Progress, task: TaskID) -> Iterator[_Chunk]:
    for path in files:
        offset = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
            frame = batch.to_pandas(date_as_object=False)
            frame.index = pd.RangeIndex(offset, offset + len(frame))
            offset += len(frame)
            yield _Chunk(source_file=path.name, frame=frame)
        progress.advance(task)


def _repeated_keys(files: list[Path], key: tuple[str, ...]) -> pd.DataFrame:
    """Keys held by more than one row anywhere in the table (usually very few)."""
    columns = ", ".join(f'"{k}"' for k in key)
    sources = [str(f) for f in files]
    return duckdb.execute(
        f"SELECT {columns} FROM read_parquet(?, union_by_name = true) "
        f"GROUP BY ALL HAVING count(*) > 1",
        [sources],
    ).df()


def _cross_row_rules(
    good: pd.DataFrame,
    contract: TableContract,
    repeated: pd.DataFrame,
    claimed: set[tuple[object, ...]],
    known_codes: set[str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply rules no single row can check: unique keys and known enterprises."""
    found: list[dict[str, object]] = []
    if not repeated.empty:
        key = list(contract.key)
        probe = repeated.astype({k: good[k].dtype for k in key})
        candidates = good[key].reset_index(names="source_row").merge(probe, on=key)
        for row in candidates.sort_values("source_row").itertuples(index=False):
            values = tuple(getattr(row, k) for k in key)
            if values in claimed:
                text = "|".join(map(as_text, values))
                found.append(_violation(row.source_row, ",".join(key), text, UNIQUE_KEY_CHECK))
            else:
                claimed.add(values)
    if known_codes is not None and contract.name != "enterprises":
        unknown = good.index[~good["credit_code"].isin(known_codes)]
        found += [
            _violation(i, "credit_code", str(good.at[i, "credit_code"]), KNOWN_ENTERPRISE_CHECK)
            for i in unknown
        ]
    extra = pd.DataFrame(found, columns=["index", "column", "value", "check", "rule"])
    return good.drop(index=pd.Index(extra["index"].unique())), extra


def _violation(index: object, column: str, value: str, check: str) -> dict[str, object]:
    rule = DUPLICATE_KEY if check == UNIQUE_KEY_CHECK else UNKNOWN_ENTERPRISE
    return {"index": index, "column": column, "value": value, "check": check, "rule": rule}


def _row_keys(frame: pd.DataFrame, contract: TableContract) -> pd.Series:
    parts = [
        frame[k].astype(str) if k in frame else pd.Series("?", index=frame.index)
        for k in contract.key
    ]
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    return key


def _write_quarantine(
    writer: pq.ParquetWriter,
    source_file: str,
    bad_rows: pd.DataFrame,
    violations: pd.DataFrame,
    contract: TableContract,
) -> None:
    if bad_rows.empty:
        return
    reasons = (
        violations.assign(
            text=violations["column"] + " = " + violations["value"] + ": " + violations["rule"]
        )
        .groupby("index")["text"]
        .agg("; ".join)
    )
    records = bad_rows.astype(object).where(bad_rows.notna(), None)
    table = pa.table(
        {
            "source_file": [source_file] * len(bad_rows),
            "row_number": bad_rows.index.astype("int64"),
            "row_key": _row_keys(bad_rows, contract).tolist(),
            "reasons": reasons.reindex(bad_rows.index).tolist(),
            "record": [
                json.dumps(r, default=as_text, ensure_ascii=False)
                for r in records.to_dict("records")
            ],
        },
        schema=QUARANTINE_SCHEMA,
    )
    writer.write_table(table)


def _violation_table(contract: TableContract, chunk: _Chunk, violations: pd.DataFrame) -> pa.Table:
    keys = _row_keys(chunk.frame.loc[violations["index"]], contract)
    return pa.table(
        {
            "table": [contract.name] * len(violations),
            "source_file": [chunk.source_file] * len(violations),
            "row_number": violations["index"].astype("int64"),
            "row_key": keys.tolist(),
            "column": violations["column"].tolist(),
            "value": violations["value"].tolist(),
            "check": violations["check"].tolist(),
            "rule": violations["rule"].tolist(),
        },
        schema=VIOLATION_SCHEMA,
    )
