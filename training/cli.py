"""Commands of the training stage: train, promote."""

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jifen.cli_support import friendly_errors
from jifen.console import configure_logging, console, make_progress

DatasetOpt = Annotated[
    Path, typer.Option("--dataset", help="Training set, CSV or Parquet.", show_default=False)
]
SpecOpt = Annotated[
    Path, typer.Option("--spec", help="Dataset spec, YAML or JSON.", show_default=False)
]
OutOpt = Annotated[
    Path, typer.Option("--out", help="Folder for metrics.json and <name>/<version>/ bundles.")
]
NameOpt = Annotated[
    str | None, typer.Option("--name", help="Model name (default: the spec's name, else its stem).")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Training config YAML merged over the default.")
]
ScaleOpt = Annotated[
    Path | None, typer.Option("--master-scale", help="Master scale YAML (default: embedded).")
]
TrialsOpt = Annotated[int | None, typer.Option("--trials", min=1, help="Optuna trials.")]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", min=1, help="Tuning wall-time budget, seconds.")
]
DaskOpt = Annotated[
    str | None,
    typer.Option("--dask", help="Fit through Dask: 'local' or a scheduler address."),
]
UriOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar="JIFEN_MLFLOW_TRACKING_URI",
        help="MLflow tracking URI, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/mlflow "
        "(default: sqlite:///<tracking-dir>/mlflow.db).",
    ),
]
TrackingDirOpt = Annotated[
    Path,
    typer.Option(
        "--tracking-dir",
        envvar="JIFEN_MLFLOW_DIR",
        help="Folder of the default SQLite store and of run artifacts (mlruns/).",
    ),
]
NoTrackOpt = Annotated[bool, typer.Option("--no-tracking", help="Do not log to MLflow.")]
OracleOpt = Annotated[
    Path | None,
    typer.Option("--oracle", help="CSV/Parquet of id and true PD (simulated portfolios)."),
]
CatalogueOpt = Annotated[
    str | None, typer.Option("--catalogue-version", help="Points catalogue version, logged.")
]
ServiceOpt = Annotated[
    str | None,
    typer.Option("--feature-service-version", help="Feature service version, logged."),
]
LogOpt = Annotated[str, typer.Option("--log-level", help="Logging level.")]


@friendly_errors
def train_command(
    dataset: DatasetOpt,
    spec: SpecOpt,
    out: OutOpt = Path("models"),
    name: NameOpt = None,
    config: ConfigOpt = None,
    master_scale: ScaleOpt = None,
    trials: TrialsOpt = None,
    timeout: TimeoutOpt = None,
    dask: DaskOpt = None,
    tracking_uri: UriOpt = None,
    tracking_dir: TrackingDirOpt = Path(),
    no_tracking: NoTrackOpt = False,
    oracle: OracleOpt = None,
    catalogue_version: CatalogueOpt = None,
    feature_service_version: ServiceOpt = None,
    log_level: LogOpt = "INFO",
) -> None:
    """Tune, train, calibrate, check and export a PD model from a dataset and its spec."""
    from training.pipeline import TrainRequest, train  # deferred: heavy imports
    from training.tracking import default_target

    configure_logging(log_level)
    # MLflow draws its own tqdm bar while logging the model; ours already shows the step.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    request = TrainRequest(
        dataset=dataset,
        spec_path=spec,
        out_dir=out,
        name=name,
        config_path=config,
        master_scale_path=master_scale,
        n_trials=trials,
        timeout_seconds=timeout,
        dask=dask,
        tracking=None if no_tracking else default_target(tracking_uri, tracking_dir),
        oracle_path=oracle,
        catalogue_version=catalogue_version,
        feature_service_version=feature_service_version,
    )
    with make_progress() as progress:
        result = train(request, progress)
    console.print(_candidates_table(result.metrics))
    console.print(_metrics_table(result.metrics, result.report))
    if result.blend:
        console.print(f"[bold]blend[/] {result.blend}")
    console.print(f"[bold]bundle[/] {result.bundle_path}")
    console.print(f"[bold]metrics[/] {out / 'metrics.json'}")
    if result.registered is not None:
        reg = result.registered
        console.print(f"[bold]registered[/] {reg.name} v{reg.version} (alias challenger)")


def _auc(values: dict[str, Any]) -> str:
    return f"{values['auc']:.4f} [{values['auc_low']:.4f}, {values['auc_high']:.4f}]"


def _candidates_table(metrics: dict[str, Any]) -> Table:
    table = Table(title=f"Candidates, cross-validated: {metrics['cv']['description']}")
    for column in ("candidate", "CV log loss", "CV AUC", "test AUC (95 %)", "test Brier", "served"):
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for c in metrics["candidates"]:
        table.add_row(
            c["title"],
            f"{c['cv_log_loss_mean']:.4f} ± {c['cv_log_loss_sd']:.4f}",
            f"{c['cv_auc_mean']:.4f} ± {c['cv_auc_sd']:.4f}",
            _auc(c["test"]),
            f"{c['test']['brier']:.4f}",
            "yes" if c["selected"] else "",
        )
    table.caption = (
        f"{metrics['selected']['reason']}. Served model fitted on {metrics['served_rows']}."
    )
    return table


def _metrics_table(metrics: dict[str, Any], report: dict[str, Any]) -> Table:
    table = Table(title="Served model on the test part (never used to fit or choose)")
    for column in ("model", "AUC (95 %)", "Gini", "KS", "Brier", "log loss"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for model, values in report["comparison_test"].items():
        table.add_row(
            model.replace("_", " "),
            _auc(values),
            *(f"{values[k]:.4f}" for k in ("gini", "ks", "brier", "log_loss")),
        )
    if "oracle_test" in report:
        oracle = report["oracle_test"]
        table.add_row(
            "true PD (simulated)",
            f"{oracle['oracle_auc']:.4f} [{oracle['oracle_auc_low']:.4f}, "
            f"{oracle['oracle_auc_high']:.4f}]",
            *("" for _ in range(4)),
        )
    table.caption = (
        f"train {metrics['n_train']:,} rows ({metrics['defaults_train']:,} defaults), test "
        f"{metrics['n_test']:,} ({metrics['defaults_test']:,} defaults), excluded immature "
        f"{metrics['n_excluded_immature']:,}; ONNX parity max |ΔPD| "
        f"{metrics['parity_max_abs_pd']:.1e} on {metrics['parity_rows']:,} rows"
    )
    return table


PromoteName = Annotated[
    str | None,
    typer.Option("--name", help="Registered model (default: the only one in the registry)."),
]
MarginOpt = Annotated[
    float | None,
    typer.Option("--margin", min=0, help="Required test-AUC gain (default: training config)."),
]


@friendly_errors
def promote_command(
    name: PromoteName = None,
    margin: MarginOpt = None,
    config: ConfigOpt = None,
    tracking_uri: UriOpt = None,
    tracking_dir: TrackingDirOpt = Path(),
) -> None:
    """Move the champion alias to the challenger if it beats the champion's test AUC."""
    from training.config import load_config
    from training.tracking import default_target, only_model_name, promote

    target = default_target(tracking_uri, tracking_dir)
    chosen_margin = margin if margin is not None else load_config(config).promotion.margin
    decision = promote(target, name or only_model_name(target), chosen_margin)
    verdict = "[green]promoted[/]" if decision.promoted else "[yellow]not promoted[/]"
    console.print(f"{verdict} {decision.name} v{decision.challenger}: {decision.reason}")


def register(app: typer.Typer) -> None:
    """Attach the training-stage commands to the root ``jifen`` app."""
    app.command("train", no_args_is_help=True)(train_command)
    app.command("promote")(promote_command)
