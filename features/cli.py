"""Commands of the data stage: simulate a portfolio, validate raw tables."""

from pathlib import Path
from typing import Annotated

import typer

from features.layout import DataLayout
from features.points.cli import points
from features.store.cli import app as features_app
from jifen.cli_support import friendly_errors
from jifen.console import configure_logging, console
from jifen.settings import get_settings

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Root of the data tables (default: $JIFEN_DATA_DIR or ./data)."
    ),
]


def _layout(data_dir: Path | None) -> DataLayout:
    return DataLayout(data_dir or get_settings().data_dir)


@friendly_errors
def simulate(
    data_dir: DataDirOption = None,
    config: Annotated[
        Path | None, typer.Option(help="Simulation YAML (default: the embedded config).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides the config).")] = None,
    firms: Annotated[
        int | None, typer.Option(help="Number of enterprises (overrides the config).")
    ] = None,
    history_years: Annotated[
        int | None, typer.Option(help="Years of alternative-data history (overrides the config).")
    ] = None,
) -> None:
    """Simulate a technology-SME portfolio: raw zone and bank tables, and the true PDs."""
    from features.simulate import load_simulation_config, run_simulation

    configure_logging()
    cfg = load_simulation_config(config).with_overrides(
        seed=seed, n_firms=firms, history_years=history_years
    )
    summary = run_simulation(cfg, _layout(data_dir))
    console.print(summary.as_table())


@friendly_errors
def validate(
    data_dir: DataDirOption = None,
    table: Annotated[
        list[str] | None, typer.Option(help="Validate only these tables (repeatable).")
    ] = None,
    max_quarantine_share: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Fail a table when more than this share is bad."),
    ] = 0.05,
) -> None:
    """Check raw tables against their contracts; write clean tables and quarantine bad rows.

    Exits with code 1 when a table is missing, rejected, or over its quarantine limit.
    """
    from features.contracts.validate import validate_tables

    configure_logging()
    report = validate_tables(
        _layout(data_dir), tables=table, max_quarantine_share=max_quarantine_share
    )
    console.print(report.as_table())
    if not report.ok:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Attach the data-stage commands to the root ``jifen`` app."""
    app.command()(simulate)
    app.command()(validate)
    app.command()(points)
    app.add_typer(features_app, name="features")
