"""The quality bench's yardstick: its datasets, its folds, its references and its verdict.

The bench (bench/bench_quality.py) judges issue 16's training; these tests pin that the
yardstick itself is sound: the real datasets load offline with the documented sizes and
specs Jifen accepts, every model sees identical stratified folds, the references score
every held-out row, and the bar is read the way the issue states it.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from bench_quality import JIFEN, Score, cut_folds, gap  # noqa: E402
from quality_datasets import DATASETS, ID_COLUMN  # noqa: E402
from quality_models import REFERENCES, failure_reason  # noqa: E402

from training.spec import DatasetSpec, check_against  # noqa: E402

DOCUMENTED = {  # rows and bads stated in quality_datasets.py's docstring
    "german_credit": (1_000, 300),
    "credit_data": (4_454, 1_254),
    "lending_club": (9_857, 517),
    "lending_club_2018": (10_000, 178),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dataset_loads_offline_with_documented_size_and_a_spec_jifen_accepts(name: str) -> None:
    """Each dataset comes from its installed package, with the rows and bads documented, and
    its spec passes the same checks `jifen train` runs before training."""
    dataset = DATASETS[name]
    frame = dataset.frame()
    bads = int((frame[dataset.target] == dataset.positive_label).sum())
    assert (len(frame), bads) == DOCUMENTED[name]
    assert frame[ID_COLUMN].is_unique
    check_against(DatasetSpec.model_validate(dataset.spec()), frame)


def test_bench_covers_a_small_set_and_a_low_default_rate() -> None:
    """Issue 16 asks for at least three sets, one under 2,000 rows, one under 5 % bads."""
    assert len(DOCUMENTED) >= 3
    assert any(rows < 2_000 for rows, _ in DOCUMENTED.values())
    assert any(bads / rows < 0.05 for rows, bads in DOCUMENTED.values())


def test_folds_partition_rows_stratified_and_repeat_identically() -> None:
    """Each repeat's test folds cover every row once, hold the bads evenly, and the same seed
    cuts the same folds (so every model is fitted on the same rows)."""
    dataset = DATASETS["german_credit"]
    frame = dataset.frame()
    folds = list(cut_folds(dataset, frame, folds=5, repeats=2, seed=7))
    again = list(cut_folds(dataset, frame, folds=5, repeats=2, seed=7))
    assert len(folds) == 10
    for repeat in (0, 1):
        tests = [f.test for f in folds if f.repeat == repeat]
        ids = np.concatenate([t[ID_COLUMN].to_numpy() for t in tests])
        assert sorted(ids) == sorted(frame[ID_COLUMN])
        bads = [int((t[dataset.target] == "bad").sum()) for t in tests]
        assert max(bads) - min(bads) <= 1
    for first, second in zip(folds, again, strict=True):
        assert first.test[ID_COLUMN].tolist() == second.test[ID_COLUMN].tolist()
    first_of = {f.repeat: f.test[ID_COLUMN].tolist() for f in folds if f.index == 0}
    assert first_of[0] != first_of[1]


@pytest.mark.parametrize("model", sorted(REFERENCES))
def test_reference_scores_every_held_out_row_on_data_with_missing_values(
    model: str, tmp_path: Path
) -> None:
    """Each reference fits credit_data (missing values in numeric and categorical columns)
    and returns one PD in (0, 1) per held-out row, ranking better than chance by far."""
    from sklearn.metrics import roc_auc_score

    dataset = DATASETS["credit_data"]
    frame = dataset.frame().sample(n=1_500, random_state=3).reset_index(drop=True)
    assert frame[list(dataset.categorical)].isna().any().any()
    fold = next(cut_folds(dataset, frame, folds=3, repeats=1, seed=11))
    pd_test = REFERENCES[model](fold, tmp_path)
    y = (fold.test[dataset.target] == "bad").to_numpy(int)
    assert pd_test.shape == (len(fold.test),)
    assert np.all((pd_test > 0) & (pd_test < 1))
    assert roc_auc_score(y, pd_test) > 0.7


def _scores(model: str, aucs: list[float], briers: list[float]) -> list[Score]:
    return [
        Score("d", 0, k, model, auc=a, brier=b, log_loss=0.5)
        for k, (a, b) in enumerate(zip(aucs, briers, strict=True))
    ]


def test_bar_met_only_with_auc_at_least_and_brier_at_most_the_best_reference() -> None:
    """The verdict compares Jifen's means with the best reference's, on AUC and on Brier."""
    refs = _scores("logit", [0.78, 0.80], [0.17, 0.16]) + _scores(
        "catboost", [0.76, 0.79], [0.15, 0.15]
    )
    better = gap(_scores(JIFEN, [0.80, 0.80], [0.15, 0.15]) + refs, "d", ["logit", "catboost"])
    assert better.verdict == "meets the bar"
    assert better.best_auc is not None and better.best_auc.model == "logit"
    assert better.best_brier is not None and better.best_brier.model == "catboost"
    assert better.auc_diff is not None and better.auc_diff[0] == pytest.approx(0.01)
    worse_brier = gap(_scores(JIFEN, [0.80, 0.80], [0.16, 0.15]) + refs, "d", ["logit", "catboost"])
    assert worse_brier.verdict == "below the bar"
    assert worse_brier.brier_diff is not None and worse_brier.brier_diff[0] == pytest.approx(0.005)


def test_jifen_failing_on_every_fold_is_a_failed_row_not_a_crash() -> None:
    """A failed `jifen train` is recorded with its reason; the verdict says Jifen failed."""
    failed = [Score("d", 0, k, JIFEN, error="jifen train exited 2: bad spec") for k in range(2)]
    result = gap(failed + _scores("logit", [0.7, 0.7], [0.2, 0.2]), "d", ["logit"])
    assert result.verdict.startswith("Jifen failed")
    assert result.jifen.error == "jifen train exited 2: bad spec"


def test_bar_without_jifen_says_it_was_not_run() -> None:
    """A run of the references alone (--models) does not report Jifen as failed."""
    assert gap(_scores("logit", [0.7], [0.2]), "d", ["logit"]).verdict == "Jifen not run (--models)"


def test_failure_reason_is_the_error_line_else_the_last_line() -> None:
    """The reason shown is the CLI's one-line error, or a traceback's last line."""
    cli = "loading\nerror: spec target 'y' is not in the dataset\n"
    assert failure_reason(cli) == "spec target 'y' is not in the dataset"
    traceback = "Traceback (most recent call last):\n  File x\nTypeError: prepare() missing 1\n"
    assert failure_reason(traceback) == "TypeError: prepare() missing 1"
