"""Read validated tables from a data layout, score them, write the results as Parquet."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from features.catalogue import Catalogue
from features.layout import DataLayout
from features.points.engine import PointsResult, ProgressHook, as_timestamp, compute_points
from features.points.inputs import ENTERPRISE_COLUMNS, EVENT_COLUMNS, FILING_KEYS, catalogue_columns
from jifen.errors import NotFoundError


def read_clean_table(
    layout: DataLayout, table: str, columns: list[str] | None = None
) -> pd.DataFrame:
    """Read a validated table's Parquet parts (only ``columns`` when given).

    Raises:
        NotFoundError: The table has no clean parts under the layout (run ``jifen validate``).

    """
    folder = layout.clean(table)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise NotFoundError(
            f"clean table {table} not found under {folder}; run `jifen validate` first"
        )
    return pd.read_parquet(folder, columns=columns)


def read_points_tables(
    layout: DataLayout, catalogue: Catalogue
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Filings, enterprises and credit events, restricted to the columns ``catalogue`` reads."""
    values, dates = catalogue_columns(catalogue)
    filings = read_clean_table(layout, "innovation_filings", [*FILING_KEYS, *values])
    enterprises = read_clean_table(layout, "enterprises", [*ENTERPRISE_COLUMNS, *dates])
    events = read_clean_table(layout, "credit_events", list(EVENT_COLUMNS))
    return filings, enterprises, events


def score_points_from_layout(
    layout: DataLayout,
    as_of: date | str | pd.Timestamp,
    catalogue: Catalogue,
    *,
    whitelist_threshold: float | None = None,
    keep_trace: bool = True,
    progress: ProgressHook | None = None,
) -> PointsResult:
    """Score every firm of the layout's clean tables as of ``as_of`` with ``catalogue``."""
    filings, enterprises, events = read_points_tables(layout, catalogue)
    return compute_points(
        filings,
        enterprises,
        events,
        catalogue,
        as_of,
        whitelist_threshold=whitelist_threshold,
        keep_trace=keep_trace,
        progress=progress,
    )


@dataclass(frozen=True)
class WrittenPoints:
    """Where a result's tables were written."""

    summary: Path
    trace: Path | None
    missing_report: Path


def default_output(layout: DataLayout, version: str, as_of: date | str | pd.Timestamp) -> Path:
    """``<root>/points/<version>/<as_of>/summary.parquet``."""
    day = as_timestamp(as_of).date().isoformat()
    return layout.root / "points" / version / day / "summary.parquet"


def write_points(result: PointsResult, summary_path: Path) -> WrittenPoints:
    """Write the summary to ``summary_path`` and the trace and missing report beside it.

    The trace goes to ``<stem>_trace.parquet`` (skipped when empty), the missing report to
    ``<stem>_missing.parquet``.
    """
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    stem = summary_path.with_suffix("")
    result.summary.to_parquet(summary_path, index=False)
    trace_path = None
    if not result.trace.empty:
        trace_path = stem.with_name(f"{stem.name}_trace.parquet")
        result.trace.to_parquet(trace_path, index=False)
    missing_path = stem.with_name(f"{stem.name}_missing.parquet")
    result.missing_report.to_parquet(missing_path, index=False)
    return WrittenPoints(summary_path, trace_path, missing_path)
