"""Reference distributions: PSI against the stored bins equals PSI against the raw sample."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.errors import BundleIntegrityError
from training.grades import load_master_scale
from training.metrics import psi_categorical, psi_numeric
from training.pipeline import TrainResult
from training.report.reference import (
    build_reference,
    categorical_entry,
    check_reference,
    drift,
    numeric_entry,
    peer_percentile,
)
from training.spec import DatasetSpec


def test_psi_against_stored_deciles_equals_psi_against_the_training_sample() -> None:
    """Storing edges and shares loses nothing: both PSIs agree to 1e-12, missing bin included."""
    rng = np.random.default_rng(3)
    train = rng.lognormal(1.0, 0.8, 5000)
    train[rng.random(5000) < 0.05] = np.nan
    live = rng.lognormal(1.2, 0.9, 800)
    entry = json.loads(json.dumps(numeric_entry(train, bins=10)))  # through JSON, as stored
    assert drift("x", entry, live).psi == pytest.approx(psi_numeric(train, live, 10), abs=1e-12)
    assert sum(entry["shares"]) == pytest.approx(1.0) and len(entry["edges"]) == 9


def test_categorical_psi_counts_categories_unseen_in_training() -> None:
    """A category the training sample never had still adds to PSI, as psi_categorical does."""
    train = pd.Series(["a"] * 60 + ["b"] * 40)
    live = pd.Series(["a"] * 30 + ["b"] * 30 + ["c"] * 40)
    result = drift("c", categorical_entry(train), live)
    assert result.psi == pytest.approx(psi_categorical(train, live), abs=1e-12)
    assert result.bins == ["a", "b", "c"] and result.expected[2] == 0.0


def test_shifted_sample_is_red_and_same_distribution_is_green() -> None:
    """A one-s.d. shift gives PSI > 0.25; a fresh draw of the same law stays below 0.1."""
    rng = np.random.default_rng(5)
    entry = numeric_entry(rng.normal(size=4000), bins=10)
    assert drift("x", entry, rng.normal(size=1000)).psi < 0.1
    assert drift("x", entry, rng.normal(1.0, 1.0, size=1000)).psi > 0.25


def test_peer_percentile_interpolates_between_stored_deciles() -> None:
    """Deciles 0, 10, ..., 100 of points: 55 points sits at the 55th percentile; ties average."""
    levels = [i / 10 for i in range(11)]
    assert peer_percentile([10.0 * i for i in range(11)], levels, 55.0) == pytest.approx(55.0)
    assert peer_percentile([10.0 * i for i in range(11)], levels, -1.0) == 0.0
    assert peer_percentile([10.0 * i for i in range(11)], levels, 101.0) == 100.0
    tied = [0.0, 60.0, 60.0, 60.0, 70.0, 80.0, 85.0, 90.0, 95.0, 98.0, 100.0]
    assert peer_percentile(tied, levels, 60.0) == pytest.approx(20.0)


def test_reference_holds_inputs_score_grades_and_peers(trained: tuple[TrainResult, Path]) -> None:
    """The bundle's reference.json covers every model input, the points, PD, grades, peers."""
    path = trained[0].bundle_path
    reference = check_reference(json.loads((path / "reference.json").read_text()), str(path))
    spec = DatasetSpec.model_validate(json.loads((path / "spec.json").read_text()))
    assert set(reference["features"]) == {*spec.features, "points_total"}
    assert reference["features"]["industry"]["kind"] == "categorical"
    assert reference["score"]["kind"] == "numeric" and len(reference["score"]["edges"]) == 9
    assert sum(reference["grades"].values()) == pytest.approx(1.0)
    assert set(reference["peers"]["by"]) == {"industry", "zone"}
    assert reference["rows"] == json.loads((path / "metrics.json").read_text())["n_train"]


def test_check_reference_refuses_another_format() -> None:
    """A file that is not a jifen reference is refused with the format named."""
    with pytest.raises(BundleIntegrityError, match="reference format must be 'jifen-reference/1'"):
        check_reference({"format": "other/2"}, "bundle x")


def test_build_reference_keeps_the_points_even_when_not_a_feature() -> None:
    """The points column is stored (it is a model input through the blend)."""
    spec = DatasetSpec(target="y", positive_label=1, numeric=("a",), points_column="p")
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "p": [50.0, 60.0, 70.0, np.nan]})
    out = build_reference(spec, frame, np.array([0.01, 0.02, 0.2, 0.5]), load_master_scale(), 4)
    assert set(out["features"]) == {"a", "p"} and out["features"]["p"]["shares"][-1] == 0.25
    assert out["peers"]["all"]["n"] == 3
