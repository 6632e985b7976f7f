"""Points for (credit_code, as_of) pairs, e.g. one per loan application, point-in-time.

Peer percentiles and ranks compare a firm with the whole population *on the same date*,
so each distinct scoring date needs the population scored once. The tables are prepared
once and every distinct date is scored from them; to bound the number of dates,
``snap="month"`` scores each pair at the last month end on or before its as_of (never
after it, so nothing unknown on as_of leaks in). ``snap="exact"`` scores at as_of itself.
"""

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from features.catalogue import Catalogue
from features.points.engine import PointsResult, result_of, score_population
from features.points.inputs import prepare_inputs
from jifen.errors import DataContractError

Snap = Literal["exact", "month"]
DateHook = Callable[[pd.Timestamp], None]
"""Called with each scoring date once it is done (drives a CLI progress bar)."""


def score_dates(as_of: pd.Series, snap: Snap) -> pd.Series:
    """Return the date each pair is scored at: as_of, or the last month end on or before it."""
    days = pd.to_datetime(as_of).dt.normalize()
    if snap == "exact":
        return days
    month_end = days + pd.offsets.MonthEnd(0)
    return month_end.where(month_end == days, days - pd.offsets.MonthEnd(1))


def compute_points_for_pairs(
    pairs: pd.DataFrame,
    filings: pd.DataFrame,
    enterprises: pd.DataFrame,
    credit_events: pd.DataFrame,
    catalogue: Catalogue,
    *,
    snap: Snap = "month",
    keep_trace: bool = False,
    whitelist_threshold: float | None = None,
    on_date: DateHook | None = None,
) -> PointsResult:
    """Score each (credit_code, as_of) pair of ``pairs`` point-in-time.

    Args:
        pairs: Columns ``credit_code`` and ``as_of``; other columns are carried along.
        filings: ``innovation_filings`` rows (all revisions).
        enterprises: ``enterprises`` rows.
        credit_events: ``credit_events`` rows.
        catalogue: A validated catalogue.
        snap: ``month`` (default) or ``exact``; see the module docstring.
        keep_trace: Also return the trace rows of the pairs (firm x indicator).
        whitelist_threshold: Overrides the catalogue's white-list threshold.
        on_date: Called after each distinct scoring date.

    Returns:
        One summary row per pair, in the order of ``pairs``, with ``score_date``; a pair
        whose firm is unknown or not yet founded on that date has ``scored`` False and
        empty points.

    """
    missing = [c for c in ("credit_code", "as_of") if c not in pairs.columns]
    if missing:
        raise DataContractError(f"pairs: columns {missing} are required; got {list(pairs.columns)}")
    inputs = prepare_inputs(filings, enterprises, credit_events, catalogue)
    wanted = pairs.reset_index(drop=True).assign(
        _pair=np.arange(len(pairs)), score_date=score_dates(pairs["as_of"], snap).to_numpy()
    )
    summaries, traces, reports = [], [], []
    for date in np.sort(wanted["score_date"].unique()):
        when = pd.Timestamp(date)
        group = wanted[wanted["score_date"].to_numpy() == date]
        population = score_population(inputs, catalogue, when)
        position = pd.Index(population.frame["credit_code"]).get_indexer(group["credit_code"])
        found = position >= 0
        result = result_of(population, whitelist_threshold, keep_trace, rows=position[found])
        summary = result.summary.drop(columns=["as_of"]).assign(
            _pair=group["_pair"].to_numpy()[found]
        )
        summaries.append(summary)
        traces.append(result.trace)
        reports.append(result.missing_report)
        if on_date is not None:
            on_date(when)
    scored = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    out = wanted.merge(
        scored.drop(columns=["credit_code"], errors="ignore"), on="_pair", how="left"
    )
    out["scored"] = out["total_points"].notna() if "total_points" in out else False
    return PointsResult(
        catalogue.version,
        out.drop(columns=["_pair"]),
        pd.concat(traces, ignore_index=True) if keep_trace and traces else pd.DataFrame(),
        _sum_reports(reports),
    )


def _sum_reports(reports: list[pd.DataFrame]) -> pd.DataFrame:
    """Add per-date missing reports up and recompute the shares."""
    if not reports:
        return pd.DataFrame()
    counts = (
        pd.concat(reports).groupby(["indicator_id", "name_en"], sort=False).sum(numeric_only=True)
    )
    counts["missing_share"] = (
        (counts["missing"] / counts["firms"].where(counts["firms"] > 0)).fillna(0.0).round(4)
    )
    return counts.reset_index()
