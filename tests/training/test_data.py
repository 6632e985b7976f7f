"""Data stage: immature outcomes are excluded and counted; the test part is cut off in time
(or held out by firm); the data must clear the minimums; numeric columns hold numbers."""

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from training.config import MinimumsConfig, load_config
from training.data import Splits, load_dataset
from training.data import prepare as _prepare
from training.errors import DatasetError
from training.spec import DatasetSpec

MINIMUMS = load_config().minimums


def prepare(frame: pd.DataFrame, spec: DatasetSpec, minimums: MinimumsConfig = MINIMUMS) -> Splits:
    return _prepare(frame, spec, minimums)


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
    """The training window holds the older applications, test the latest; no validation cut."""
    splits = prepare(loan_book, _spec(spec_dict))
    dates = [p.frame["application_date"] for p in splits.parts()]
    assert len(dates) == 2 and dates[0].max() < dates[1].min()
    assert splits.method == "out_of_time_quantile"


def test_prepare_uses_cut_dates_when_given(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Configured cut dates decide the vintages exactly."""
    splits = prepare(loan_book, _spec(spec_dict, split={"test_start": date(2023, 9, 1)}))
    assert splits.train.frame["application_date"].max() < pd.Timestamp("2023-09-01")
    assert splits.test.frame["application_date"].min() >= pd.Timestamp("2023-09-01")
    assert splits.bounds["test_start"] == "2023-09-01"


def test_prepare_holds_out_a_stratified_fifth_without_time_column(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Without a time column: 20 % test, stratified, the same rows on every run."""
    spec = _spec(spec_dict, time_column=None, drop=["application_date"])
    first, again = prepare(loan_book, spec), prepare(loan_book, spec)
    mature = first.train.n + first.test.n
    assert first.test.n == pytest.approx(0.2 * mature, abs=1)
    assert first.test.y.mean() == pytest.approx(first.train.y.mean(), abs=0.01)
    assert (
        first.test.frame["application_id"].tolist() == again.test.frame["application_id"].tolist()
    )


def test_prepare_fails_when_a_vintage_has_no_default(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """A cut that leaves the test vintage without defaults is refused, naming the split."""
    cuts = {"test_start": date(2024, 6, 30)}
    frame = loan_book.copy()
    late = pd.to_datetime(frame["application_date"]) >= pd.Timestamp("2024-06-30")
    frame.loc[late, ["outcome_status", "loan_status"]] = ["matured", "good"]
    with pytest.raises(DatasetError, match=r"test part has \d+ rows and 0 defaults"):
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


def test_grouped_holdout_never_puts_a_firm_on_both_sides(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Without a time column and with group_column, a firm's rows are all train or all test."""
    frame = loan_book.assign(firm=[f"firm-{i // 3}" for i in range(len(loan_book))])
    spec = _spec(
        spec_dict, time_column=None, drop=["application_date", "firm"], group_column="firm"
    )
    splits = prepare(frame, spec)
    assert splits.method == "grouped_holdout"
    assert not set(splits.train.frame["firm"]) & set(splits.test.frame["firm"])


def test_prepare_refuses_too_few_defaults_naming_count_and_minimum(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Fewer defaults than minimums.bads: one error with the count found and the minimum."""
    frame = loan_book.copy()
    bad = frame.index[frame["loan_status"] == "bad"]
    frame.loc[bad[12:], "loan_status"] = "good"
    with pytest.raises(DatasetError, match=r"has 12 defaults .* at least minimums\.bads = 20"):
        prepare(frame, _spec(spec_dict))


def test_prepare_refuses_too_few_rows(loan_book: pd.DataFrame, spec_dict: dict[str, Any]) -> None:
    """20 rows are not a dataset: refused before any training, naming rows and minimum."""
    with pytest.raises(DatasetError, match=r"has 20 mature rows; .* minimums\.rows = 200"):
        prepare(loan_book[loan_book["outcome_status"] != "immature"].head(20), _spec(spec_dict))


@pytest.mark.parametrize("text", ["inf", "nan", "-inf", "Infinity", "n.a."])
def test_load_refuses_text_in_a_numeric_column(
    tmp_path: Path, loan_book: pd.DataFrame, spec_dict: dict[str, Any], text: str
) -> None:
    """inf/nan written as text are not numbers: refused with the column, count and first row."""
    frame = loan_book.astype({"debt_ratio": object})
    frame.loc[frame.index[[4, 9]], "debt_ratio"] = text
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    shown = {"Infinity": "inf"}.get(text, text)  # pandas reads Infinity as the float inf
    pattern = rf"'debt_ratio' holds 2 value\(s\) .*first at data row 5: '{shown}'"
    with pytest.raises(DatasetError, match=pattern):
        load_dataset(path, _spec(spec_dict))


def test_load_reads_blank_and_na_cells_as_missing(
    tmp_path: Path, loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Blank and NA cells are missing values, not errors."""
    frame = loan_book.astype({"debt_ratio": object})
    frame.loc[frame.index[[1, 2]], "debt_ratio"] = ["", "NA"]
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    loaded = load_dataset(path, _spec(spec_dict))
    assert loaded["debt_ratio"].iloc[[1, 2]].isna().all()
    assert pd.api.types.is_numeric_dtype(loaded["debt_ratio"])
