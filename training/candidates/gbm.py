"""The monotone LightGBM candidate: an Optuna study whose objective is the mean CV log loss.

Each trial runs ``lightgbm.cv`` on the tuning folds (stratified, grouped by firm), early
stopping on the folds' mean log loss, with Optuna's median pruner. The search space adapts
to the data: ``min_child_samples`` is drawn as a share of the rows, and with few defaults
the trees are kept small (``search.small_data_max_leaves``); path smoothing, extra trees,
max_bin and strong L1/L2 are searched. Monotone constraints come from the spec; a trial
whose model breaks one on a grid check is pruned (LightGBM's intermediate and advanced
methods are known to leak).

The chosen trial is the lowest mean CV log loss, served at the fewest rounds whose mean CV
log loss stays within ``tuning.compact_log_loss_tolerance`` of its best (TreeSHAP's cost
per request grows with the trees). It is then judged on *other* folds (a fresh shuffle,
parameters and rounds fixed), so the study's own optimism is not in the score it is
compared with the other candidates on.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
from optuna_integration import LightGBMPruningCallback

from training.candidates.base import CandidateResult, CvData, FinalModel, fold_scores
from training.config import TrainingConfig
from training.errors import TrainingError
from training.folds import CvPlan, out_of_fold
from training.monotonicity import check_monotonicity

logger = logging.getLogger(__name__)
NAME = "lightgbm"
TITLE = "Monotone LightGBM (Optuna, CV)"
DATASET_PARAMS = {"feature_pre_filter": False, "verbosity": -1}
LOSS = "binary_logloss"
_FLOAT_PARAMS = ("learning_rate", "feature_fraction", "bagging_fraction", "lambda_l1")
_FLOAT_PARAMS_2 = ("lambda_l2", "min_gain_to_split", "path_smooth")


def base_params(config: TrainingConfig, monotone: list[int]) -> dict[str, Any]:
    """Return the fixed LightGBM parameters shared by every trial and the final fit."""
    params: dict[str, Any] = {
        "objective": "binary",
        "metric": [LOSS, "auc"],
        "first_metric_only": True,
        "verbosity": -1,
        "seed": config.seed,
        "num_threads": config.n_jobs,
        "deterministic": True,
        "force_row_wise": True,
        "bagging_freq": 1,
    }
    if any(monotone):
        params["monotone_constraints"] = list(monotone)
    return params


def suggest(
    trial: optuna.Trial, config: TrainingConfig, data: CvData, pos_ratio: float
) -> dict[str, Any]:
    """Draw one parameter set from the configured space, adapted to the data's size."""
    space = config.tuning.search
    params = base_params(config, data.monotone)
    for name in (*_FLOAT_PARAMS, *_FLOAT_PARAMS_2):
        r = getattr(space, name)
        params[name] = trial.suggest_float(name, r.low, r.high, log=r.log)
    bads = int(data.y.sum())
    high_leaves = int(space.num_leaves.high)
    if bads < space.small_data_bads:
        high_leaves = min(high_leaves, space.small_data_max_leaves)
    low_leaves = min(int(space.num_leaves.low), high_leaves - 1)
    params["num_leaves"] = trial.suggest_int(
        "num_leaves", low_leaves, high_leaves, log=space.num_leaves.log
    )
    share = trial.suggest_float(
        "min_child_share", space.min_child_share.low, space.min_child_share.high, log=True
    )
    rows = len(data.y) * (data.plan.k - 1) / data.plan.k
    params["min_child_samples"] = max(5, round(share * rows))
    params["max_bin"] = trial.suggest_categorical("max_bin", list(space.max_bin))
    params["extra_trees"] = trial.suggest_categorical("extra_trees", list(space.extra_trees))
    if any(data.monotone):
        params["monotone_constraints_method"] = trial.suggest_categorical(
            "monotone_constraints_method", list(config.tuning.monotone_methods)
        )
    if config.tuning.imbalance == "tune_scale_pos_weight" and pos_ratio > 1:
        params["scale_pos_weight"] = trial.suggest_float(
            "scale_pos_weight", 1.0, pos_ratio, log=True
        )
    return params


def fit_params(params: dict[str, Any], rows: int) -> dict[str, Any]:
    """LightGBM parameters for a fit on ``rows`` rows: the leaf-size share made a count.

    The share is what was tuned, so a fit on more rows (the judging folds, the final refit)
    keeps leaves of the same share of the data.
    """
    out = {k: v for k, v in params.items() if k not in ("metric", "first_metric_only")}
    share = out.pop("min_child_share", None)
    if share is not None:
        out["min_child_samples"] = max(5, round(float(share) * rows))
    return out


def rounds_within(curve: list[float], tolerance: float) -> int:
    """Fewest rounds whose loss is within ``tolerance`` of the curve's best."""
    ceiling = min(curve) + tolerance
    return next(i for i, v in enumerate(curve, start=1) if v <= ceiling)


class LightGbmCandidate:
    """Optuna over ``lightgbm.cv``; the served booster refitted on the whole window.

    Args:
        config: training configuration (budget, search space, seed).
        judge: the folds the tuned model is scored on (another shuffle than ``data.plan``).
        on_trial: called after each finished trial, e.g. to move a progress bar.

    """

    name = NAME

    def __init__(
        self,
        config: TrainingConfig,
        judge: CvPlan,
        on_trial: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.judge = judge
        self.on_trial = on_trial
        self.lightgbm_seconds = 0.0

    def _cv(
        self, params: dict[str, Any], data: CvData, rounds: int, callbacks: list[Any]
    ) -> dict[str, Any]:
        dtrain = lgb.Dataset(data.X, data.y, params=DATASET_PARAMS, free_raw_data=False)
        start = time.perf_counter()
        try:
            return dict(
                lgb.cv(
                    {**params, "max_bin": params.get("max_bin", 255)},
                    dtrain,
                    num_boost_round=rounds,
                    folds=list(data.plan.folds),
                    callbacks=callbacks,
                    return_cvbooster=True,
                )
            )
        finally:
            self.lightgbm_seconds += time.perf_counter() - start

    def cross_validate(self, data: CvData) -> CandidateResult:
        """Run the study on the tuning folds, then judge the chosen model on fresh folds."""
        start = time.perf_counter()
        tuning = self.config.tuning
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        n_pos = max(int(data.y.sum()), 1)
        pos_ratio = (len(data.y) - n_pos) / n_pos

        def objective(trial: optuna.Trial) -> float:
            params = suggest(trial, self.config, data, pos_ratio)
            callbacks = [
                lgb.early_stopping(tuning.early_stopping_rounds, verbose=False),
                LightGBMPruningCallback(trial, LOSS, valid_name="valid"),
            ]
            result = self._cv(params, data, tuning.max_boost_rounds, callbacks)
            curve = [float(v) for v in result[f"valid {LOSS}-mean"]]
            best = int(np.argmin(curve)) + 1
            rounds = rounds_within(curve[:best], tuning.compact_log_loss_tolerance)
            trial.set_user_attr("best_iteration", best)
            trial.set_user_attr("served_rounds", rounds)
            trial.set_user_attr("cv_auc", float(result["valid auc-mean"][rounds - 1]))
            self._reject_if_not_monotone(trial, result["cvbooster"].boosters[0], data, rounds)
            return float(curve[rounds - 1])

        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=self.config.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=30),
            study_name="jifen-lightgbm-cv",
        )
        study.optimize(
            objective,
            n_trials=tuning.n_trials,
            timeout=tuning.timeout_seconds,
            callbacks=[self._report] if self.on_trial else None,
        )
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed and any(data.monotone) and "basic" in tuning.monotone_methods:
            # Every trial broke a declared constraint (intermediate and advanced leak): one
            # more trial with LightGBM's basic method, which cannot, so a small budget still
            # yields a candidate. The summary counts it like any other trial.
            last = study.trials[-1].params if study.trials else {}
            study.enqueue_trial({**last, "monotone_constraints_method": "basic"})
            study.optimize(objective, n_trials=1)
            completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            raise TrainingError(
                f"no LightGBM trial completed within the budget (n_trials={tuning.n_trials}, "
                f"timeout_seconds={tuning.timeout_seconds}); raise the budget"
            )
        best = study.best_trial
        params = {**base_params(self.config, data.monotone), **best.params}
        rounds = int(best.user_attrs["served_rounds"])
        losses, aucs, oof = self._judge(params, rounds, data)
        study_summary = summarise(study, time.perf_counter() - start, self.lightgbm_seconds)
        return CandidateResult(
            name=NAME,
            title=TITLE,
            params={**params, "num_boost_round": rounds},
            fold_log_loss=losses,
            fold_auc=aucs,
            oof_margin=oof,
            seconds=time.perf_counter() - start,
            detail={
                "study": study_summary,
                "description": (
                    f"trial {best.number} of {len(study.trials)} ({len(completed)} complete), "
                    f"{rounds} rounds x {params['num_leaves']} leaves (best iteration "
                    f"{best.user_attrs['best_iteration']}; fewest rounds within "
                    f"{tuning.compact_log_loss_tolerance:g} of its CV log loss)"
                ),
                "size": {"trees": rounds, "max_leaves": int(params["num_leaves"])},
            },
        )

    def _judge(
        self, params: dict[str, Any], rounds: int, data: CvData
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fit the chosen settings on each judging fold (no early stopping) and score it."""
        losses, aucs, margins = [], [], []
        for fit_idx, scored_idx in self.judge.folds:
            dtrain = lgb.Dataset(data.X[fit_idx], data.y[fit_idx], params=DATASET_PARAMS)
            start = time.perf_counter()
            booster = lgb.train(fit_params(params, len(fit_idx)), dtrain, num_boost_round=rounds)
            self.lightgbm_seconds += time.perf_counter() - start
            margin = np.asarray(booster.predict(data.X[scored_idx], raw_score=True))
            loss, auc = fold_scores(data.y[scored_idx], margin)
            losses.append(loss)
            aucs.append(auc)
            margins.append(margin)
        return np.array(losses), np.array(aucs), out_of_fold(self.judge, margins)

    def fit_final(self, data: CvData, result: CandidateResult) -> FinalModel:
        """Refit the chosen parameters on every row for the chosen rounds."""
        params = dict(result.params)
        rounds = int(params.pop("num_boost_round"))
        dtrain = lgb.Dataset(data.X, data.y, params=DATASET_PARAMS)
        booster = lgb.train(fit_params(params, len(data.y)), dtrain, num_boost_round=max(rounds, 1))
        size = {"trees": booster.num_trees(), "max_leaves": int(params["num_leaves"])}
        return FinalModel(booster, None, {}, size)

    def _reject_if_not_monotone(
        self, trial: optuna.Trial, booster: lgb.Booster, data: CvData, rounds: int
    ) -> None:
        """Prune a trial whose model at the served rounds breaks a declared constraint."""
        if not any(data.monotone):
            return

        def predict_raw(m: np.ndarray) -> np.ndarray:
            return np.asarray(booster.predict(m, raw_score=True, num_iteration=rounds))

        report = check_monotonicity(
            predict_raw,
            data.X,
            data.feature_names,
            data.monotone,
            n_rows=min(self.config.monotonicity.rows, 100),
            grid_size=min(self.config.monotonicity.grid_size, 30),
            seed=self.config.seed + trial.number,
        )
        if report.violations:
            feature = report.violations[0].feature
            trial.set_user_attr("monotone_violation", feature)
            raise optuna.TrialPruned(f"monotone constraint on {feature} at {rounds} rounds")

    def _report(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.on_trial is not None:
            self.on_trial(trial.number)


def summarise(study: optuna.Study, wall_seconds: float, lightgbm_seconds: float) -> dict[str, Any]:
    """Return the study summary logged to the tracking run and the bundle."""
    states = [t.state for t in study.trials]
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_trial if completed else None
    return {
        "study_name": study.study_name,
        "objective": "mean CV log loss",
        "sampler": type(study.sampler).__name__,
        "pruner": type(study.pruner).__name__,
        "n_trials": len(states),
        "n_complete": states.count(optuna.trial.TrialState.COMPLETE),
        "n_pruned": states.count(optuna.trial.TrialState.PRUNED),
        "n_rejected_monotone": sum("monotone_violation" in t.user_attrs for t in study.trials),
        "best_value": best.value if best else None,
        "best_params": best.params if best else None,
        "best_iteration": best.user_attrs.get("best_iteration") if best else None,
        "wall_seconds": wall_seconds,
        "lightgbm_seconds": lightgbm_seconds,
        "lightgbm_share": lightgbm_seconds / wall_seconds if wall_seconds > 0 else 0.0,
        "seconds_per_trial": wall_seconds / max(len(states), 1),
        "trials": [
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "best_iteration": t.user_attrs.get("best_iteration"),
                "served_rounds": t.user_attrs.get("served_rounds"),
                "params": t.params,
                "monotone_violation": t.user_attrs.get("monotone_violation"),
            }
            for t in study.trials
        ],
    }
