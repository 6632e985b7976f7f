"""Tuning and model selection: the served model is the cheapest to explain within the tolerance.

TreeSHAP's cost per request grows with trees x leaves, so the study serves the trial and
rounds with the fewest of them whose validation (out-of-time) AUC is within
``tuning.compact_auc_tolerance`` of the study's best; 0 serves the best trial at its best
iteration. AUCs are recomputed here from the refit booster, not read from the study.
"""

from pathlib import Path
from typing import Any

import lightgbm as lgb
import optuna
import pandas as pd
import pytest
import yaml
from optuna.distributions import IntDistribution
from sklearn.metrics import roc_auc_score

from training.config import TrainingConfig, load_config
from training.data import prepare
from training.encode import FeatureEncoder
from training.errors import TrainingConfigError
from training.select import LIGHTGBM_NUM_LEAVES, select
from training.spec import DatasetSpec
from training.tune import TrainValid, Tuner, TuningResult, fit_final

TOLERANCE = 0.005
"""Positive tolerance of the behaviour tests: wide enough that the seeded study does cut."""


def _config(tolerance: float) -> TrainingConfig:
    """The shipped config with a small seeded budget (seconds) and the tolerance given."""
    raw = load_config().model_dump()
    raw["tuning"] |= {
        "n_trials": 6,
        "max_boost_rounds": 300,
        "early_stopping_rounds": 30,
        "compact_auc_tolerance": tolerance,
    }
    return TrainingConfig.model_validate(raw)


def _cost(booster: lgb.Booster, result: TuningResult) -> int:
    """Trees x most leaves per tree of a refit booster (what TreeSHAP's cost grows with)."""
    return booster.num_trees() * int(result.params["num_leaves"])


def _valid_auc(booster: lgb.Booster, data: TrainValid) -> float:
    return float(roc_auc_score(data.y_valid, booster.predict(data.X_valid)))


@pytest.fixture(scope="module")
def train_valid(loan_book: pd.DataFrame, spec_dict: dict[str, Any]) -> TrainValid:
    """The BYOD fixture encoded as the pipeline does, with its three monotone constraints."""
    spec, config = DatasetSpec.model_validate(spec_dict), load_config()
    splits = prepare(loan_book, spec)
    enc = config.encoding
    encoder = FeatureEncoder(
        list(spec.categorical), list(spec.numeric), enc.smoothing, enc.folds, config.seed
    )
    x_train = encoder.fit_transform(splits.train.frame, splits.train.y)
    monotone = [spec.monotone.get(f, 0) for f in encoder.feature_names]
    return TrainValid(
        x_train,
        splits.train.y,
        encoder.transform(splits.valid.frame),
        splits.valid.y,
        encoder.feature_names,
        monotone,
    )


@pytest.fixture(scope="module")
def tuned(train_valid: TrainValid) -> dict[float, tuple[TuningResult, lgb.Booster]]:
    """The same seeded study with tolerance 0 and TOLERANCE, each refit as the pipeline does."""
    out = {}
    for tolerance in (0.0, TOLERANCE):
        config = _config(tolerance)
        result = Tuner(config).run(train_valid)
        out[tolerance] = (result, fit_final(config, result, train_valid))
    return out


def test_zero_tolerance_serves_the_study_best_trial_at_its_best_iteration(
    tuned: dict[float, tuple[TuningResult, lgb.Booster]], train_valid: TrainValid
) -> None:
    """Tolerance 0 is the behaviour before selection: best trial, its early-stopped rounds."""
    result, booster = tuned[0.0]
    summary, selection = result.summary, result.summary["selection"]
    assert selection["chosen_trial"] == selection["study_best_trial"]
    assert result.params.items() >= summary["best_params"].items()
    assert result.best_iteration == summary["best_iteration"] == selection["study_best_iteration"]
    assert result.best_valid_auc == summary["best_value"]
    assert booster.num_trees() == result.best_iteration
    assert _valid_auc(booster, train_valid) == pytest.approx(summary["best_value"], abs=1e-9)


def test_positive_tolerance_serves_a_smaller_model_within_tolerance_of_the_best(
    tuned: dict[float, tuple[TuningResult, lgb.Booster]], train_valid: TrainValid
) -> None:
    """No more trees x leaves than the best trial's; valid AUC at most TOLERANCE below it."""
    best, best_booster = tuned[0.0]
    result, booster = tuned[TOLERANCE]
    assert booster.num_trees() == result.best_iteration
    assert _cost(booster, result) <= _cost(best_booster, best)
    # On this seeded study the tolerance does cut, so the comparison above is not vacuous.
    assert _cost(booster, result) < _cost(best_booster, best)
    assert _valid_auc(booster, train_valid) >= _valid_auc(best_booster, train_valid) - TOLERANCE
    assert result.best_valid_auc == pytest.approx(_valid_auc(booster, train_valid), abs=1e-9)


def test_selection_summary_says_what_was_served_over_what(
    tuned: dict[float, tuple[TuningResult, lgb.Booster]],
) -> None:
    """The summary (bundle, model card, MLflow) names both trials, rounds, leaves and AUCs."""
    result, _ = tuned[TOLERANCE]
    selection = result.summary["selection"]
    assert selection["tolerance"] == TOLERANCE
    assert selection["chosen_iteration"] == result.best_iteration
    assert selection["chosen_num_leaves"] == result.params["num_leaves"]
    assert selection["chosen_valid_auc"] == result.best_valid_auc
    assert selection["chosen_cost"] < selection["study_best_cost"]
    assert (
        f"trial {selection['chosen_trial']} at {result.best_iteration} rounds"
        in (selection["reason"])
    )
    trials = {t["number"]: t for t in result.summary["trials"] if t["state"] == "COMPLETE"}
    assert all(t["compact_iteration"] <= t["best_iteration"] for t in trials.values())


def _trial(number: int, curve: list[float], leaves: int | None) -> optuna.trial.FrozenTrial:
    """A completed trial whose validation AUC after round i is curve[i - 1]."""
    best = max(range(len(curve)), key=lambda i: (curve[i], -i))
    params = {} if leaves is None else {"num_leaves": leaves}
    distributions = {} if leaves is None else {"num_leaves": IntDistribution(2, 256)}
    trial = optuna.trial.create_trial(
        value=curve[best],
        params=params,
        distributions=distributions,
        user_attrs={"best_iteration": best + 1, "valid_auc_curve": curve},
    )
    trial.number = number
    return trial


def test_select_serves_a_cheaper_trial_at_the_rounds_that_reach_the_study_floor() -> None:
    """A trial within tolerance is served where it reaches best - tolerance, not its own floor."""
    best = _trial(0, [0.70, 0.75, 0.80], leaves=31)
    cheap = _trial(1, [0.70, 0.782, 0.79, 0.79], leaves=4)
    outside = _trial(2, [0.60, 0.77], leaves=2)  # cheapest of all, but 0.03 below the best
    selection = select([best, cheap, outside], best, 0.02, {})
    assert (selection.chosen_trial, selection.chosen_iteration) == (1, 2)
    assert selection.chosen_valid_auc == 0.782
    assert selection.n_within_tolerance == 2
    assert (selection.study_best_cost, selection.chosen_cost) == (3 * 31, 2 * 4)


def test_select_breaks_cost_ties_by_auc_then_trial_number() -> None:
    """Equal trees x leaves: the higher AUC wins; equal AUC too: the earlier trial wins."""
    best = _trial(0, [0.70, 0.80], leaves=16)  # 2 rounds x 16 leaves: dearer than the rest
    higher = _trial(1, [0.795], leaves=16)
    lower = _trial(2, [0.79], leaves=16)
    twin = _trial(3, [0.795], leaves=16)
    assert select([best, lower, twin, higher], best, 0.02, {}).chosen_trial == 1


def test_select_takes_leaves_from_the_base_params_then_lightgbm_default() -> None:
    """A trial that did not search num_leaves costs the fixed value, else LightGBM's 31."""
    best = _trial(0, [0.8], leaves=None)
    assert select([best], best, 0.0, {"num_leaves": 12}).chosen_num_leaves == 12
    assert select([best], best, 0.0, {}).chosen_num_leaves == LIGHTGBM_NUM_LEAVES


def test_select_with_zero_tolerance_keeps_the_study_best_even_against_a_cheaper_tie() -> None:
    """Tolerance 0 serves Optuna's best trial, as before; an exact tie elsewhere is not taken."""
    best = _trial(0, [0.70, 0.80], leaves=31)
    tie = _trial(1, [0.80], leaves=4)
    selection = select([best, tie], best, 0.0, {})
    assert (selection.chosen_trial, selection.chosen_iteration) == (0, 2)


@pytest.mark.parametrize("tolerance", [0.3, -0.001])
def test_load_config_refuses_a_tolerance_outside_0_to_005(tmp_path: Path, tolerance: float) -> None:
    """The message names the field, the rule and the value given."""
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump({"tuning": {"compact_auc_tolerance": tolerance}}))
    message = rf"tuning\.compact_auc_tolerance: must be in \[0, 0\.05\]; got {tolerance}"
    with pytest.raises(TrainingConfigError, match=message):
        load_config(path)


def test_shipped_config_gives_up_at_most_0_002_auc_by_default() -> None:
    """The embedded default tolerance is 0.002, the issue's "within a hair" of the best."""
    assert load_config().tuning.compact_auc_tolerance == 0.002
