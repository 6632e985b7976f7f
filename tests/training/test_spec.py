"""Spec validation: every mistake fails with a message naming it, before any training."""

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.training.conftest import write_case
from training.errors import SpecError
from training.pipeline import TrainRequest, train
from training.spec import DatasetSpec, check_against, label_mask, load_spec


def _spec(spec_dict: dict[str, Any], **changes: Any) -> DatasetSpec:
    return DatasetSpec.model_validate({**spec_dict, **changes})


def test_load_spec_fails_when_a_column_is_in_two_lists(
    tmp_path: Path, spec_dict: dict[str, Any]
) -> None:
    """A column listed as both categorical and numeric is refused, naming both lists."""
    path = tmp_path / "spec.yaml"
    bad = {**spec_dict, "categorical": [*spec_dict["categorical"], "debt_ratio"]}
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(SpecError, match=r"'debt_ratio' is in categorical and numeric"):
        load_spec(path)


def test_load_spec_fails_when_monotone_names_a_non_numeric_column(
    tmp_path: Path, spec_dict: dict[str, Any]
) -> None:
    """Monotone constraints apply to numeric features only; a categorical one is refused."""
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**spec_dict, "monotone": {"industry": 1}}), encoding="utf-8")
    with pytest.raises(SpecError, match=r"monotone names 'industry', which is not in numeric"):
        load_spec(path)


def test_load_spec_reads_json_and_yaml_alike(tmp_path: Path, spec_dict: dict[str, Any]) -> None:
    """The same spec read from JSON and from YAML gives the same model."""
    as_json = tmp_path / "spec.json"
    as_json.write_text(json.dumps(spec_dict), encoding="utf-8")
    _, as_yaml = write_case(tmp_path, pd.DataFrame(), spec_dict)
    assert load_spec(as_json) == load_spec(as_yaml)


def test_check_fails_when_a_named_column_is_unknown(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """A feature absent from the data is refused, naming the list and the column."""
    spec = _spec(spec_dict, numeric=[*spec_dict["numeric"], "patent_cites"])
    with pytest.raises(SpecError, match=r"numeric names column 'patent_cites', which is not in"):
        check_against(spec, loan_book)


def test_check_fails_when_a_data_column_is_in_no_list(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """A column the spec forgets is an error, so nothing is dropped silently."""
    spec = _spec(spec_dict, numeric=[c for c in spec_dict["numeric"] if c != "amount_wan"])
    with pytest.raises(SpecError, match=r"\['amount_wan'\] are in the dataset but in no list"):
        check_against(spec, loan_book)


def test_check_fails_when_positive_label_is_absent(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """A positive label that never occurs (here a case slip) is refused, listing the values."""
    spec = _spec(spec_dict, positive_label="BAD")
    with pytest.raises(SpecError, match=r"positive_label 'BAD' does not occur.*'bad', 'good'"):
        check_against(spec, loan_book)


def test_check_fails_when_target_has_one_class(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """A target whose mature rows are all defaults cannot train a classifier."""
    frame = loan_book.assign(loan_status=loan_book["loan_status"].where(lambda s: s.isna(), "bad"))
    with pytest.raises(SpecError, match=r"target 'loan_status' has one class"):
        check_against(_spec(spec_dict), frame)


def test_label_mask_matches_numbers_read_as_floats() -> None:
    """A 0/1 target read from CSV as float (because of missing values) matches label 1."""
    values = pd.Series([1.0, 0.0, None, 1.0])
    assert label_mask(values, 1).tolist() == [True, False, False, True]
    assert label_mask(pd.Series(["bad", " good", "bad "]), "bad").tolist() == [True, False, True]


def test_train_fails_before_tuning_when_spec_does_not_fit_data(
    tmp_path: Path,
    loan_book: pd.DataFrame,
    spec_dict: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad spec stops the pipeline at the data step: the tuner is never started."""
    dataset, spec_path = write_case(tmp_path, loan_book, {**spec_dict, "positive_label": "1"})

    def no_tuning(*_: object, **__: object) -> None:
        raise AssertionError("tuning started despite a bad spec")

    monkeypatch.setattr("training.pipeline.LightGbmCandidate.cross_validate", no_tuning)
    monkeypatch.setattr("training.pipeline.ScorecardCandidate.cross_validate", no_tuning)
    with pytest.raises(SpecError, match=r"positive_label '1' does not occur"):
        train(TrainRequest(dataset, spec_path, tmp_path / "out", n_trials=1))
    assert not (tmp_path / "out").exists()


def test_load_spec_adds_constraints_from_feature_definitions(
    tmp_path: Path, spec_dict: dict[str, Any]
) -> None:
    """monotone_definitions reads feature YAMLs; the spec's own constraints win."""
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    (definitions / "firm.yaml").write_text(
        "features:\n"
        "  - {name: firm_age_years, monotone: decreasing}\n"
        "  - {name: debt_ratio, monotone: decreasing}\n"
        "  - {name: industry, monotone: none}\n",
        encoding="utf-8",
    )
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**spec_dict, "monotone_definitions": "definitions"}), "utf-8")
    monotone = load_spec(path).monotone
    assert monotone["firm_age_years"] == -1
    assert monotone["debt_ratio"] == 1  # the spec says increasing
    assert "industry" not in monotone
