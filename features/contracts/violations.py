"""Turn pandera failure cases into violations a person can read: row, column, value, rule."""

import re
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from features.contracts.tables import CHECK_NAMES, ROW_RULE_COLUMNS
from jifen.errors import DataContractError

VIOLATION_COLUMNS = (
    "table",
    "source_file",
    "row_number",
    "row_key",
    "column",
    "value",
    "check",
    "rule",
)

_READABLE = (
    (re.compile(r"greater_than_or_equal_to\((.*)\)"), r"must be >= \1"),
    (re.compile(r"less_than_or_equal_to\((.*)\)"), r"must be <= \1"),
    (re.compile(r"in_range\((.*), (.*)\)"), r"must be between \1 and \2"),
    (re.compile(r"isin\((.*)\)", re.S), r"must be one of \1"),
    (re.compile(r"str_length\((.*), (.*)\)"), r"length must be between \1 and \2"),
    (re.compile(r"not_nullable"), "must not be null"),
    (re.compile(r"coerce_dtype\('(.*)'\)"), r"must be convertible to \1"),
    (re.compile(r"field_uniqueness"), "must be unique"),
)


def readable_rule(check: str) -> str:
    """Return pandera's check name as a sentence ("must be >= 0") when it has a known form."""
    for pattern, template in _READABLE:
        if pattern.fullmatch(check):
            return pattern.sub(template, check)
    return check


def check_name(check: str) -> str:
    """Return the machine name of a check ("greater_than_or_equal_to", "gb32100_credit_code")."""
    return CHECK_NAMES.get(check, check.split("(", 1)[0])


@dataclass(frozen=True)
class RowFailures:
    """The rows of one chunk that broke the contract, with one record per violation."""

    bad_index: pd.Index
    violations: pd.DataFrame  # columns: index, column, value, check, rule
    needs_recheck: bool
    """True when some column checks could not run (mixed types): validate the rest again."""


def collect_row_failures(errors: SchemaErrors, table: str) -> RowFailures:
    """Sort pandera's failure cases into row violations, or raise for table-level faults.

    A missing or unexpected column cannot be blamed on a row, so the whole table is
    refused with a DataContractError that names the column.
    """
    cases = errors.failure_cases
    table_level = cases[cases["index"].isna()]
    structural = table_level[
        table_level["check"].str.contains("column_in_|dataframe_column_labels", regex=True)
    ]
    if not structural.empty:
        first = structural.iloc[0]
        raise DataContractError(
            f"table {table}: column {first['failure_case']!r} breaks the schema "
            f"({first['check']}); the table was not loaded"
        )
    rows = cases[cases["index"].notna()].copy()
    # A value that failed coercion also fails the dtype check: report it once.
    rows = rows[~rows["check"].str.startswith("dtype(")]
    frame_level = rows["schema_context"] == "DataFrameSchema"
    # Rules across columns list every column of a failing row; keep the ones they read.
    keep = [
        not across or column in ROW_RULE_COLUMNS.get(check, (column,))
        for across, column, check in zip(frame_level, rows["column"], rows["check"], strict=True)
    ]
    rows = rows[keep]
    violations = pd.DataFrame(
        {
            "index": rows["index"].astype("int64"),
            "column": rows["column"].astype(str),
            "value": rows["failure_case"].map(as_text),
            "check": rows["check"].astype(str).map(check_name),
            "rule": rows["check"].astype(str).map(readable_rule),
        }
    ).drop_duplicates()
    return RowFailures(
        bad_index=pd.Index(violations["index"].unique()),
        violations=violations,
        needs_recheck=not table_level.empty,
    )


def as_text(value: object) -> str:
    """Render a cell for a report: dates as ISO dates, everything else as str."""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return str(value)


def validate_rows(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, table: str, max_passes: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate a chunk; return (coerced good rows, violations of the bad rows).

    Runs again on the remaining rows when a column held mixed types, because pandera
    cannot apply a column's value checks until every value in it has the right type.
    """
    current = frame
    found: list[pd.DataFrame] = []
    for _ in range(max_passes):
        try:
            schema.validate(current, lazy=True)
        except SchemaErrors as errors:
            failures = collect_row_failures(errors, table)
            found.append(failures.violations)
            if not failures.needs_recheck:
                break
            uncoercible = failures.violations.loc[
                failures.violations["rule"].str.startswith("must be convertible"), "index"
            ].unique()
            if len(uncoercible) == 0:
                raise DataContractError(
                    f"table {table}: checks failed on no particular row: "
                    f"{errors.failure_cases['check'].unique().tolist()}"
                ) from errors
            current = current.drop(index=pd.Index(uncoercible))
            continue
        break
    violations = (
        pd.concat(found, ignore_index=True).drop_duplicates() if found else _no_violations()
    )
    good = frame.drop(index=pd.Index(violations["index"].unique()))
    try:
        return schema.validate(good, lazy=True), violations
    except SchemaErrors as errors:  # pragma: no cover - a rule that depends on other rows
        raise DataContractError(
            f"table {table}: rows still fail after removing the bad ones: "
            f"{errors.failure_cases['check'].unique().tolist()}"
        ) from errors


def _no_violations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "index": pd.Series(dtype="int64"),
            "column": pd.Series(dtype=str),
            "value": pd.Series(dtype=str),
            "check": pd.Series(dtype=str),
            "rule": pd.Series(dtype=str),
        }
    )
