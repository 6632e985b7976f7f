"""Contract-breaking rows, injected on purpose so validation can be tested against them.

Each table has a few kinds of fault, each named after the contract check it breaks
(the pandera check name, a rule across columns, or ``unique_key`` for a repeated key).
A fault either rewrites one cell of an existing row or, for ``unique_key``, appends a
conflicting copy of a row. Every injected row is recorded with its table, its key (key
columns joined by ``|``, dates as ISO) and the rule, in ``injected_errors.parquet``.
Values keep their column's type, so the files stay writable and readable.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from features.contracts.tables import CONTRACTS
from features.credit_code import ALPHABET
from features.simulate.writer import Coded, Column, Frame, frame_rows

INJECTED_SCHEMA = pa.schema(
    [
        ("table", pa.string()),
        ("row_key", pa.string()),
        ("column", pa.string()),
        ("rule", pa.string()),
    ]
)
UNIQUE_KEY = "unique_key"


@dataclass(frozen=True)
class Fault:
    """One way to break a table's contract on a given row."""

    column: str
    rule: str
    apply: Callable[[Frame, int, np.random.Generator], None]


def _bad_check_character(frame: Frame, row: int, rng: np.random.Generator) -> None:
    code = str(frame["credit_code"][row])
    others = [ch for ch in ALPHABET if ch != code[-1]]
    frame["credit_code"][row] = code[:-1] + others[int(rng.integers(len(others)))]


def _set(
    column: str, make: Callable[[Any, np.random.Generator], Any]
) -> Callable[[Frame, int, np.random.Generator], None]:
    def apply(frame: Frame, row: int, rng: np.random.Generator) -> None:
        frame[column][row] = make(frame[column][row], rng)

    return apply


def _negative(value: Any, rng: np.random.Generator) -> Any:
    step = int(rng.integers(1, 5))
    return -step if value != value else -abs(value) - step  # NaN stays a violation


def _shift_days(days: int) -> Callable[[Any, np.random.Generator], Any]:
    return lambda value, _rng: value + np.timedelta64(days, "D")


def _before_year_end(frame: Frame, row: int, rng: np.random.Generator) -> None:
    year = int(frame["fiscal_year"][row])
    frame["filing_date"][row] = np.datetime64(f"{year}-12-01") + int(rng.integers(0, 30))


def _same_as(
    source: str, target: str, days: int
) -> Callable[[Frame, int, np.random.Generator], None]:
    def apply(frame: Frame, row: int, _rng: np.random.Generator) -> None:
        frame[target][row] = frame[source][row] + np.timedelta64(days, "D")

    return apply


def _rd_exceeds_staff(frame: Frame, row: int, rng: np.random.Generator) -> None:
    frame["rd_staff"][row] = frame["staff_total"][row] + int(rng.integers(1, 6))


CODE = Fault("credit_code", "gb32100_credit_code", _bad_check_character)
FAULTS: dict[str, tuple[Fault, ...]] = {
    "enterprises": (
        CODE,
        Fault(
            "founding_date",
            "founded_before_snapshot",
            _same_as("snapshot_date", "founding_date", 45),
        ),
        Fault("industry", "isin", _set("industry", lambda _v, _r: "quantum_finance")),
        Fault(
            "registered_capital_wan",
            "greater_than_or_equal_to",
            _set("registered_capital_wan", _negative),
        ),
    ),
    "innovation_filings": (
        CODE,
        Fault("filing_date", "filed_after_year_end", _before_year_end),
        Fault("rd_staff", "rd_staff_within_staff", _rd_exceeds_staff),
        Fault("revenue_wan", "greater_than_or_equal_to", _set("revenue_wan", _negative)),
    ),
    "electricity_monthly": (
        CODE,
        Fault("kwh", "greater_than_or_equal_to", _set("kwh", _negative)),
        Fault("month", "month_is_first_day", _set("month", _shift_days(14))),
        Fault("published_date", "published_after_month", _same_as("month", "published_date", -3)),
    ),
    "checkins_daily": (
        CODE,
        Fault("staff_checked_in", "greater_than_or_equal_to", _set("staff_checked_in", _negative)),
    ),
    "tax_monthly": (
        CODE,
        Fault("vat_paid_wan", "greater_than_or_equal_to", _set("vat_paid_wan", _negative)),
        Fault("filing_date", "filed_after_month", _same_as("month", "filing_date", 0)),
    ),
    "credit_events": (
        CODE,
        Fault("event_type", "isin", _set("event_type", lambda _v, _r: "bankruptcy")),
        Fault(
            "published_date", "published_after_event", _same_as("event_date", "published_date", -5)
        ),
    ),
    "applications": (
        CODE,
        Fault("product", "isin", _set("product", lambda _v, _r: "consumer_loan")),
        Fault("term_months", "isin", _set("term_months", lambda _v, _r: 18)),
        Fault("amount_wan", "in_range", _set("amount_wan", lambda _v, _r: 250_000.0)),
    ),
}
"""Faults per table; ``unique_key`` (a conflicting duplicate) is added to every table."""


def row_keys(table: str, frame: Frame, rows: npt.NDArray[np.int64]) -> list[str]:
    """Key of each row as text: key columns joined by ``|``, dates as YYYY-MM-DD."""
    parts = []
    for column in CONTRACTS[table].key:
        values = frame[column][rows]
        if values.dtype.kind == "M":
            parts.append(np.datetime_as_string(values.astype("datetime64[D]")).tolist())
        else:
            parts.append([str(v) for v in values])
    return ["|".join(items) for items in zip(*parts, strict=True)]


def inject(
    table: str, frame: Frame, rate: float, rng: np.random.Generator
) -> tuple[Frame, dict[str, list[str]]]:
    """Break about ``rate`` of the rows; return the frame and the record of what was done."""
    record: dict[str, list[str]] = {"table": [], "row_key": [], "column": [], "rule": []}
    n = frame_rows(frame)
    count = int(rng.binomial(n, rate)) if rate > 0 and n > 0 else 0
    if count == 0:
        return frame, record
    faults = (*FAULTS[table], Fault(",".join(CONTRACTS[table].key), UNIQUE_KEY, _set_nothing))
    rows = np.sort(rng.choice(n, size=min(count, n), replace=False))
    kinds = rng.integers(0, len(faults), len(rows))
    frame = {k: v.copy() for k, v in frame.items()}
    duplicates = rows[kinds == len(faults) - 1]
    for row, kind in zip(rows, kinds, strict=True):
        faults[kind].apply(frame, int(row), rng)
    edited = rows[kinds != len(faults) - 1]
    edited_kinds = kinds[kinds != len(faults) - 1]
    keys = row_keys(table, frame, edited)
    for key, kind in zip(keys, edited_kinds, strict=True):
        _note(record, table, key, faults[kind])
    if len(duplicates):
        frame = _append_conflicting_copies(frame, duplicates, rng)
        for key in row_keys(table, frame, duplicates):
            _note(record, table, key, faults[-1])
    return frame, record


def _set_nothing(_frame: Frame, _row: int, _rng: np.random.Generator) -> None:
    """Duplicates are appended after the edits (see ``_append_conflicting_copies``)."""


def _note(record: dict[str, list[str]], table: str, key: str, fault: Fault) -> None:
    record["table"].append(table)
    record["row_key"].append(key)
    record["column"].append(fault.column)
    record["rule"].append(fault.rule)


def _append_conflicting_copies(
    frame: Frame, rows: npt.NDArray[np.int64], rng: np.random.Generator
) -> Frame:
    """Append copies of ``rows``; a numeric non-key value differs so the copies conflict."""
    copies: Frame = {
        k: v.take(rows) if isinstance(v, Coded) else v[rows].copy() for k, v in frame.items()
    }
    for column, values in copies.items():
        if isinstance(values, Coded):
            continue
        if values.dtype.kind == "f":
            copies[column] = np.where(
                np.isnan(values), 1.0, values * rng.uniform(1.1, 1.5, len(rows))
            )
            break
        if values.dtype.kind == "i" and column not in ("fiscal_year", "revision"):
            copies[column] = values + rng.integers(1, 4, len(rows))
            break
    return {k: _extend(frame[k], copies[k]) for k in frame}


def _extend(first: Column, second: Column) -> Column:
    if isinstance(first, Coded) and isinstance(second, Coded):
        return first.extend(second)
    return np.concatenate([first, second])
