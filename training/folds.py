"""Cross-validation folds of the training window: stratified, grouped by firm, repeated.

Every candidate is tuned, compared and calibrated on the same folds, so their fold scores
pair up. With a ``group_column`` (the simulator's training set names the credit code) a
firm's applications all fall in one fold: repeat applicants never sit on both sides.
With few defaults the folds are repeated with other shuffles, because one 5-fold cut of a
small book is noisy.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from training.config import CvConfig, MinimumsConfig
from training.errors import DatasetError

Fold = tuple[np.ndarray, np.ndarray]
"""Row indices (of the training window) to fit on and to score."""


@dataclass(frozen=True)
class CvPlan:
    """The folds every candidate is cross-validated on."""

    folds: tuple[Fold, ...]
    k: int
    repeats: int
    grouped: bool
    n_rows: int

    @property
    def n_folds(self) -> int:
        """Number of fits (k x repeats)."""
        return len(self.folds)

    def repeat_of(self, index: int) -> int:
        """Which repeat fold ``index`` belongs to."""
        return index // self.k

    def describe(self) -> str:
        """One line for logs and the report."""
        kind = "stratified, grouped by firm" if self.grouped else "stratified"
        times = f" x {self.repeats} repeats" if self.repeats > 1 else ""
        return f"{self.k}-fold{times} ({kind}) on {self.n_rows:,} training rows"

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON form for the bundle and the report."""
        return {
            "k": self.k,
            "repeats": self.repeats,
            "grouped": self.grouped,
            "n_rows": self.n_rows,
            "description": self.describe(),
        }


def plan_folds(
    y: np.ndarray,
    groups: np.ndarray | None,
    cv: CvConfig,
    minimums: MinimumsConfig,
    seed: int,
    repeat: bool = True,
    k: int | None = None,
) -> CvPlan:
    """Cut the training window into folds (repeated when defaults are few and ``repeat``).

    Raises:
        DatasetError: too few defaults (or firms) for the fold count: every scored fold
            must hold at least ``minimums.bads_per_fold`` defaults.

    """
    y = np.asarray(y, dtype=np.int64)
    bads = int(y.sum())
    cv = cv if k is None else cv.model_copy(update={"folds": k})
    repeats = cv.small_data_repeats if bads < cv.small_data_bads else cv.repeats
    repeats = repeats if repeat else 1
    need = cv.folds * minimums.bads_per_fold
    if bads < need:
        raise DatasetError(
            f"the training window holds {bads} defaults; {cv.folds}-fold cross-validation "
            f"needs at least cv.folds x minimums.bads_per_fold = {need}"
        )
    folds: list[Fold] = []
    for r in range(repeats):
        if groups is None:
            splitter = StratifiedKFold(n_splits=cv.folds, shuffle=True, random_state=seed + r)
            cuts = splitter.split(np.zeros(len(y)), y)
        else:
            _check_groups(groups, y, cv.folds)
            grouped = StratifiedGroupKFold(n_splits=cv.folds, shuffle=True, random_state=seed + r)
            cuts = grouped.split(np.zeros(len(y)), y, groups)
        folds += [(np.asarray(a), np.asarray(b)) for a, b in cuts]
    for i, (_, scored) in enumerate(folds):
        found = int(y[scored].sum())
        if found < minimums.bads_per_fold:
            raise DatasetError(
                f"fold {i + 1} of {len(folds)} scores {len(scored)} rows with {found} defaults; "
                f"each fold needs at least minimums.bads_per_fold = {minimums.bads_per_fold} "
                "(fewer folds, or more data)"
            )
    return CvPlan(tuple(folds), cv.folds, repeats, groups is not None, len(y))


def _check_groups(groups: np.ndarray, y: np.ndarray, k: int) -> None:
    firms_with_default = len(np.unique(groups[y == 1]))
    if len(np.unique(groups)) < k or firms_with_default < k:
        raise DatasetError(
            f"the training window holds {len(np.unique(groups))} firms, {firms_with_default} "
            f"of them with a default; {k}-fold grouped cross-validation needs at least {k} of each"
        )


def out_of_fold(plan: CvPlan, per_fold: list[np.ndarray]) -> np.ndarray:
    """Average each row's out-of-fold predictions over the repeats (one value per row)."""
    total = np.zeros(plan.n_rows)
    seen = np.zeros(plan.n_rows)
    for (_, scored), values in zip(plan.folds, per_fold, strict=True):
        total[scored] += values
        seen[scored] += 1
    return total / np.maximum(seen, 1)
