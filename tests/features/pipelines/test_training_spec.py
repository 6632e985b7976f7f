"""The training spec written beside the training set follows the feature definitions."""

import json
from pathlib import Path

from features.definitions.model import Group, load_feature_set
from features.pipelines.spec import POINTS_COLUMN, training_spec, write_training_spec
from training.spec import DatasetSpec


def test_spec_is_a_valid_training_spec(tmp_path: Path) -> None:
    """The generated JSON loads as the same DatasetSpec a bank would write by hand."""
    path = write_training_spec(load_feature_set(), tmp_path)
    spec = DatasetSpec.model_validate(json.loads(path.read_text()))
    assert spec.target == "label_default_flag"
    assert spec.points_column == POINTS_COLUMN
    assert spec.group_column == "credit_code"  # repeat applicants grouped in CV folds


def test_points_enter_through_the_blend_not_the_trees() -> None:
    """No points column is a tree feature; points_total is the blend's points column."""
    spec = training_spec(load_feature_set())
    points = {f.name for f in load_feature_set().by_group(Group.POINTS)}
    assert not points & set(spec["categorical"] + spec["numeric"])
    assert points - {POINTS_COLUMN} <= set(spec["drop"])


def test_monotone_constraints_come_from_the_definitions() -> None:
    """Each constrained feature has its definition's direction; string features have none."""
    fs = load_feature_set()
    spec = training_spec(fs)
    declared = fs.monotone_constraints()
    assert spec["monotone"]
    for name, direction in spec["monotone"].items():
        assert declared[name] == direction != 0
    assert not set(spec["monotone"]) & set(spec["categorical"])


def test_every_model_feature_is_listed_once() -> None:
    """Every non-points feature is a categorical or numeric column, exactly once."""
    fs = load_feature_set()
    spec = training_spec(fs)
    listed = spec["categorical"] + spec["numeric"]
    assert len(listed) == len(set(listed))
    assert set(listed) == {f.name for f in fs.features if f.group is not Group.POINTS}


def test_test_part_is_the_latest_twelve_months_of_matured_outcomes() -> None:
    """Built as of 2025-12-31, outcomes mature up to 2024-12-31: test starts 2024-01-01."""
    from datetime import date

    spec = training_spec(load_feature_set(), as_of=date(2025, 12, 31))
    assert spec["split"] == {"test_start": "2024-01-01"}
    assert DatasetSpec.model_validate(spec).split.test_start == date(2024, 1, 1)
