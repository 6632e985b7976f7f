"""End to end on bring-your-own data: metrics.json, a loadable bundle, the three models."""

import json
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from jifen.cli import app
from tests.training.conftest import write_case
from training.bundle import load_bundle
from training.pipeline import TrainResult

REQUIRED_METRICS = {
    "test_auc", "test_ks", "test_brier", "n_train", "n_test", "n_excluded_immature",
}  # fmt: skip


def test_byod_run_writes_metrics_json_and_a_bundle_that_loads(
    trained: tuple[TrainResult, Path], loan_book: pd.DataFrame
) -> None:
    """metrics.json has the headline figures; the bundle it points to verifies and loads."""
    _, out = trained
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) >= REQUIRED_METRICS
    assert metrics["n_excluded_immature"] == int((loan_book["outcome_status"] == "immature").sum())
    assert metrics["n_train"] > metrics["n_test"] > 300
    assert 0.6 < metrics["test_auc"] < 0.95 and 0 < metrics["test_brier"] < 0.15
    assert load_bundle(Path(metrics["bundle_path"])).version == metrics["bundle_version"]


def test_byod_run_reports_points_model_and_blend_side_by_side(
    trained: tuple[TrainResult, Path],
) -> None:
    """With points_column set, test metrics exist for all three; coefficients are stored."""
    result, _ = trained
    comparison = result.report["comparison_test"]
    assert set(comparison) == {"model_only", "points_only", "blended"}
    blend = load_bundle(result.bundle_path).blend
    assert blend is not None and blend.w_model_ > 0 > blend.w_points_
    assert result.blend is not None and "points_total" in result.blend


def test_byod_run_evaluates_grades_stability_segments_and_oracle(
    trained: tuple[TrainResult, Path],
) -> None:
    """The report carries calibration per grade, PSI per feature, segments and the oracle gap."""
    report = trained[0].report
    assert len(report["grades_test"]) == 10
    assert {"jeffreys_p", "binomial_p"} <= set(next(g for g in report["grades_test"] if g["n"]))
    assert set(report["psi"]["features"]) >= {"industry", "debt_ratio"}
    assert {"industry", "zone"} == set(report["segments_test"])
    assert report["oracle_test"]["oracle_auc"] > report["oracle_test"]["model_auc"] - 0.05
    assert trained[0].monotonicity.ok


def test_cli_train_writes_metrics_and_cli_reports_bad_spec_in_one_line(
    tmp_path: Path, loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """`jifen train` runs from the command line; a bad spec exits 2 with its message."""
    dataset, spec = write_case(tmp_path / "ok", loan_book, spec_dict)
    out = tmp_path / "models"
    args = ["train", "--dataset", str(dataset), "--spec", str(spec), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--trials", "2", "--no-tracking"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["test_auc"] > 0.5
    _, bad_spec = write_case(tmp_path / "bad", loan_book, {**spec_dict, "positive_label": "BAD"})
    bad = ["train", "--dataset", str(dataset), "--spec", str(bad_spec), "--out", str(out)]
    result = CliRunner().invoke(app, [*bad, "--no-tracking"])
    assert result.exit_code == 2
    assert "positive_label 'BAD' does not occur" in result.output
