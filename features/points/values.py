"""Evaluate an indicator's source for every firm: its value, its inputs, why it is missing.

Missing reasons (the trace and the missing report use these words):
``no_filing`` the firm has no filing known on the as-of date; ``null_input`` an input
column is empty; ``no_prior_filing`` a growth rate lacks the prior year's filing;
``nonpositive_base`` a ratio's denominator or a growth rate's prior value is <= 0.
Qualification flags and credit-event counts are never missing: absence is a 0.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalogue import (
    ColumnSource,
    EventCountSource,
    FlagSource,
    GrowthSource,
    RatioSource,
    Source,
    SumSource,
)
from features.points.inputs import HAS_FILING, PRIOR, qualification_count

MISSING_REASONS = ("no_filing", "null_input", "no_prior_filing", "nonpositive_base")
"""Reason codes 1, 2, 3, 4 (0 means the value is present)."""
_CODE = {name: code for code, name in enumerate(MISSING_REASONS, start=1)}


@dataclass(frozen=True)
class IndicatorValues:
    """Per-firm arrays for one indicator (NaN where not applicable)."""

    value: np.ndarray
    input_a: np.ndarray
    input_b: np.ndarray
    reason: np.ndarray
    """Missing reason code per firm (int8): 0 present, else 1 + index in MISSING_REASONS."""
    inputs: str
    """What ``input_a`` and ``input_b`` are, e.g. ``rd_staff / staff_total``."""


def _col(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype="float64", na_value=np.nan)


def _reasons(frame: pd.DataFrame, *ordered: tuple[str, np.ndarray]) -> np.ndarray:
    """First applicable reason code per firm; ``no_filing`` is checked before the others."""
    reason = np.zeros(len(frame), dtype="int8")
    reason[~frame[HAS_FILING].to_numpy()] = _CODE["no_filing"]
    for name, mask in ordered:
        reason[(reason == 0) & mask] = _CODE[name]
    return reason


def _never_missing(frame: pd.DataFrame) -> np.ndarray:
    return np.zeros(len(frame), dtype="int8")


def evaluate(
    source: Source, frame: pd.DataFrame, as_of: pd.Timestamp, events: np.ndarray | None
) -> IndicatorValues:
    """Compute one indicator's values for every firm of ``frame``.

    Args:
        source: The indicator's declared source.
        frame: One row per firm from ``firm_frame``.
        as_of: The scoring date (qualifications count when dated on or before it).
        events: Per-firm event counts, required for an ``event_count`` source.

    """
    nan = np.full(len(frame), np.nan)
    if isinstance(source, ColumnSource):
        value = _col(frame, source.column)
        reason = _reasons(frame, ("null_input", np.isnan(value)))
        return IndicatorValues(value, value, nan, reason, source.column)
    if isinstance(source, RatioSource):
        num, den = _col(frame, source.numerator), _col(frame, source.denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(den > 0, source.scale * num / den, np.nan)
        reason = _reasons(
            frame, ("null_input", np.isnan(num) | np.isnan(den)), ("nonpositive_base", den <= 0)
        )
        return IndicatorValues(
            value, num, den, reason, f"{source.numerator} / {source.denominator}"
        )
    if isinstance(source, GrowthSource):
        cur, prev = _col(frame, source.column), _col(frame, PRIOR + source.column)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(prev > 0, 100.0 * (cur - prev) / prev, np.nan)
        reason = _reasons(
            frame,
            ("null_input", np.isnan(cur)),
            ("no_prior_filing", ~frame[PRIOR + HAS_FILING].to_numpy()),
            ("null_input", np.isnan(prev)),
            ("nonpositive_base", prev <= 0),
        )
        return IndicatorValues(value, cur, prev, reason, f"{source.column} (current, prior)")
    if isinstance(source, SumSource):
        parts = np.column_stack([_col(frame, c) for c in source.columns])
        value = np.nansum(parts * np.asarray(source.weights()), axis=1)
        all_null = np.isnan(parts).all(axis=1)
        value[all_null] = np.nan
        reason = _reasons(frame, ("null_input", all_null))
        label = " + ".join(
            c if w == 1 else f"{w:g}*{c}"
            for c, w in zip(source.columns, source.weights(), strict=True)
        )
        return IndicatorValues(value, value, nan, reason, label)
    if isinstance(source, FlagSource):
        value = qualification_count(frame, source.qualifications, as_of)
        return IndicatorValues(
            value, value, nan, _never_missing(frame), "+".join(source.qualifications)
        )
    if isinstance(source, EventCountSource):
        if events is None:
            raise ValueError("event_count source needs per-firm event counts")
        label = f"{'+'.join(source.event_types)} in {source.lookback_years:g}y"
        return IndicatorValues(events, events, nan, _never_missing(frame), label)
    raise TypeError(f"unknown source kind {source.kind!r}")


def event_counts(
    frame: pd.DataFrame, events: pd.DataFrame, source: EventCountSource, as_of: pd.Timestamp
) -> np.ndarray:
    """Adverse events per firm published in ``(as_of - lookback, as_of]``.

    With ``repair_clears``, events published on or before the firm's latest credit repair
    (itself published on or before as_of) are not counted.
    """
    known = events[events["published_date"].to_numpy() <= as_of.to_datetime64()]
    start = as_of - pd.DateOffset(months=round(12 * source.lookback_years))
    adverse = known[
        known["event_type"].isin(source.event_types).to_numpy()
        & (known["published_date"].to_numpy() > start.to_datetime64())
    ]
    if source.repair_clears:
        repairs = known[known["event_type"] == "credit_repair"]
        last_repair = repairs.groupby("credit_code")["published_date"].max()
        repaired_on = adverse["credit_code"].map(last_repair)
        adverse = adverse[~(adverse["published_date"] <= repaired_on).to_numpy()]
    counts = adverse.groupby("credit_code").size()
    return frame["credit_code"].map(counts).fillna(0).to_numpy(dtype="float64")
