"""``jifen features``: build the training set and snapshot, materialize, read a firm's vector."""

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from features.layout import DataLayout
from jifen.cli_support import friendly_errors
from jifen.console import configure_logging, console, make_progress
from jifen.settings import get_settings

app = typer.Typer(
    name="features",
    help="Point-in-time features: build the training set, load Feast, read online vectors.",
    no_args_is_help=True,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Root of the data tables (default: $JIFEN_DATA_DIR or ./data)."
    ),
]
StoreConfigOption = Annotated[
    Path | None,
    typer.Option("--store-config", help="Store settings YAML (default: the shipped store.yaml)."),
]
OnlineOption = Annotated[
    str | None, typer.Option("--online", help="Online store: sqlite or redis (overrides config).")
]
RegistryOption = Annotated[
    str | None, typer.Option("--registry", help="Registry: file or sql (overrides config).")
]


def _layout(data_dir: Path | None) -> DataLayout:
    return DataLayout(data_dir or get_settings().data_dir)


def _parse_date(text: str) -> date:
    from jifen.errors import ConfigError

    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise ConfigError(f"--as-of must be a date YYYY-MM-DD; got {text!r}") from exc


@app.command()
@friendly_errors
def build(
    as_of: Annotated[str, typer.Option("--as-of", help="Build date YYYY-MM-DD.")],
    data_dir: DataDirOption = None,
    stage: Annotated[str, typer.Option(help="Source tables: clean (validated) or raw.")] = "clean",
) -> None:
    """Write the training set (applications up to --as-of) and the Feast offline snapshot."""
    from features.pipelines.sources import SourceStage
    from features.pipelines.training import build_entity_snapshot, build_training_set
    from jifen.errors import ConfigError

    configure_logging()
    if stage not in ("clean", "raw"):
        raise ConfigError(f"--stage must be clean or raw; got {stage!r}")
    source: SourceStage = "clean" if stage == "clean" else "raw"
    day, layout = _parse_date(as_of), _layout(data_dir)
    with make_progress() as progress:
        task = progress.add_task("training set", total=2)

        def step(label: str) -> None:
            progress.update(task, description=label)

        training = build_training_set(layout, day, stage=source, on_step=step)
        progress.update(task, advance=1, description="offline snapshot")
        snapshot = build_entity_snapshot(layout, day, stage=source, on_step=step)
        progress.update(task, advance=1, description="done")
    for result, label in ((training, "training set"), (snapshot, "offline snapshot")):
        console.print(
            f"{label}: {result.rows:,} rows x {result.features} features "
            f"({result.feature_set_version}, as of {result.as_of}) in {result.seconds:.1f} s "
            f"-> {result.path}"
        )


@app.command()
@friendly_errors
def materialize(
    data_dir: DataDirOption = None,
    online: OnlineOption = None,
    registry: RegistryOption = None,
    store_config: StoreConfigOption = None,
) -> None:
    """Apply the Feast definitions and load the offline snapshot into the online store."""
    from features.pipelines.training import features_dir
    from features.store.config import load_store_settings, open_store
    from features.store.materialize import materialize_snapshot

    configure_logging()
    settings = load_store_settings(store_config, online=online, registry=registry)
    repo_dir = features_dir(_layout(data_dir))
    with make_progress(transient=True) as progress:
        progress.add_task(f"materializing into {settings.online}", total=None)
        store = open_store(settings, repo_dir)
        result = materialize_snapshot(store, repo_dir)
    console.print(
        f"{result.entities:,} enterprises x {len(result.views)} views -> {settings.online} "
        f"(registry: {settings.registry}, window {result.start:%Y-%m-%d} .. {result.end})"
    )


@app.command()
@friendly_errors
def get(
    credit_code: Annotated[str, typer.Argument(help="Unified social credit code (18 chars).")],
    data_dir: DataDirOption = None,
    online: OnlineOption = None,
    registry: RegistryOption = None,
    store_config: StoreConfigOption = None,
) -> None:
    """Print one enterprise's online feature vector as a table."""
    from rich.table import Table

    from features.credit_code import validate_credit_code
    from features.definitions.model import load_feature_set
    from features.pipelines.training import features_dir
    from features.store.config import load_store_settings, open_store
    from features.store.online import get_online_vector

    configure_logging("WARNING")
    code = validate_credit_code(credit_code)
    settings = load_store_settings(store_config, online=online, registry=registry)
    store = open_store(settings, features_dir(_layout(data_dir)))
    vector = get_online_vector(store, code)
    definitions = {f.name: f for f in load_feature_set().entity_features()}
    table = Table(title=f"{code} ({settings.online})")
    for column in ("group", "feature", "value", "description"):
        table.add_column(column)
    for name, value in vector.items():
        feature = definitions[name]
        table.add_row(feature.group.value, name, _show(value), feature.description_zh)
    console.print(table)


def _show(value: Any) -> str:
    if value is None:
        return "[dim]NULL[/]"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)
