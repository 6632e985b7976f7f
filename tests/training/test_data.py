"""Data stage: immature outcomes are excluded and counted; splits respect time."""

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from training.data import load_dataset, prepare
from training.errors import DatasetError
from training.spec import DatasetSpec


def _spec(spec_dict: dict[str, Any], **changes: Any) -> DatasetSpec:
    return DatasetSpec.model_validate({**spec_dict, **changes})


def test_prepare_excludes_immature_rows_and_counts_them(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Rows marked immature or with a null target leave the data and are counted once."""
    frame = loan_book.copy()
    frame.loc[frame.index[:7], "loan_status"] = None  # null target on matured rows
    splits = prepare(frame, _spec(spec_dict))
    immature = (frame["outcome_status"] == "immature") | frame["loan_status"].isna()
    assert splits.n_excluded_immature == int(immature.sum())
    assert sum(p.n for p in splits.parts()) == len(frame) - int(immature.sum())


def test_prepare_splits_out_of_time_by_vintage(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Train holds the oldest applications, validation the next, test the latest."""
    splits = prepare(loan_book, _spec(spec_dict))
    dates = [p.frame["application_date"] for p in splits.parts()]
    assert dates[0].max() < dates[1].min() <= dates[1].max() < dates[2].min()
    assert splits.method == "out_of_time_quantiles"


def test_prepare_uses_cut_dates_when_given(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Configured cut dates decide the vintages exactly."""
    cuts = {"valid_start": date(2023, 1, 1), "test_start": date(2023, 9, 1)}
    splits = prepare(loan_book, _spec(spec_dict, split=cuts))
    assert splits.train.frame["application_date"].max() < pd.Timestamp("2023-01-01")
    assert splits.test.frame["application_date"].min() >= pd.Timestamp("2023-09-01")
    assert splits.bounds["valid_start"] == "2023-01-01"


def test_prepare_holds_out_a_stratified_fifth_without_time_column(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Without a time column: 20 % test, stratified, the same rows on every run."""
    spec = _spec(spec_dict, time_column=None, drop=["application_date"])
    first, again = prepare(loan_book, spec), prepare(loan_book, spec)
    mature = first.train.n + first.valid.n + first.test.n
    assert first.test.n == pytest.approx(0.2 * mature, abs=1)
    assert first.test.y.mean() == pytest.approx(first.train.y.mean(), abs=0.01)
    assert (
        first.test.frame["application_id"].tolist() == again.test.frame["application_id"].tolist()
    )


def test_prepare_fails_when_a_vintage_has_no_default(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """A cut that leaves the test vintage without defaults is refused, naming the split."""
    cuts = {"valid_start": date(2023, 1, 1), "test_start": date(2024, 6, 30)}
    frame = loan_book.copy()
    late = pd.to_datetime(frame["application_date"]) >= pd.Timestamp("2024-06-30")
    frame.loc[late, ["outcome_status", "loan_status"]] = ["matured", "good"]
    with pytest.raises(DatasetError, match=r"test split has \d+ rows and 0 defaults"):
        prepare(frame, _spec(spec_dict, split=cuts))


def test_prepare_reads_a_feature_store_style_parquet_with_numeric_labels(
    tmp_path: Path, loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """The simulated path is one more dataset + spec: 0/1 nullable labels, own status column."""
    frame = loan_book.assign(
        label_default_flag=(loan_book["loan_status"] == "bad")
        .astype("Int64")
        .where(loan_book["loan_status"].notna()),
        label_outcome_status=loan_book["outcome_status"],
        application_date=pd.to_datetime(loan_book["application_date"]),
    ).drop(columns=["loan_status", "outcome_status"])
    path = tmp_path / "training_set.parquet"
    frame.to_parquet(path)
    spec = _spec(
        spec_dict,
        target="label_default_flag",
        positive_label=1,
        status_column="label_outcome_status",
    )
    splits = prepare(load_dataset(path, spec), spec)
    assert splits.n_excluded_immature == int((loan_book["outcome_status"] == "immature").sum())
    defaults = sum(p.defaults for p in splits.parts())
    assert defaults == int((loan_book["loan_status"] == "bad").sum())
