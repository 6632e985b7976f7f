"""Write an additive model of step functions as a LightGBM model, one tree per feature.

A WoE scorecard is a sum of step functions (points per bin) plus an intercept: exactly a
tree ensemble whose every tree splits on one feature. Written in LightGBM's text format it
goes through the same seam as the gradient-boosted candidates: the float32 threshold
rewrite, ONNX export with the parity gate, the load-time probe and exact TreeSHAP in
serving, none of which needs to know what kind of model it serves. For a tree on one
feature TreeSHAP's contribution is the tree's value minus its cover-weighted mean, i.e.
the scorecard's ``coefficient x WoE`` term centred on the training window.

Bins are left-closed like OptBinning's (``[s_i, s_{i+1})``); LightGBM sends ``x <= t`` left,
so each cut ``s`` is written as the largest float32 below it, which sends every float32
input to the same bin as OptBinning does. Missing values take a leaf of their own: the
root splits at the largest float32 and sends NaN right.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

_FLT_MAX = float(np.finfo(np.float32).max)
COVER_SCALE = 1000
_NAN_RIGHT = 8
"""decision_type: numerical split, missing type NaN, missing values go right."""


@dataclass(frozen=True)
class StepFunction:
    """A feature's contribution: ``values[i]`` on bin i, ``missing_value`` on NaN.

    ``cuts`` are the left-closed bin edges (bin 0 is ``x < cuts[0]``); ``counts`` the
    training rows per bin and ``missing_count`` the missing ones (TreeSHAP's cover).
    """

    feature: int
    cuts: tuple[float, ...]
    values: tuple[float, ...]
    counts: tuple[int, ...]
    missing_value: float
    missing_count: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Evaluate on float32 inputs, as the tree does (for the build-time check)."""
        x32 = np.asarray(x, dtype=np.float32)
        index = np.searchsorted(np.array([_below(c) for c in self.cuts]), x32, side="left")
        out = np.asarray(self.values, dtype=np.float64)[index]
        return np.where(np.isnan(x32), self.missing_value, out)


def _below(cut: float) -> float:
    """Return the largest float32 strictly below ``cut``: ``x < cut`` iff ``x <= result``."""
    down = np.float32(cut)
    if float(down) >= cut:
        down = np.nextafter(down, np.float32(-np.inf), dtype=np.float32)
    return float(down)


def _tree_text(index: int, step: StepFunction, shift: float) -> str:
    """One tree: root sends NaN right, then a chain of cuts down the bins."""
    values = [v + shift for v in step.values]
    # TreeSHAP divides by covers: an empty leaf (often the missing one) gives NaN, so the
    # covers are the counts x COVER_SCALE with 1 for an empty leaf: its weight in the base
    # value is then 1 / (COVER_SCALE x rows), far below the 1e-6 additivity bound.
    n_bins = len(values)
    # Internal node 0: x <= FLT_MAX (every number) left, NaN right to the missing leaf.
    # Internal node i (1..n_bins-1): x <= cut left to bin i-1, else on down the chain.
    features, thresholds, left, right = [step.feature], [_FLT_MAX], [], []
    leaf_values = [*values, step.missing_value + shift]
    leaf_counts = [max(c * COVER_SCALE, 1) for c in (*step.counts, step.missing_count)]
    missing_leaf = n_bins  # leaves 0..n_bins-1 are the bins
    left.append(1 if n_bins > 1 else ~0)
    right.append(~missing_leaf)
    for i, cut in enumerate(step.cuts, start=1):
        features.append(step.feature)
        thresholds.append(_below(cut))
        left.append(~(i - 1))
        right.append(i + 1 if i < n_bins - 1 else ~(n_bins - 1))
    n_internal = len(features)
    internal_counts = [sum(leaf_counts)]
    for i in range(1, n_internal):
        internal_counts.append(sum(leaf_counts[i - 1 : n_bins]))
    internal_values = [0.0] * n_internal
    count_text = " ".join(str(c) for c in leaf_counts)
    return "\n".join(
        [
            f"Tree={index}",
            f"num_leaves={len(leaf_values)}",
            "num_cat=0",
            "split_feature=" + " ".join(map(str, features)),
            "split_gain=" + " ".join("1" for _ in features),
            "threshold=" + " ".join(repr(t) for t in thresholds),
            "decision_type=" + " ".join(str(_NAN_RIGHT) for _ in features),
            "left_child=" + " ".join(map(str, left)),
            "right_child=" + " ".join(map(str, right)),
            "leaf_value=" + " ".join(repr(float(v)) for v in leaf_values),
            "leaf_weight=" + count_text,
            "leaf_count=" + count_text,
            "internal_value=" + " ".join(repr(v) for v in internal_values),
            "internal_weight=" + " ".join(str(c) for c in internal_counts),
            "internal_count=" + " ".join(str(c) for c in internal_counts),
            "is_linear=0",
            "shrinkage=1",
            "",
            "",
        ]
    )


def additive_booster(
    steps: Sequence[StepFunction], n_features: int, intercept: float
) -> lgb.Booster:
    """Return a LightGBM binary model whose raw score is ``intercept + sum(step(x))``.

    The intercept is added to every leaf of the first tree (TreeSHAP puts it in the base
    value). With no step at all, a single tree on feature 0 carries the intercept alone.
    """
    steps = list(steps) or [StepFunction(0, (), (0.0,), (1,), 0.0, 0)]
    names = " ".join(f"Column_{j}" for j in range(n_features))
    header = "\n".join(
        [
            "tree",
            "version=v4",
            "num_class=1",
            "num_tree_per_iteration=1",
            "label_index=0",
            f"max_feature_idx={n_features - 1}",
            "objective=binary sigmoid:1",
            f"feature_names={names}",
            "feature_infos=" + " ".join("none" for _ in range(n_features)),
            "",
            "",
        ]
    )
    trees = [_tree_text(i, s, intercept if i == 0 else 0.0) for i, s in enumerate(steps)]
    text = header + "".join(trees) + "end of trees\n\nparameters:\nend of parameters\n\n"
    return lgb.Booster(model_str=text + "pandas_categorical:null\n")


def raw_score(steps: Sequence[StepFunction], matrix: np.ndarray, intercept: float) -> np.ndarray:
    """Evaluate the additive model directly (for the check against the written trees)."""
    total = np.full(len(matrix), intercept, dtype=np.float64)
    for step in steps:
        total += step(matrix[:, step.feature])
    return total
