"""Tuning stage: an Optuna TPE study over LightGBM parameters, with pruning.

Each trial trains on the train split and early-stops on the validation vintage; Optuna's
``LightGBMPruningCallback`` stops unpromising trials early (median pruner). Monotone
constraints come from the spec; when there are any, LightGBM's
``monotone_constraints_method`` is one of the study's choices. The budget is a number of
trials, a wall time, or both (whichever ends first). Everything is seeded.

A trial whose model breaks a declared monotone constraint on a grid check (LightGBM's
intermediate and advanced methods are known to leak) is pruned, so the study only picks
models that honour the constraints; the final model is checked again after fitting.

Class imbalance is handled deliberately, per ``tuning.imbalance`` in the training config:
``none`` (the default) trains on the natural default rate and leaves PD to the calibrator;
``tune_scale_pos_weight`` makes ``scale_pos_weight`` a searched parameter.

The served model is not always the best trial at its best iteration: TreeSHAP on every
request costs about trees x leaves, so among the completed trials within
``tuning.compact_auc_tolerance`` of the study's best validation AUC the one cheapest to
explain is served, cut to the fewest rounds that stay within that tolerance
(``training.select``). Each trial records its validation AUC after every round for that. A
tolerance of 0 serves the study's best trial at its best iteration.
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
from optuna_integration import LightGBMPruningCallback

from training.config import TrainingConfig
from training.errors import TrainingError
from training.monotonicity import check_monotonicity
from training.select import rounds_reaching, select

logger = logging.getLogger(__name__)
METRIC = "auc"
VALID_NAME = "valid"
DATASET_PARAMS = {"feature_pre_filter": False, "verbosity": -1}
_FLOAT_PARAMS = (
    "learning_rate",
    "feature_fraction",
    "bagging_fraction",
    "lambda_l1",
    "lambda_l2",
    "min_gain_to_split",
)


@dataclass(frozen=True)
class TrainValid:
    """Encoded train and validation matrices with their labels and constraints."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    feature_names: list[str]
    monotone: list[int]


@dataclass
class TuningResult:
    """What the study chose to serve, and what it found and cost.

    ``best_iteration`` and ``best_valid_auc`` are the served model's rounds and its validation
    AUC at those rounds (the study's best trial only when it is also the cheapest within the
    tolerance); ``summary["selection"]`` says what was chosen over what, and why.
    """

    params: dict[str, Any]
    best_iteration: int
    best_valid_auc: float
    summary: dict[str, Any] = field(default_factory=dict)


def base_params(config: TrainingConfig, monotone: list[int]) -> dict[str, Any]:
    """Return the fixed LightGBM parameters shared by every trial and the final fit."""
    params: dict[str, Any] = {
        "objective": "binary",
        "metric": METRIC,
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
    trial: optuna.Trial, config: TrainingConfig, monotone: list[int], pos_ratio: float
) -> dict[str, Any]:
    """Draw one parameter set from the configured search space."""
    space = config.tuning.search
    params = base_params(config, monotone)
    for name in _FLOAT_PARAMS:
        r = getattr(space, name)
        params[name] = trial.suggest_float(name, r.low, r.high, log=r.log)
    for name in ("num_leaves", "min_child_samples"):
        r = getattr(space, name)
        params[name] = trial.suggest_int(name, int(r.low), int(r.high), log=r.log)
    if any(monotone):
        methods = list(config.tuning.monotone_methods)
        params["monotone_constraints_method"] = trial.suggest_categorical(
            "monotone_constraints_method", methods
        )
    if config.tuning.imbalance == "tune_scale_pos_weight" and pos_ratio > 1:
        params["scale_pos_weight"] = trial.suggest_float(
            "scale_pos_weight", 1.0, pos_ratio, log=True
        )
    return params


class Tuner:
    """Run the study and time every LightGBM fit (to report LightGBM's share of the time).

    Args:
        config: training configuration (budget, search space, seed).
        on_trial: called after each finished trial with its number, e.g. to move a bar.

    """

    def __init__(
        self, config: TrainingConfig, on_trial: Callable[[int], None] | None = None
    ) -> None:
        self.config = config
        self.on_trial = on_trial
        self.lightgbm_seconds = 0.0

    def train(
        self,
        params: dict[str, Any],
        train_set: lgb.Dataset,
        num_boost_round: int,
        valid_set: lgb.Dataset | None = None,
        callbacks: list[Callable[..., Any]] | None = None,
    ) -> lgb.Booster:
        """Call ``lgb.train`` and add its wall time to ``lightgbm_seconds``."""
        start = time.perf_counter()
        try:
            return lgb.train(
                params,
                train_set,
                num_boost_round=num_boost_round,
                valid_sets=[valid_set] if valid_set is not None else None,
                valid_names=[VALID_NAME] if valid_set is not None else None,
                callbacks=callbacks,
            )
        finally:
            self.lightgbm_seconds += time.perf_counter() - start

    def run(self, data: TrainValid) -> TuningResult:
        """Run the study on ``data`` and return the best parameters and a summary."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        tuning = self.config.tuning
        dtrain = lgb.Dataset(
            data.X_train, data.y_train, params=DATASET_PARAMS, free_raw_data=False
        ).construct()
        dvalid = lgb.Dataset(
            data.X_valid, data.y_valid, reference=dtrain, params=DATASET_PARAMS
        ).construct()
        n_pos = max(int(data.y_train.sum()), 1)
        pos_ratio = (len(data.y_train) - n_pos) / n_pos

        def objective(trial: optuna.Trial) -> float:
            params = suggest(trial, self.config, data.monotone, pos_ratio)
            history: dict[str, dict[str, list[Any]]] = {}
            callbacks = [
                lgb.early_stopping(tuning.early_stopping_rounds, verbose=False),
                LightGBMPruningCallback(trial, METRIC, valid_name=VALID_NAME),
                lgb.record_evaluation(history),
            ]
            booster = self.train(params, dtrain, tuning.max_boost_rounds, dvalid, callbacks)
            best_iteration = int(booster.best_iteration)
            best_auc = float(booster.best_score[VALID_NAME][METRIC])
            # Rounds after the best are never served (select cuts at or before it).
            curve = [float(v) for v in history[VALID_NAME][METRIC][:best_iteration]]
            compact = rounds_reaching(curve, best_auc - tuning.compact_auc_tolerance)
            trial.set_user_attr("best_iteration", best_iteration)
            trial.set_user_attr("compact_iteration", compact)
            trial.set_user_attr("valid_auc_curve", curve)
            # Served rounds lie between these two; both ends must honour the constraints.
            self._reject_if_not_monotone(trial, booster, data, sorted({compact, best_iteration}))
            return best_auc

        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=self.config.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=30),
            study_name="jifen-lightgbm",
        )
        callbacks = [self._report] if self.on_trial else None
        start = time.perf_counter()
        study.optimize(
            objective, n_trials=tuning.n_trials, timeout=tuning.timeout_seconds, callbacks=callbacks
        )
        wall = time.perf_counter() - start
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            raise TrainingError(
                f"no trial completed within the budget (n_trials={tuning.n_trials}, "
                f"timeout_seconds={tuning.timeout_seconds}); raise the budget"
            )
        best = study.best_trial
        base = base_params(self.config, data.monotone)
        selection = select(completed, best, tuning.compact_auc_tolerance, base)
        chosen = next(t for t in completed if t.number == selection.chosen_trial)
        params = {**base, **chosen.params}
        summary = summarise(study, wall, self.lightgbm_seconds) | {"selection": selection.to_dict()}
        logger.info(
            "study: %d trials (%d pruned), best valid AUC %.4f at %d rounds, %.1fs (%.0f%% in "
            "LightGBM)",
            summary["n_trials"],
            summary["n_pruned"],
            best.value,
            best.user_attrs["best_iteration"],
            wall,
            100 * summary["lightgbm_share"],
        )
        logger.info("model selection: %s", selection.describe())
        return TuningResult(params, selection.chosen_iteration, selection.chosen_valid_auc, summary)

    def _reject_if_not_monotone(
        self,
        trial: optuna.Trial,
        booster: lgb.Booster,
        data: TrainValid,
        rounds: Sequence[int],
    ) -> None:
        """Prune a trial whose model at any of ``rounds`` breaks a declared constraint.

        LightGBM's intermediate and advanced methods are known to leak.
        """
        if not any(data.monotone):
            return
        for k in rounds:

            def predict_raw(m: np.ndarray, k: int = k) -> np.ndarray:
                return np.asarray(booster.predict(m, raw_score=True, num_iteration=k))

            report = check_monotonicity(
                predict_raw,
                data.X_train,
                data.feature_names,
                data.monotone,
                n_rows=min(self.config.monotonicity.rows, 100),
                grid_size=min(self.config.monotonicity.grid_size, 30),
                seed=self.config.seed + trial.number,
            )
            if report.violations:
                feature = report.violations[0].feature
                trial.set_user_attr("monotone_violation", feature)
                raise optuna.TrialPruned(f"monotone constraint on {feature} at {k} rounds")

    def _report(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.on_trial is not None:
            self.on_trial(trial.number)


def summarise(study: optuna.Study, wall_seconds: float, lightgbm_seconds: float) -> dict[str, Any]:
    """Return the study summary logged to the tracking run and the bundle."""
    states = [t.state for t in study.trials]
    trials = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "best_iteration": t.user_attrs.get("best_iteration"),
            "compact_iteration": t.user_attrs.get("compact_iteration"),
            "seconds": t.duration.total_seconds() if t.duration else None,
            "params": t.params,
            "monotone_violation": t.user_attrs.get("monotone_violation"),
        }
        for t in study.trials
    ]
    return {
        "study_name": study.study_name,
        "sampler": type(study.sampler).__name__,
        "pruner": type(study.pruner).__name__,
        "n_trials": len(states),
        "n_complete": states.count(optuna.trial.TrialState.COMPLETE),
        "n_pruned": states.count(optuna.trial.TrialState.PRUNED),
        "n_rejected_monotone": sum("monotone_violation" in t.user_attrs for t in study.trials),
        "best_value": study.best_value,
        "best_params": study.best_params,
        "best_iteration": study.best_trial.user_attrs.get("best_iteration"),
        "wall_seconds": wall_seconds,
        "lightgbm_seconds": lightgbm_seconds,
        "lightgbm_share": lightgbm_seconds / wall_seconds if wall_seconds > 0 else 0.0,
        "seconds_per_trial": wall_seconds / max(len(states), 1),
        "trials": trials,
    }


def fit_final(
    config: TrainingConfig,
    result: TuningResult,
    data: TrainValid,
    tuner: Tuner | None = None,
) -> lgb.Booster:
    """Refit the chosen parameters on train for the chosen rounds (single process).

    No validation set and no early stopping: the booster has exactly ``result.best_iteration``
    trees, the rounds the selection served.
    """
    tuner = tuner or Tuner(config)
    dtrain = lgb.Dataset(data.X_train, data.y_train, params=DATASET_PARAMS)
    return tuner.train(result.params, dtrain, max(result.best_iteration, 1))
