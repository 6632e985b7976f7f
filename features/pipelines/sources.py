"""Load the tables the pipelines read into a DuckDB connection, one switch for their stage.

The pipelines read validated tables (``clean``); ``raw`` stays selectable for data that
has not been through ``jifen validate`` yet. Either way every table is loaded the same:
dates cast to DATE, exact duplicate rows collapsed. Revisions (same key, later
publication) are kept: which one counts depends on the as-of date, so the point-in-time
SQL picks it. Only the tables named in ``PIPELINE_TABLES`` are ever opened.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

import duckdb

from features.contracts.tables import CONTRACTS
from features.layout import DataLayout
from jifen.errors import DataContractError

SourceStage = Literal["clean", "raw"]
DEFAULT_STAGE: Final[SourceStage] = "clean"
PIPELINE_TABLES: Final = (
    "enterprises",
    "innovation_filings",
    "electricity_monthly",
    "checkins_daily",
    "tax_monthly",
    "credit_events",
    "applications",
)


def table_files(layout: DataLayout, table: str, stage: SourceStage = DEFAULT_STAGE) -> list[Path]:
    """Parquet parts of one table at one stage.

    Raises:
        DataContractError: The table is not one the pipelines read, or has no parts.

    """
    if table not in PIPELINE_TABLES:
        raise DataContractError(
            f"table {table!r} is not read by the feature pipelines; expected one of "
            f"{list(PIPELINE_TABLES)}"
        )
    folder = layout.clean(table) if stage == "clean" else layout.raw(table)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        hint = " (run `jifen validate` first)" if stage == "clean" else ""
        raise DataContractError(f"table {table!r} has no Parquet parts under {folder}{hint}")
    return files


def _select_sql(table: str, files: list[Path], distinct: bool = True) -> str:
    columns = CONTRACTS[table].schema.columns
    exprs = []
    for name, column in columns.items():
        if str(column.dtype).startswith("datetime64"):
            exprs.append(f'CAST("{name}" AS DATE) AS "{name}"')
        else:
            exprs.append(f'"{name}"')
    paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
    keyword = "SELECT DISTINCT" if distinct else "SELECT"
    return f"{keyword} {', '.join(exprs)} FROM read_parquet([{paths}], union_by_name = true)"


_SUPERSEDED_KEYS: Final = {
    # table: (key columns, publication column, tie-break order among same-day versions)
    "electricity_monthly": ("meter_id, month", "published_date", "kwh DESC"),
    "tax_monthly": (
        "credit_code, month",
        "filing_date",
        "vat_paid_wan DESC, income_tax_paid_wan DESC",
    ),
    "credit_events": ("event_id", "published_date", "event_date DESC, amount_wan DESC"),
}


def _with_superseded(sql: str, key: str, published: str, tie_break: str) -> str:
    """Add ``superseded_date``: when the next version of the same key was published.

    A version is the one in force on date d when ``published <= d < superseded_date``.
    Computing this once per source row lets the point-in-time joins filter revisions with
    a plain condition instead of ranking every (entity, as-of, key) group. Versions of
    one key published the same day are collapsed first (tie-break order below).
    """
    return (
        f"SELECT *, lead({published}) OVER (PARTITION BY {key} ORDER BY {published}) "
        f"AS superseded_date FROM ({sql}) QUALIFY row_number() OVER ("
        f"PARTITION BY {key}, {published} ORDER BY {tie_break}) = 1"
    )


def load_sources(
    con: duckdb.DuckDBPyConnection,
    layout: DataLayout,
    stage: SourceStage = DEFAULT_STAGE,
    tables: Iterable[str] = PIPELINE_TABLES,
) -> None:
    """Create one temporary table ``src_<table>`` per source table in ``con``.

    Enterprises keep one row per credit code (the latest snapshot); raw check-ins keep one
    row per firm and day (the highest count, should an export repeat a day with another
    value); clean check-ins, unique by contract, are a view over their Parquet parts.
    """
    for table in tables:
        # Check-ins are grouped by firm and day below, which collapses duplicates already.
        distinct = table != "checkins_daily"
        sql = _select_sql(table, table_files(layout, table, stage), distinct)
        if table == "checkins_daily" and stage == "clean":
            # Clean check-ins have unique (credit_code, date) keys, enforced by validation;
            # the largest table is then scanned in place instead of copied.
            con.execute(f"CREATE OR REPLACE TEMP VIEW src_{table} AS {sql}")
            continue
        if table == "enterprises":
            sql = (
                f"SELECT * FROM ({sql}) QUALIFY row_number() OVER ("
                "PARTITION BY credit_code ORDER BY snapshot_date DESC, name) = 1"
            )
        elif table == "checkins_daily":
            sql = (
                "SELECT credit_code, date, max(staff_checked_in) AS staff_checked_in "
                f"FROM ({sql}) GROUP BY credit_code, date"
            )
        elif table in _SUPERSEDED_KEYS:
            sql = _with_superseded(sql, *_SUPERSEDED_KEYS[table])
        con.execute(f"CREATE OR REPLACE TEMP TABLE src_{table} AS {sql}")
