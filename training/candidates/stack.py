"""The stacked candidate: the scorecard's and LightGBM's logits added with fitted weights.

``margin = c + a·margin(scorecard) + b·margin(LightGBM)`` with ``a, b ≥ 0``, fitted by a
lightly penalised logistic regression on the two candidates' out-of-fold margins over the
judging folds; its own fold scores come from fitting the weights without the scored fold.
Both parts are tree ensembles over the same encoded matrix, so the stack is one too: the
trees of each, leaves scaled by their weight, the intercept in the first tree's leaves.
It serves, exports and explains like its parts (a feature's contribution is the weighted
sum of its contributions in each), and non-negative weights keep every declared direction.
"""

import time
from typing import Any

import lightgbm as lgb
import numpy as np

from training.candidates.base import CandidateResult, CvData, FinalModel, fold_scores
from training.candidates.scorecard import fit_bounded_logistic
from training.errors import TrainingError
from training.folds import out_of_fold

NAME = "stack"
TITLE = "Stack of scorecard and LightGBM"
META_C = 100.0
"""Inverse L2 strength of the weights' fit: light, three numbers on thousands of rows."""


def _weights(margins: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative weights and intercept of the two margins (coefficients on -margin ≤ 0)."""
    kept, coef, intercept = fit_bounded_logistic(-margins, y, META_C)
    weights = np.zeros(margins.shape[1])
    weights[kept] = -coef
    return weights, intercept


def _scaled_trees(booster: lgb.Booster, weight: float, shift: float) -> list[str]:
    """Return the booster's trees as text, leaves times ``weight``, ``shift`` in the first."""
    text = booster.model_to_string()
    body = text.split("end of trees")[0]
    blocks = body.split("\nTree=")[1:]
    trees = []
    for i, block in enumerate(blocks):
        lines = block.strip("\n").split("\n")[1:]  # drop the old index
        out = []
        for line in lines:
            if line.startswith("leaf_value="):
                values = [float(v) * weight + (shift if i == 0 else 0.0) for v in line[11:].split()]
                line = "leaf_value=" + " ".join(repr(v) for v in values)
            elif line.startswith("internal_value="):
                values = [float(v) * weight for v in line[15:].split()]
                line = "internal_value=" + " ".join(repr(v) for v in values)
            out.append(line)
        trees.append("\n".join(out))
    return trees


def combine(parts: list[tuple[lgb.Booster, float]], intercept: float) -> lgb.Booster:
    """One LightGBM model whose raw score is ``intercept + Σ weight·raw(booster)``."""
    parts = [(b, w) for b, w in parts if w > 0]
    if not parts:
        raise TrainingError("the stack's weights are all zero; nothing to serve")
    header = parts[0][0].model_to_string().split("\nTree=")[0]
    header = "\n".join(x for x in header.split("\n") if not x.startswith("tree_sizes="))
    trees: list[str] = []
    for k, (booster, weight) in enumerate(parts):
        trees += _scaled_trees(booster, weight, intercept if k == 0 else 0.0)
    text = header.rstrip("\n") + "\n\n"
    text += "".join(f"Tree={i}\n{tree}\n\n\n" for i, tree in enumerate(trees))
    text += "end of trees\n\nparameters:\nend of parameters\n\npandas_categorical:null\n"
    return lgb.Booster(model_str=text)


class StackCandidate:
    """Weights over the scorecard's and LightGBM's margins, fitted out of fold."""

    name = NAME

    def __init__(self) -> None:
        self.parts: list[CandidateResult] = []
        self.finals: dict[str, FinalModel] = {}

    def use(self, parts: list[CandidateResult]) -> "StackCandidate":
        """Stack these cross-validated candidates (their out-of-fold margins)."""
        self.parts = parts
        return self

    def cross_validate(self, data: CvData) -> CandidateResult:
        """Fit the weights without each judging fold and score that fold."""
        start = time.perf_counter()
        margins = np.column_stack([p.oof_margin for p in self.parts])
        losses, aucs, pieces = [], [], []
        for _, scored_idx in data.plan.folds:
            rest = np.setdiff1d(np.arange(len(data.y)), scored_idx)
            weights, intercept = _weights(margins[rest], data.y[rest])
            margin = intercept + margins[scored_idx] @ weights
            loss, auc = fold_scores(data.y[scored_idx], margin)
            losses.append(loss)
            aucs.append(auc)
            pieces.append(margin)
        weights, intercept = _weights(margins, data.y)

        params: dict[str, Any] = {
            f"weight_{p.name}": float(w) for p, w in zip(self.parts, weights, strict=True)
        }
        params["intercept"] = intercept
        return CandidateResult(
            name=NAME,
            title=TITLE,
            params=params,
            fold_log_loss=np.array(losses),
            fold_auc=np.array(aucs),
            oof_margin=out_of_fold(data.plan, pieces),
            seconds=time.perf_counter() - start,
            detail={
                "description": "margin = intercept + "
                + " + ".join(f"{w:.3f}·{p.name}" for p, w in zip(self.parts, weights, strict=True))
            },
        )

    def fit_final(self, data: CvData, result: CandidateResult) -> FinalModel:
        """Combine the parts' final models (set in ``finals`` by the pipeline) with the weights."""
        parts = [
            (self.finals[p.name].booster, float(result.params[f"weight_{p.name}"]))
            for p in self.parts
        ]
        booster = combine(parts, float(result.params["intercept"]))
        sizes = {
            f"{p.name}_{k}": v for p in self.parts for k, v in self.finals[p.name].size.items()
        }
        return FinalModel(booster, None, {}, sizes | {"trees": booster.num_trees()})
