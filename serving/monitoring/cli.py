"""``jifen monitor``: compare recent decisions with the training reference; exit 3 on red.

Heavy modules are imported inside the command so that ``jifen --help`` stays fast.
"""

from datetime import datetime
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.table import Table

from jifen.cli_support import friendly_errors
from jifen.console import configure_logging, console

RED_EXIT: Final = 3
"""Exit code of a red alert, for schedulers (2 is a usage or data error)."""

SinceOpt = Annotated[
    datetime,
    typer.Option(
        "--since",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="Monitor decisions recorded from this date (midnight in Asia/Shanghai) or time.",
        show_default=False,
    ),
]
DsnOpt = Annotated[
    str | None,
    typer.Option(
        "--audit-dsn",
        help="Audit database, 'sqlite:///<path>' or 'postgresql://...' "
        "(default: $JIFEN_AUDIT_DSN, else SQLite under the data dir).",
    ),
]
BundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--bundle", help="Bundle folder to monitor (default: the model the settings serve)."
    ),
]
OutcomesOpt = Annotated[
    Path | None,
    typer.Option(
        "--outcomes",
        help="CSV/Parquet of decision_id (or application_id) and default_flag, for the "
        "realised default rates per grade.",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")]


def _start(since: datetime) -> datetime:
    from serving.schemas import BUSINESS_TZ

    return since if since.tzinfo is not None else since.replace(tzinfo=BUSINESS_TZ)


@friendly_errors
def monitor(
    since: SinceOpt,
    audit_dsn: DsnOpt = None,
    bundle: BundleOpt = None,
    outcomes: OutcomesOpt = None,
    out: OutOpt = Path("monitoring_report.html"),
) -> None:
    """Compare decisions since a date with the bundle's training reference; write HTML.

    PSI per input and for the score (green < 0.1 ≤ amber < 0.25 ≤ red) and, with
    --outcomes, realised default rates per grade against the PDs (Jeffreys test).
    Exits with code 3 on a red alert, 2 when the inputs cannot be read.
    """
    from serving.core.config import load_settings, parse_audit_dsn
    from serving.core.db import open_store
    from serving.core.model import model_source
    from serving.monitoring.monitor import MonitorRequest, run_monitor
    from serving.monitoring.render import monitor_html
    from training.report.config import load_report_config

    configure_logging("WARNING")
    settings = load_settings()
    config = load_report_config()
    target = parse_audit_dsn(audit_dsn) if audit_dsn else settings.audit_target
    store = open_store(target, timeout_s=settings.db_timeout_s, pool_size=1)
    try:
        request = MonitorRequest(_start(since), bundle, outcomes)
        result = run_monitor(store, request, model_source(settings), config)
    finally:
        store.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(monitor_html(result, config), encoding="utf-8")
    table = Table("check", "value", "light", title=f"Monitoring {result.model_version}")
    table.add_row("decisions", f"{result.traffic.n:,}", "")
    if result.score is not None:
        table.add_row("score PSI", f"{result.score.drift.psi:.4f}", result.score.level.value)
    for checked in [c for c in result.features if c.level.value != "green"]:
        table.add_row(f"PSI {checked.drift.name}", f"{checked.drift.psi:.4f}", checked.level.value)
    if result.outcomes is not None:
        oc = result.outcomes
        table.add_row("outcomes per grade", f"{oc.matched:,} with outcome", oc.level.value)
    console.print(table)
    console.print(f"[bold]overall[/] {result.level.value} · report {out}")
    if result.red:
        raise typer.Exit(code=RED_EXIT)
