"""``jifen score FILE``: chunked offline scoring with and without explanations."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jifen.cli import app
from serving.core.bundle import ServedModel
from serving.core.file_scoring import score_file
from tests.serving.conftest import TrainedBundles, loan_frame


@pytest.fixture(scope="module")
def model(trained_bundles: TrainedBundles) -> ServedModel:
    return ServedModel.load(trained_bundles.newest, "test")


def test_score_file_streams_a_csv_in_chunks_and_matches_the_request_path(
    model: ServedModel, tmp_path: Path
) -> None:
    """2,500 rows in chunks of 1,000: every row scored, PD equal to one in-memory block."""
    frame = loan_frame(2500, seed=21)
    frame.to_csv(tmp_path / "apps.csv", index=False)
    rows = score_file(
        model, tmp_path / "apps.csv", tmp_path / "out.parquet", explain=False, chunk=1000
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert rows == len(out) == 2500
    expected = model.predict(model.encode_frame(frame), frame["points_total"].to_numpy(dtype=float))
    assert np.allclose(out["pd"], expected.pd, rtol=0, atol=1e-12)
    assert list(out["application_id"]) == list(frame["application_id"])
    assert "shap_firm_age_years" not in out.columns


def test_score_file_explanations_add_up_to_the_score_logit(
    model: ServedModel, tmp_path: Path
) -> None:
    """With --explain: base + Σ shap_* + points line = score_logit on every row (1e-6)."""
    loan_frame(1200, seed=22).to_parquet(tmp_path / "apps.parquet")
    score_file(model, tmp_path / "apps.parquet", tmp_path / "out.csv", explain=True, chunk=1000)
    out = pd.read_csv(tmp_path / "out.csv")
    shap = out[[f"shap_{f}" for f in model.feature_order]].sum(axis=1)
    assert np.abs(out["base_value"] + shap + out["points_line"] - out["score_logit"]).max() < 1e-6
    assert out["raises_1"].notna().any() and out["lowers_1"].notna().any()


def test_score_command_reports_rows_and_rate_and_names_a_missing_column(
    trained_bundles: TrainedBundles, tmp_path: Path
) -> None:
    """The CLI prints rows and rows/s; a file without a model column exits 2 naming it."""
    frame = loan_frame(500, seed=23)
    frame.to_csv(tmp_path / "ok.csv", index=False)
    frame.drop(columns=["elec_yoy_3m"]).to_csv(tmp_path / "bad.csv", index=False)
    runner = CliRunner()
    bundle = str(trained_bundles.newest)
    ok = runner.invoke(app, ["score", str(tmp_path / "ok.csv"), "--bundle", bundle, "--no-explain"])
    assert ok.exit_code == 0, ok.output
    assert "scored 500 rows in" in ok.output and "rows/s, explanations off" in ok.output
    assert (tmp_path / "ok.scored.parquet").is_file()
    bad = runner.invoke(app, ["score", str(tmp_path / "bad.csv"), "--bundle", bundle])
    assert bad.exit_code == 2
    assert "columns ['elec_yoy_3m'] of model jifen-pd-test/" in bad.output
