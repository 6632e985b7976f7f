"""Assemble scored indicators into the summary, the trace and the missing report."""

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.catalogue import Catalogue, GrowthSource, Indicator
from features.points.inputs import PRIOR, group_codes
from features.points.scoring import RuleOutcome
from features.points.values import MISSING_REASONS, IndicatorValues

_ROUND = 6
"""Decimals kept in point sums, so 59.99999999 from float weights reads as 60."""


@dataclass(frozen=True)
class IndicatorScore:
    """Every firm's value, raw points and weighted points for one indicator."""

    indicator: Indicator
    values: IndicatorValues
    outcome: RuleOutcome
    missing: np.ndarray
    weight: np.ndarray
    """The indicator's declared weight in each firm's stage."""
    weight_applied: np.ndarray = field(default_factory=lambda: np.empty(0))
    """The weight after the missing policy (equal to ``weight`` under ``zero``)."""
    weighted: np.ndarray = field(default_factory=lambda: np.empty(0))

    def with_weights(self, weight_applied: np.ndarray, weighted: np.ndarray) -> "IndicatorScore":
        """Return a copy carrying the applied weights and weighted points."""
        return dataclasses.replace(self, weight_applied=weight_applied, weighted=weighted)


@dataclass(frozen=True)
class ScoredPopulation:
    """All firms scored as of one date, before assembly into tables."""

    catalogue: Catalogue
    as_of: pd.Timestamp
    frame: pd.DataFrame
    stage: np.ndarray
    scores: list[IndicatorScore]


def stage_codes(pop: ScoredPopulation) -> np.ndarray:
    """Position of each firm's stage in the catalogue's stage list."""
    return np.asarray(pd.Categorical(pop.stage, categories=pop.catalogue.stage_ids()).codes)


def _rank_columns(summary: pd.DataFrame, groups: np.ndarray, name: str) -> None:
    grouped = summary["total_points"].groupby(groups, sort=False)
    summary[f"rank_{name}"] = grouped.rank(method="min", ascending=False).astype("int64")
    size = grouped.transform("size").astype("int64")
    summary[f"{name}_firms"] = size
    # Share of the group scoring at or below the firm, in percent.
    summary[f"pct_{name}"] = (100.0 * grouped.rank(method="max") / size).round(2)


def build_summary(pop: ScoredPopulation, whitelist_threshold: float) -> pd.DataFrame:
    """One row per firm in frame order: stage, class and part points, total, ranks, list."""
    cat, frame = pop.catalogue, pop.frame
    summary = pd.DataFrame(
        {
            "credit_code": frame["credit_code"].to_numpy(),
            "zone_id": frame["zone_id"].to_numpy(),
            "industry": frame["industry"].to_numpy(),
            "stage": _from_codes(stage_codes(pop), categories=cat.stage_ids()),
            "firm_age_years": frame["firm_age_years"].round(2).to_numpy(),
            "fiscal_year": frame["fiscal_year"].astype("Int64").to_numpy(),
            "filing_id": frame["filing_id"].to_numpy(),
            "revision": frame["revision"].astype("Int64").to_numpy(),
        }
    )
    for cls in cat.classes:
        members = [s.weighted for s in pop.scores if s.indicator.class_id == cls.id]
        summary[f"class_{cls.id}"] = np.round(np.sum(members, axis=0), _ROUND)
    total = np.zeros(len(frame))
    for part_id in cat.parts:
        members = [s.weighted for s in pop.scores if s.indicator.part == part_id]
        part_points = np.round(np.sum(members, axis=0), _ROUND)
        summary[f"part_{part_id}"] = part_points
        total = total + part_points
    if cat.total_cap is not None:
        total = np.minimum(total, cat.total_cap)
    summary["total_points"] = np.round(total, _ROUND)
    summary["n_missing"] = np.sum([s.missing for s in pop.scores], axis=0).astype("int64")
    _rank_columns(summary, group_codes(frame, ["zone_id"]), "zone")
    _rank_columns(summary, group_codes(frame, ["zone_id", "industry"]), "zone_industry")
    summary["whitelist"] = summary["total_points"] >= whitelist_threshold
    summary["catalogue_version"] = cat.version
    summary["as_of"] = pop.as_of
    return summary


def _from_codes(codes: np.ndarray, categories: list[str]) -> "pd.Categorical[str]":
    """Build a categorical from integer codes (-1 for missing) and its category labels."""
    typed: npt.NDArray[np.int32] = np.asarray(codes, dtype="int32")
    return pd.Categorical.from_codes(typed, categories=pd.Index(categories))


def _int_array(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Nullable integers from floats where NaN means missing (cheaper than ``astype``)."""
    mask = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype("int64"), mask)


def _codes(labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Categorical codes of ``labels`` against their unique values in first-seen order."""
    unique = list(dict.fromkeys(labels))
    return np.array([unique.index(x) for x in labels], dtype="int32"), unique


def _category(per_indicator: list[str], m: int) -> "pd.Categorical[str]":
    codes, unique = _codes(per_indicator)
    return _from_codes(np.tile(codes, m), categories=unique)


def build_trace(pop: ScoredPopulation, rows: np.ndarray | None = None) -> pd.DataFrame:
    """One row per firm x indicator (firm-major) with everything that made the points."""
    idx = np.arange(len(pop.frame)) if rows is None else np.asarray(rows)
    m, inds = len(idx), [s.indicator for s in pop.scores]
    k = len(inds)
    frame = pop.frame.iloc[idx]

    def stack(arrays: list[np.ndarray]) -> np.ndarray:
        return np.column_stack([a[idx] for a in arrays]).ravel() if k else np.empty(0)

    def repeat(column: str) -> np.ndarray:
        return np.repeat(frame[column].to_numpy(), k)

    prior_ids = frame[PRIOR + "filing_id"].to_numpy(dtype=object)
    no_prior = np.full(m, None, dtype=object)
    levels = list(dict.fromkeys(lv for s in pop.scores for lv in s.outcome.peer_levels))
    level_codes = []
    for s in pop.scores:
        lookup = np.array([levels.index(lv) for lv in s.outcome.peer_levels] + [-1], dtype="int16")
        level_codes.append(lookup[s.outcome.peer_level[idx]])  # -1 indexes the final -1
    reasons = stack([s.values.reason for s in pop.scores]).astype("int16") - 1
    return pd.DataFrame(
        {
            "credit_code": repeat("credit_code"),
            "as_of": np.repeat(pop.as_of.to_datetime64(), m * k),
            "stage": _from_codes(
                np.repeat(stage_codes(pop)[idx], k), categories=pop.catalogue.stage_ids()
            ),
            "indicator_id": _category([i.id for i in inds], m),
            "class_id": _category([i.class_id for i in inds], m),
            "part": _category([i.part for i in inds], m),
            "fiscal_year": _int_array(repeat("fiscal_year")),
            "filing_id": repeat("filing_id"),
            "prior_filing_id": np.column_stack(
                [prior_ids if isinstance(i.source, GrowthSource) else no_prior for i in inds]
            ).ravel()
            if k
            else np.empty(0, dtype=object),
            "inputs": _category([s.values.inputs for s in pop.scores], m),
            "input_a": stack([s.values.input_a for s in pop.scores]),
            "input_b": stack([s.values.input_b for s in pop.scores]),
            "value": stack([s.values.value for s in pop.scores]),
            "missing": stack([s.missing for s in pop.scores]),
            "missing_reason": _from_codes(reasons, categories=list(MISSING_REASONS)),
            "rule": _category([i.scoring.kind for i in inds], m),
            "bin": stack([s.outcome.bin for s in pop.scores]),
            "percentile": stack([s.outcome.percentile for s in pop.scores]),
            "peer_group": _from_codes(
                np.column_stack(level_codes).ravel() if k else np.empty(0, dtype="int16"),
                categories=levels,
            ),
            "raw_points": stack(
                [np.where(s.missing, 0.0, s.outcome.raw_points) for s in pop.scores]
            ),
            "max_points": np.tile(np.array([i.max_points for i in inds]), m),
            "weight": stack([s.weight for s in pop.scores]),
            "weight_applied": stack([s.weight_applied for s in pop.scores]),
            "weighted_points": stack([s.weighted for s in pop.scores]),
        },
        copy=False,
    )


def missing_report(pop: ScoredPopulation, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Per indicator: firms scored, firms missing and their share, firms by reason."""
    idx = np.arange(len(pop.frame)) if rows is None else np.asarray(rows)
    records = []
    for s in pop.scores:
        counts = np.bincount(s.values.reason[idx], minlength=len(MISSING_REASONS) + 1)
        missing = int(counts[1:].sum())
        records.append(
            {
                "indicator_id": s.indicator.id,
                "name_en": s.indicator.name_en,
                "firms": len(idx),
                "missing": missing,
                "missing_share": round(missing / len(idx), 4) if len(idx) else 0.0,
                **{reason: int(counts[i + 1]) for i, reason in enumerate(MISSING_REASONS)},
            }
        )
    return pd.DataFrame.from_records(records)
