"""Turn indicator values into raw points with the catalogue's scoring rules."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalogue import PercentileRule, ScoringRule, ThresholdRule
from features.catalogue.rules import Direction
from features.points.inputs import group_codes

ALL_PEERS = "all"


@dataclass(frozen=True)
class RuleOutcome:
    """Per-firm result of a scoring rule; missing values get bin -1 and 0 raw points."""

    bin: np.ndarray
    raw_points: np.ndarray
    percentile: np.ndarray
    peer_level: np.ndarray
    """Index into ``peer_levels`` of the peers used per firm (int8), -1 when none."""
    peer_levels: tuple[str, ...]
    """Peer levels from finest to the whole population, e.g. ``zone_id*industry``."""


def _bin(
    numbers: np.ndarray, bounds: list[float], points: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    present = ~np.isnan(numbers)
    index = np.searchsorted(np.asarray(bounds, dtype="float64"), numbers, side="right")
    bins = np.where(present, index, -1)
    raw = np.where(
        present, np.asarray(points, dtype="float64")[np.clip(index, 0, len(points) - 1)], 0.0
    )
    return bins.astype("int16"), raw


def peer_levels(rule: PercentileRule) -> tuple[list[list[str]], tuple[str, ...]]:
    """Peer groupings from the rule's keys down to the whole population, with labels."""
    keys: list[str] = list(rule.peer_group)
    levels = [keys[:k] for k in range(len(keys), -1, -1)]
    return levels, tuple("*".join(g) if g else ALL_PEERS for g in levels)


def peer_percentile(
    values: np.ndarray, frame: pd.DataFrame, rule: PercentileRule, direction: Direction
) -> tuple[np.ndarray, np.ndarray]:
    """Oriented percentile of each firm's value among its peers, and the peer level used.

    Percentile = 100 * (peers whose value is no better than the firm's) / (peers with a
    value), peers being firms with a value in the same group. Groups with fewer than
    ``min_peers`` valued firms fall back to a coarser level (drop the last key), down to
    the whole scored population. Firms without a value get NaN.
    """
    oriented = values if direction == "higher_is_better" else -values
    present = ~np.isnan(oriented)
    n = len(values)
    percentile = np.full(n, np.nan)
    level = np.full(n, -1, dtype="int8")
    decided = ~present
    levels, _ = peer_levels(rule)
    for code, group_keys in enumerate(levels):
        if decided.all():
            break
        pct, size = _group_percentile(oriented, present, frame, group_keys)
        take = ~decided & ((size >= rule.min_peers) | (not group_keys))
        percentile[take] = pct[take]
        level[take] = code
        decided |= take
    return percentile, level


def _group_percentile(
    oriented: np.ndarray, present: np.ndarray, frame: pd.DataFrame, keys: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    values = pd.Series(np.where(present, oriented, np.nan))
    grouped = values.groupby(group_codes(frame, keys), sort=False)
    rank = grouped.rank(method="max").to_numpy()
    size = grouped.transform("count").to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * rank / size
    return pct, size


def apply_rule(
    rule: ScoringRule, values: np.ndarray, frame: pd.DataFrame, direction: Direction
) -> RuleOutcome:
    """Score every firm's value with ``rule`` (bins on the value, or on the percentile)."""
    if isinstance(rule, ThresholdRule):
        bins, raw = _bin(values, rule.bounds, rule.points)
        nan = np.full(len(values), np.nan)
        return RuleOutcome(bins, raw, nan, np.full(len(values), -1, dtype="int8"), ())
    percentile, level = peer_percentile(values, frame, rule, direction)
    bins, raw = _bin(percentile, rule.bounds, rule.points)
    return RuleOutcome(bins, raw, percentile, level, peer_levels(rule)[1])
