"""``jifen points``: score every firm as of a date, write the tables, show the ranking."""

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jifen.cli_support import friendly_errors
from jifen.console import configure_logging, console, make_progress
from jifen.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from features.catalogue import Catalogue

DEFAULT_CATALOGUE = "national-2024-trial"


@friendly_errors
def points(
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Scoring date: only filings and events published on or before it count.",
        ),
    ] = None,
    catalogue: Annotated[
        str, typer.Option(help="Catalogue version (see --list-catalogues) or a YAML path.")
    ] = DEFAULT_CATALOGUE,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Root of the data tables (default: $JIFEN_DATA_DIR or ./data)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Summary Parquet file; trace and missing report go beside it "
            "(default: <data-dir>/points/<version>/<as-of>/summary.parquet)."
        ),
    ] = None,
    top: Annotated[int, typer.Option(min=0, help="Rows of the ranking to print.")] = 20,
    trace: Annotated[
        bool, typer.Option(help="Write the firm x indicator trace (the largest table).")
    ] = True,
    whitelist_threshold: Annotated[
        float | None, typer.Option(help="White-list threshold (default: the catalogue's).")
    ] = None,
    list_catalogues: Annotated[
        bool, typer.Option("--list-catalogues", help="List shipped catalogues and exit.")
    ] = False,
) -> None:
    """Score innovation points for every firm as of a date and rank them within zones."""
    from features.catalogue import list_catalogues as shipped
    from features.catalogue import load_catalogue
    from features.layout import DataLayout
    from features.points.engine import compute_points
    from features.points.io import default_output, read_points_tables, write_points
    from jifen.settings import get_settings

    configure_logging()
    if list_catalogues:
        console.print(_catalogue_table([load_catalogue(v) for v in shipped()]))
        return
    if as_of is None:
        raise ConfigError("--as-of is required (a date, YYYY-MM-DD) unless --list-catalogues")
    cat = load_catalogue(catalogue)
    layout = DataLayout(data_dir or get_settings().data_dir)
    with make_progress(transient=True) as progress:
        task = progress.add_task("reading tables", total=len(cat.indicators) + 2)
        filings, enterprises, events = read_points_tables(layout, cat)
        progress.update(task, advance=1, description="scoring indicators")
        result = compute_points(
            filings,
            enterprises,
            events,
            cat,
            as_of,
            whitelist_threshold=whitelist_threshold,
            keep_trace=trace,
            progress=lambda ind: progress.update(task, advance=1, description=ind),
        )
        progress.update(task, description="writing Parquet")
        written = write_points(result, out or default_output(layout, cat.version, as_of))
        progress.update(task, advance=1)
    console.print(_ranking_table(result.summary, cat, top))
    listed = int(result.summary["whitelist"].sum())
    console.print(
        f"{len(result.summary):,} firms scored with {cat.version} as of {as_of.date()}; "
        f"{listed:,} on the white list; summary: {written.summary}"
        + (f"; trace: {written.trace}" if written.trace else "")
    )
    worst = result.missing_report.sort_values("missing", ascending=False).head(3)
    for row in worst.to_dict("records"):
        if row["missing"]:
            console.print(
                f"missing {row['indicator_id']}: {row['missing']:,} firms "
                f"({row['missing_share']:.1%})"
            )


_WIDE = 120
"""Terminal width from which the ranking also shows industry and points per class."""


def _ranking_table(summary: "pd.DataFrame", cat: "Catalogue", top: int) -> "Table":
    from rich.table import Table

    wide = console.width >= _WIDE
    table = Table(title=f"Innovation points, {cat.version} (top {top})")
    table.add_column("rank in zone", justify="right")
    table.add_column("credit code", no_wrap=True, min_width=18)
    table.add_column("zone", no_wrap=True)
    if wide:
        table.add_column("industry", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    classes = cat.classes if wide else []
    for cls in classes:
        table.add_column(cls.name_zh, justify="right")
    table.add_column("total", justify="right", style="bold")
    table.add_column("white list")
    for row in summary.head(top).to_dict("records"):
        table.add_row(
            str(row["rank_zone"]),
            str(row["credit_code"]),
            str(row["zone_id"]),
            *([str(row["industry"])] if wide else []),
            str(row["stage"]),
            *(f"{row[f'class_{c.id}']:.1f}" for c in classes),
            f"{row['total_points']:.1f}",
            "yes" if row["whitelist"] else "",
        )
    return table


def _catalogue_table(catalogues: "list[Catalogue]") -> "Table":
    from rich.table import Table

    table = Table(title="Shipped indicator catalogues")
    table.add_column("version", no_wrap=True, min_width=22)
    table.add_column("effective", no_wrap=True, min_width=10)
    table.add_column("extends", overflow="fold")
    for name in ("indicators", "confirmed", "max points"):
        table.add_column(name, justify="right")
    for cat in catalogues:
        confirmed = sum(1 for i in cat.indicators if i.confirmed)
        table.add_row(
            cat.version,
            cat.effective_from.isoformat(),
            " > ".join(cat.lineage),
            str(len(cat.indicators)),
            str(confirmed),
            f"{cat.max_total:g}",
        )
    return table
