"""``jifen points``: reads clean tables, writes Parquet, prints the ranking."""

from pathlib import Path

import pandas as pd
import typer
from typer.testing import CliRunner

from features.layout import DataLayout
from features.points.cli import points
from tests.features.points.builders import three_firms


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(points)
    app.command()(lambda: None)  # a second command keeps `points` a subcommand
    return app


def _layout(tmp_path: Path) -> DataLayout:
    layout = DataLayout(tmp_path / "data")
    for table, frame in zip(
        ("innovation_filings", "enterprises", "credit_events"), three_firms(), strict=True
    ):
        layout.clean(table).mkdir(parents=True)
        frame.to_parquet(layout.clean(table) / "part-0000.parquet")
    return layout


def test_points_command_writes_summary_trace_and_missing_report(tmp_path: Path) -> None:
    """Default output goes under <data-dir>/points/<version>/<as-of>/ and A ranks first."""
    layout = _layout(tmp_path)
    result = CliRunner().invoke(
        _app(), ["points", "--as-of", "2025-06-30", "--data-dir", str(layout.root), "--top", "2"]
    )
    assert result.exit_code == 0, result.output
    folder = layout.root / "points" / "national-2024-trial" / "2025-06-30"
    summary = pd.read_parquet(folder / "summary.parquet")
    assert summary["credit_code"].tolist() == ["A", "C", "B"]
    assert len(pd.read_parquet(folder / "summary_trace.parquet")) == 3 * 18
    assert set(pd.read_parquet(folder / "summary_missing.parquet")["indicator_id"]) >= {"roe"}


def test_points_command_honours_out_catalogue_and_no_trace(tmp_path: Path) -> None:
    """--out names the summary file; --no-trace skips the trace; --catalogue picks the version."""
    layout, out = _layout(tmp_path), tmp_path / "out" / "v2.parquet"
    args = ["points", "--as-of", "2025-06-30", "--data-dir", str(layout.root)]
    args += ["--catalogue", "v2.0-2025", "--out", str(out), "--no-trace"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out)["catalogue_version"].unique().tolist() == ["v2.0-2025"]
    assert not (tmp_path / "out" / "v2_trace.parquet").exists()


def test_points_command_fails_clearly_without_clean_tables(tmp_path: Path) -> None:
    """A data dir without validated tables exits 2 and names the missing table."""
    result = CliRunner().invoke(
        _app(), ["points", "--as-of", "2025-06-30", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "innovation_filings" in result.output and "jifen validate" in result.output


def test_points_command_requires_as_of_and_lists_catalogues() -> None:
    """Without --as-of it refuses; --list-catalogues shows every shipped version."""
    runner = CliRunner()
    refused = runner.invoke(_app(), ["points"])
    assert refused.exit_code == 2 and "--as-of is required" in refused.output
    listed = runner.invoke(_app(), ["points", "--list-catalogues"])
    assert listed.exit_code == 0
    assert "v2.0-2025" in listed.output and "regional-2024-zone" in listed.output
