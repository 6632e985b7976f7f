"""The innovation-points engine: score a population of firms as of one date.

For each firm founded on or before ``as_of``:

1. take its current and prior filings as known on ``as_of`` (``inputs.firm_frame``);
2. assign its stage by the catalogue's stage rules (``stages.assign_stages``);
3. per indicator, evaluate the source (``values.evaluate``) and score it with the rule
   (``scoring.apply_rule``) into raw points;
4. weight: ``weighted = raw / max_points * weight[stage]`` (see ``features.catalogue.models``
   for why totals reach 100, or 100 + 30), after the catalogue's missing-input policy;
5. assemble per-class and total points, ranks and the white list (``assemble``).

Everything is vectorised over firms; the only loop is over the catalogue's indicators.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.catalogue import Catalogue, EventCountSource
from features.points.assemble import (
    IndicatorScore,
    ScoredPopulation,
    build_summary,
    build_trace,
    missing_report,
)
from features.points.inputs import PointsInputs, firm_frame, prepare_inputs
from features.points.scoring import apply_rule
from features.points.stages import assign_stages
from features.points.values import evaluate, event_counts

ProgressHook = Callable[[str], None]
"""Called with an indicator id after it is scored (drives a CLI progress bar)."""


@dataclass(frozen=True)
class PointsResult:
    """Points of a population as of a date (or of (firm, date) pairs)."""

    catalogue_version: str
    summary: pd.DataFrame
    """One row per firm: stage, class and part points, total, ranks, white list."""
    trace: pd.DataFrame
    """One row per firm x indicator: inputs, filing, rule, bin, points, weights."""
    missing_report: pd.DataFrame
    """Per indicator: firms scored, firms missing, and missing firms by reason."""


def as_timestamp(as_of: date | str | pd.Timestamp) -> pd.Timestamp:
    """Normalise an as-of date to a midnight timestamp."""
    return pd.Timestamp(as_of).normalize()


def score_population(
    inputs: PointsInputs,
    catalogue: Catalogue,
    as_of: date | str | pd.Timestamp,
    progress: ProgressHook | None = None,
) -> ScoredPopulation:
    """Score every firm of ``inputs`` founded on or before ``as_of``, indicator by indicator."""
    when = as_timestamp(as_of)
    frame = firm_frame(inputs, when)
    stage = assign_stages(frame, catalogue.stage_rules)
    stage_code = pd.Categorical(stage, categories=catalogue.stage_ids()).codes
    scores: list[IndicatorScore] = []
    for ind in catalogue.indicators:
        events = (
            event_counts(frame, inputs.credit_events, ind.source, when)
            if isinstance(ind.source, EventCountSource)
            else None
        )
        values = evaluate(ind.source, frame, when, events)
        outcome = apply_rule(ind.scoring, values.value, frame, ind.direction)
        stage_weights = np.array([ind.weight(s) for s in catalogue.stage_ids()])
        scores.append(
            IndicatorScore(
                indicator=ind,
                values=values,
                outcome=outcome,
                missing=values.reason > 0,
                weight=stage_weights[stage_code],
            )
        )
        if progress is not None:
            progress(ind.id)
    return ScoredPopulation(catalogue, when, frame, stage, _weigh(scores, catalogue))


def _weigh(scores: list[IndicatorScore], catalogue: Catalogue) -> list[IndicatorScore]:
    """Apply the missing policy to the weights, then compute weighted points.

    ``zero``: every indicator keeps its stage weight; a missing one earns 0 raw points.
    ``renormalise``: within each part, the weights of the indicators a firm has are
    scaled up so they sum to the part total; missing ones get weight 0.
    """
    applied = [s.weight for s in scores]
    if catalogue.missing_policy.points == "renormalise":
        applied = [s.weight * ~s.missing for s in scores]
        for part_id, part in catalogue.parts.items():
            members = [i for i, s in enumerate(scores) if s.indicator.part == part_id]
            available = np.sum([applied[i] for i in members], axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = np.where(available > 0, part.total / available, 0.0)
            for i in members:
                applied[i] = applied[i] * factor
    weighed = []
    for s, weight_applied in zip(scores, applied, strict=True):
        raw = np.where(s.missing, 0.0, s.outcome.raw_points)
        weighted = raw / s.indicator.max_points * weight_applied
        weighed.append(s.with_weights(weight_applied, weighted))
    return weighed


def compute_points(
    filings: pd.DataFrame,
    enterprises: pd.DataFrame,
    credit_events: pd.DataFrame,
    catalogue: Catalogue,
    as_of: date | str | pd.Timestamp,
    *,
    whitelist_threshold: float | None = None,
    keep_trace: bool = True,
    progress: ProgressHook | None = None,
) -> PointsResult:
    """Score every firm founded on or before ``as_of`` with ``catalogue``.

    Args:
        filings: ``innovation_filings`` rows (all revisions; the engine picks point-in-time).
        enterprises: ``enterprises`` rows, one per firm.
        credit_events: ``credit_events`` rows.
        catalogue: A validated catalogue (``load_catalogue``).
        as_of: The scoring date; nothing published after it is used.
        whitelist_threshold: Overrides the catalogue's white-list threshold.
        keep_trace: Build the firm x indicator trace (the costliest part of the output).
        progress: Called with each indicator id once it is scored.

    Returns:
        Summary, trace and missing report. Missing inputs earn what the catalogue's
        missing policy says and are flagged in the trace; they never raise.

    Raises:
        DataContractError: A table lacks a column the catalogue needs.

    """
    inputs = prepare_inputs(filings, enterprises, credit_events, catalogue)
    population = score_population(inputs, catalogue, as_of, progress)
    return result_of(population, whitelist_threshold, keep_trace)


def result_of(
    population: ScoredPopulation,
    whitelist_threshold: float | None = None,
    keep_trace: bool = True,
    rows: np.ndarray | None = None,
) -> PointsResult:
    """Assemble summary, trace and missing report, optionally for some rows only."""
    threshold = (
        whitelist_threshold
        if whitelist_threshold is not None
        else population.catalogue.whitelist.threshold
    )
    summary = build_summary(population, threshold)
    if rows is not None:
        summary = summary.iloc[rows]
    else:
        # Best first; ties keep the order of the enterprises table (a stable sort).
        summary = summary.iloc[np.argsort(-summary["total_points"].to_numpy(), kind="stable")]
    trace = build_trace(population, rows) if keep_trace else pd.DataFrame()
    return PointsResult(
        population.catalogue.version,
        summary.reset_index(drop=True),
        trace,
        missing_report(population, rows),
    )
