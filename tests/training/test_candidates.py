"""Candidates and honest selection: the scorecard is a real candidate, selection runs on
grouped folds of the training window, and whichever candidate wins is exported exactly."""

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tests.training.conftest import write_case
from training.bundle import load_bundle
from training.candidates.base import CvData
from training.candidates.scorecard import POINTS_TABLE, ScorecardCandidate
from training.candidates.trees import StepFunction, additive_booster, raw_score
from training.config import load_config
from training.data import prepare
from training.errors import DatasetError
from training.folds import plan_folds
from training.pipeline import TrainRequest, TrainResult, train
from training.spec import DatasetSpec
from training.synthetic import make_loan_book

N_LINEAR = 3000
COEFS = np.array([1.0, -0.8, 0.6, 0.0, 0.4])


def _linear_book(n: int, seed: int) -> pd.DataFrame:
    """A book where the log-odds of default are linear in five numbers (one is noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(COEFS)))
    logit = -2.6 + x @ COEFS
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(len(COEFS))])
    frame["firm"] = [f"F{i // 2:05d}" for i in range(n)]  # two applications per firm
    frame["status"] = np.where(bad, "bad", "good")
    return frame


LINEAR_SPEC: dict[str, Any] = {
    "name": "linear-book",
    "target": "status",
    "positive_label": "bad",
    "group_column": "firm",
    "numeric": [f"x{i}" for i in range(len(COEFS))],
    "drop": ["firm"],
}


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("linear")
    book = _linear_book(N_LINEAR, seed=5)
    dataset, spec = write_case(folder, book, LINEAR_SPEC)
    # Keep the hold-out unseen, so the served model and the reference see the same rows.
    config = folder / "training.yaml"
    config.write_text("selection: {refit_on_test: false}\n", encoding="utf-8")
    request = TrainRequest(dataset, spec, folder / "models", n_trials=4, config_path=config)
    return train(request), book


def test_selection_on_a_linear_signal_serves_the_scorecard_or_one_within_one_se(
    linear_run: tuple[TrainResult, pd.DataFrame],
) -> None:
    """When a linear signal dominates, the served model is the scorecard or a candidate
    whose CV log loss is within one SE of it, and it ranks the test part as well as a
    logistic regression fitted on the same training rows (AUC within 0.005)."""
    result, book = linear_run
    metrics = result.metrics
    rows = {c["name"]: c for c in metrics["candidates"]}
    served = rows[metrics["candidate"]]
    card = rows["scorecard"]
    assert metrics["candidate"] == "scorecard" or served["cv_log_loss_mean"] <= (
        card["cv_log_loss_mean"] + card["cv_log_loss_se"]
    )
    bundle = load_bundle(result.bundle_path)
    n_test = int(result.report["test"]["n"])
    # Rebuild the hold-out exactly as the pipeline cut it, then fit the reference on the rest.
    spec = DatasetSpec.model_validate(LINEAR_SPEC)
    splits = prepare(book, spec, load_config().minimums)
    assert splits.test.n == n_test
    features = LINEAR_SPEC["numeric"]
    reference = LogisticRegression(max_iter=1000).fit(splits.train.frame[features], splits.train.y)
    lr_auc = roc_auc_score(
        splits.test.y, reference.predict_proba(splits.test.frame[features])[:, 1]
    )
    served_auc = roc_auc_score(splits.test.y, bundle.scorer().score(splits.test.frame)["pd"])
    assert served_auc >= lr_auc - 0.005, (served_auc, lr_auc)


def test_metrics_carry_every_candidate_with_cv_spread_and_test_interval(
    linear_run: tuple[TrainResult, pd.DataFrame],
) -> None:
    """metrics.json: candidates (CV mean ± sd, test AUC with interval, KS, Brier, log loss,
    size) and the selection with its reason; the served rows are said."""
    metrics = linear_run[0].metrics
    names = [c["name"] for c in metrics["candidates"]]
    assert names == ["scorecard", "lightgbm", "stack"]
    for c in metrics["candidates"]:
        assert c["n_folds"] >= 5 and c["cv_log_loss_sd"] > 0
        test = c["test"]
        assert test["auc_low"] < test["auc"] < test["auc_high"]
        assert {"ks", "brier", "log_loss"} <= set(test) and c["size"]
    assert metrics["selected"]["selected"] == metrics["candidate"]
    assert metrics["selected"]["rule"] == "one_se" and metrics["selected"]["reason"]
    assert "never used to fit or choose" in metrics["served_rows"]


def test_grouped_folds_never_put_a_firm_on_both_sides() -> None:
    """With a group column, every fold's fitted and scored rows share no firm."""
    book = _linear_book(1200, seed=2)
    y = (book["status"] == "bad").to_numpy(dtype=int)
    config = load_config()
    plan = plan_folds(y, book["firm"].to_numpy(), config.cv, config.minimums, seed=3)
    assert plan.grouped and plan.n_folds >= config.cv.folds
    firms = book["firm"].to_numpy()
    for fit_idx, scored_idx in plan.folds:
        assert not set(firms[fit_idx]) & set(firms[scored_idx])
        assert len(fit_idx) + len(scored_idx) == len(book)


def test_too_few_defaults_for_the_fold_count_is_refused_with_the_counts() -> None:
    """Twelve defaults cannot make five folds of three: one error naming both numbers."""
    y = np.zeros(400, dtype=int)
    y[:12] = 1
    config = load_config()
    with pytest.raises(DatasetError, match=r"holds 12 defaults; 5-fold .* at least .* = 15"):
        plan_folds(y, None, config.cv, config.minimums, seed=0)


def _scorecard_data(n: int = 2000, seed: int = 0) -> CvData:
    book = _linear_book(n, seed)
    x = book[LINEAR_SPEC["numeric"]].to_numpy(dtype=np.float32)
    x[:40, 2] = np.nan  # a missing bin of its own
    y = (book["status"] == "bad").to_numpy(dtype=np.int64)
    config = load_config()
    plan = plan_folds(y, None, config.cv, config.minimums, seed=1)
    return CvData(x, y, LINEAR_SPEC["numeric"], [1, -1, 0, 0, 0], plan, None, 0, 1)


def test_scorecard_trees_points_table_and_contributions_agree() -> None:
    """The card written as trees gives the card's logit; its points add up to
    offset - factor·logit for every row; TreeSHAP splits it into centred coefficient×WoE
    terms that add up to the logit within 1e-6."""
    data = _scorecard_data()
    candidate = ScorecardCandidate(load_config().scorecard)
    result = candidate.cross_validate(data)
    final = candidate.fit_final(data, result)
    margin = np.asarray(final.booster.predict(data.X, raw_score=True))
    table = yaml.safe_load(final.files[POINTS_TABLE])
    points = np.zeros(len(data.X))
    for feature in table["features"]:
        j = data.feature_names.index(feature["feature"])
        column = data.X[:, j].astype(np.float64)
        for row, value in enumerate(column):
            for b in feature["bins"]:
                if np.isnan(value):
                    hit = b["bin"] == "missing"
                else:
                    low = -np.inf if b["low"] is None else b["low"]
                    high = np.inf if b["high"] is None else b["high"]
                    hit = b["bin"] != "missing" and low <= value < high
                if hit:
                    points[row] += b["points"]
                    break
    expected = table["offset"] - table["factor"] * margin
    assert np.max(np.abs(points - expected)) < 1e-6
    contrib = np.asarray(final.booster.predict(data.X, pred_contrib=True))
    assert np.max(np.abs(contrib.sum(axis=1) - margin)) < 1e-6
    trees = final.booster.dump_model()["tree_info"]
    for k, tree in enumerate(trees):  # one tree per kept feature: its term, centred
        term = final.booster.predict(data.X, raw_score=True, start_iteration=k, num_iteration=1)
        j = tree["tree_structure"]["split_feature"]
        assert np.max(np.abs(contrib[:, j] - (term - term.mean()))) < 1e-4


def test_declared_directions_hold_in_the_scorecard() -> None:
    """x0 declared +1 and x1 declared -1: the card's contribution moves that way only."""
    data = _scorecard_data(seed=4)
    candidate = ScorecardCandidate(load_config().scorecard)
    final = candidate.fit_final(data, candidate.cross_validate(data))
    grid = np.linspace(-3, 3, 61, dtype=np.float32)
    base = np.zeros((len(grid), data.X.shape[1]), dtype=np.float32)
    for j, direction in ((0, 1), (1, -1)):
        sweep = base.copy()
        sweep[:, j] = grid
        steps = np.diff(final.booster.predict(sweep, raw_score=True)) * direction
        assert np.all(steps >= -1e-12)


def test_additive_booster_sends_each_float32_to_the_bin_optbinning_would() -> None:
    """Bins are [cut, next cut): a value equal to a cut is in the upper bin, the float32
    just below it in the lower; NaN takes the missing leaf."""
    cut = 0.1
    step = StepFunction(0, (cut,), (1.0, 2.0), (5, 5), 7.0, 1)
    booster = additive_booster([step], 1, 0.0)
    just_below = np.nextafter(np.float32(cut), np.float32(-1))
    x = np.array([[np.float32(cut)], [just_below], [np.nan], [5.0]], dtype=np.float32)
    got = booster.predict(x, raw_score=True)
    assert got.tolist() == raw_score([step], x, 0.0).tolist()
    assert got[2] == 7.0 and got[3] == 2.0
    assert isinstance(booster, lgb.Booster)


@pytest.mark.parametrize("serve", ["scorecard", "lightgbm", "stack"])
def test_each_candidate_bundle_passes_parity_and_records_what_it_is(
    tmp_path: Path, loan_book: pd.DataFrame, spec_dict: dict[str, Any], serve: str
) -> None:
    """Whichever candidate is imposed, the bundle exports with ONNX parity within 1e-5 and
    says which candidate it holds and that it was imposed."""
    config = tmp_path / "training.yaml"
    config.write_text(yaml.safe_dump({"selection": {"serve": serve}}), encoding="utf-8")
    dataset, spec = write_case(tmp_path / "case", loan_book, spec_dict)
    request = TrainRequest(dataset, spec, tmp_path / "models", n_trials=2, config_path=config)
    result = train(request)
    assert result.parity.ok and result.parity.max_abs_pd <= 1e-5
    assert result.metrics["candidate"] == serve
    assert result.metrics["selected"]["rule"] == "imposed"
    assert (result.bundle_path / POINTS_TABLE).is_file()


def test_stack_is_its_parts_weighted_and_keeps_additivity() -> None:
    """The stacked booster's raw score is intercept + Σ weight·raw(part) on every row, and
    its TreeSHAP contributions still add up to it."""
    from training.candidates.stack import combine

    data = _scorecard_data(n=1500, seed=8)
    card = ScorecardCandidate(load_config().scorecard)
    first = card.fit_final(data, card.cross_validate(data)).booster
    trees = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_leaves": 4, "seed": 1},
        lgb.Dataset(data.X, data.y),
        num_boost_round=15,
    )
    stacked = combine([(first, 0.7), (trees, 0.4)], intercept=-0.25)
    expected = (
        -0.25
        + 0.7 * first.predict(data.X, raw_score=True)
        + 0.4 * trees.predict(data.X, raw_score=True)
    )
    got = stacked.predict(data.X, raw_score=True)
    assert np.max(np.abs(got - expected)) < 1e-9
    contrib = stacked.predict(data.X, pred_contrib=True)
    assert np.max(np.abs(contrib.sum(axis=1) - got)) < 1e-6


def test_without_a_time_column_the_served_model_is_refitted_on_every_row(
    tmp_path: Path,
) -> None:
    """refit_on_test auto: a random hold-out is refitted into the served model (a small book
    keeps all its rows) and the run says its test figures are then in-sample."""
    book = _linear_book(1200, seed=9)
    dataset, spec = write_case(tmp_path / "case", book, LINEAR_SPEC)
    result = train(TrainRequest(dataset, spec, tmp_path / "models", n_trials=2))
    served = result.metrics["served_rows"]
    assert served.startswith("all 1,200 mature rows") and "in-sample" in served


def test_a_one_trial_budget_whose_trial_breaks_a_constraint_still_yields_a_model(
    spec_dict: dict[str, Any], tmp_path: Path
) -> None:
    """On this fixture the single sampled trial (advanced method) breaks debt_ratio's
    constraint and is pruned; one more trial with the basic method completes, so training
    serves a monotone model instead of stopping."""
    dataset, spec = write_case(tmp_path / "case", make_loan_book(3000, seed=11), spec_dict)
    config = tmp_path / "training.yaml"
    config.write_text(
        "tuning: {n_trials: 1, max_boost_rounds: 60, early_stopping_rounds: 10}\n"
        "parity: {min_rows: 2000}\nselection: {serve: lightgbm}\n",
        encoding="utf-8",
    )
    result = train(TrainRequest(dataset, spec, tmp_path / "m", config_path=config, n_trials=1))
    lightgbm = next(c for c in result.metrics["candidates"] if c["name"] == "lightgbm")
    assert lightgbm["params"]["monotone_constraints_method"] == "basic"
    assert result.monotonicity.ok
