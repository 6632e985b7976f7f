"""Model selection after the study: which trial, at how many rounds, is served.

TreeSHAP on every request costs about trees x leaves (0.3 ms a row for 128 trees of up to 31
leaves), so the study's best validation AUC is not bought at any size: among the completed
trials within ``tuning.compact_auc_tolerance`` of it, the one cheapest to explain is served,
cut to the fewest rounds that stay within that tolerance. The validation vintage is out of
time relative to train, so the AUC kept is an out-of-time AUC. The summary says what was
chosen over what, so the bundle, the model card and the tracking run can tell.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import optuna

from training.errors import TrainingError

LIGHTGBM_NUM_LEAVES = 31
"""LightGBM's own default, the leaves of a trial whose search space leaves num_leaves out."""


@dataclass(frozen=True)
class Selection:
    """The served trial and rounds against the study's best, with the tolerance that allowed it.

    TreeSHAP's cost is counted as rounds x num_leaves (the trees' most leaves; a binary model
    grows one tree per round).
    """

    tolerance: float
    study_best_trial: int
    study_best_valid_auc: float
    study_best_iteration: int
    study_best_num_leaves: int
    chosen_trial: int
    chosen_iteration: int
    chosen_num_leaves: int
    chosen_valid_auc: float
    n_within_tolerance: int

    @property
    def study_best_cost(self) -> int:
        """Rounds x leaves of the study's best trial at its best iteration."""
        return self.study_best_iteration * self.study_best_num_leaves

    @property
    def chosen_cost(self) -> int:
        """Rounds x leaves of the served model."""
        return self.chosen_iteration * self.chosen_num_leaves

    def describe(self) -> str:
        """One sentence: what is served, what it gives up and why it was allowed."""
        return (
            f"serving trial {self.chosen_trial} at {self.chosen_iteration} rounds x "
            f"{self.chosen_num_leaves} leaves (cost {self.chosen_cost}, valid AUC "
            f"{self.chosen_valid_auc:.4f}) for the study's best trial {self.study_best_trial} "
            f"at {self.study_best_iteration} rounds x {self.study_best_num_leaves} leaves (cost "
            f"{self.study_best_cost}, valid AUC {self.study_best_valid_auc:.4f}): the cheapest of "
            f"{self.n_within_tolerance} trial(s) within compact_auc_tolerance {self.tolerance:g}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields, both costs and the sentence, for the study summary and the bundle."""
        return asdict(self) | {
            "study_best_cost": self.study_best_cost,
            "chosen_cost": self.chosen_cost,
            "reason": self.describe(),
        }


def rounds_reaching(curve: Sequence[float], floor: float) -> int:
    """Return the fewest rounds whose validation AUC is at least ``floor``.

    Args:
        curve: validation AUC after each round (after ``i`` rounds it is ``curve[i - 1]``).
        floor: the AUC to reach.

    Raises:
        TrainingError: no round reaches ``floor`` (a caller's bug: the floor is at most the
            curve's best).

    """
    for rounds, auc in enumerate(curve, start=1):
        if auc >= floor:
            return rounds
    raise TrainingError(f"no round reaches validation AUC {floor}; best is {max(curve, default=0)}")


def num_leaves(trial: optuna.trial.FrozenTrial, base: dict[str, Any]) -> int:
    """Return a trial's num_leaves: searched, else fixed in ``base``, else LightGBM's default."""
    return int({**base, **trial.params}.get("num_leaves", LIGHTGBM_NUM_LEAVES))


def select(
    completed: Sequence[optuna.trial.FrozenTrial],
    best: optuna.trial.FrozenTrial,
    tolerance: float,
    base: dict[str, Any],
) -> Selection:
    """Choose the served trial and rounds: the cheapest to explain within ``tolerance``.

    Every completed trial whose best validation AUC is at least the study's best minus
    ``tolerance`` is a candidate, served at the fewest rounds whose AUC is still at least
    that floor (so the served AUC is never more than ``tolerance`` below the study's best;
    for the best trial these are its ``compact_iteration`` rounds). The candidate with the
    fewest rounds x leaves wins; ties go to the higher AUC, then to the earlier trial. With
    ``tolerance`` 0 it is the study's best trial at its best iteration, as Optuna reports
    it (an exact tie of AUC between trials included).

    Args:
        completed: the completed trials, each with a ``valid_auc_curve`` user attribute.
        best: the study's best trial.
        tolerance: validation AUC the served model may give up.
        base: the fixed LightGBM parameters (num_leaves when it is not searched).

    """
    best_auc = float(best.value or 0.0)
    floor = best_auc - tolerance
    if tolerance == 0:
        candidates = [best]
    else:
        candidates = [t for t in completed if t.value is not None and t.value >= floor]

    def served(trial: optuna.trial.FrozenTrial) -> tuple[int, int, float]:
        curve = trial.user_attrs["valid_auc_curve"]
        rounds = rounds_reaching(curve, floor)
        return rounds, num_leaves(trial, base), float(curve[rounds - 1])

    options = {t.number: served(t) for t in candidates}
    chosen = min(options, key=lambda n: (options[n][0] * options[n][1], -options[n][2], n))
    rounds, leaves, auc = options[chosen]
    return Selection(
        tolerance=tolerance,
        study_best_trial=best.number,
        study_best_valid_auc=best_auc,
        study_best_iteration=int(best.user_attrs["best_iteration"]),
        study_best_num_leaves=num_leaves(best, base),
        chosen_trial=chosen,
        chosen_iteration=rounds,
        chosen_num_leaves=leaves,
        chosen_valid_auc=auc,
        n_within_tolerance=len(candidates),
    )
