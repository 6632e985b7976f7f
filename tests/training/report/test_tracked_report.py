"""With tracking on: the report reaches MLflow, and a second run compares with the champion."""

from pathlib import Path

from mlflow import MlflowClient

from tests.training.report.parse import parse_report
from training.pipeline import TrainRequest, train
from training.tracking import default_target, promote


def test_second_run_rescores_the_champion_and_both_reports_reach_mlflow(
    byod_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """Run 1 becomes champion; run 2's report scores it on the same test rows; both logged."""
    dataset, spec = byod_files
    target = default_target(None, tmp_path / "mlflow")
    first = train(TrainRequest(dataset, spec, tmp_path / "m1", n_trials=2, tracking=target))
    assert first.registered is not None
    promote(target, first.registered.name, margin=0.0)
    second = train(TrainRequest(dataset, spec, tmp_path / "m2", n_trials=3, tracking=target))
    assert second.registered is not None

    page = parse_report((second.bundle_path / "validation_report.html").read_text("utf-8"))
    rows = {r[0]: r[1] for r in page.tables["comparison-table"][1:]}
    champion_row = "champion 冠军 v1 (same rows 同一样本)"
    # Same data, same split: the champion re-scored on run 2's test rows gives run 1's AUC.
    assert rows[champion_row] == f"{first.metrics['test_auc']:.4f}"
    assert "re-scored from its bundle on the challenger's test rows" in page.text
    summary = {r[0]: r[1] for r in page.tables["summary-table"][1:]}
    gap = second.metrics["test_auc"] - first.metrics["test_auc"]
    assert summary["Champion 冠军模型"] == f"test AUC {gap:+.4f} against champion v1"

    client = MlflowClient(tracking_uri=target.uri)
    for result in (first, second):
        assert result.registered is not None
        logged = {a.path for a in client.list_artifacts(result.registered.run_id, "bundle")}
        assert {"bundle/validation_report.html", "bundle/reference.json"} <= logged
