"""``jifen report decision ID``: write one decision's report as HTML or PDF.

Heavy modules are imported inside the command so that ``jifen --help`` stays fast.
"""

from pathlib import Path
from typing import Annotated, Literal

import typer

from jifen.cli_support import friendly_errors
from jifen.console import configure_logging, console

report_app = typer.Typer(
    help="Reports a credit officer or an auditor reads: one decision, in HTML or PDF.",
    no_args_is_help=True,
)
Format = Literal["html", "pdf"]


@report_app.command("decision", no_args_is_help=True)
@friendly_errors
def decision(
    decision_id: Annotated[str, typer.Argument(help="The decision id (dec_...).")],
    fmt: Annotated[
        str, typer.Option("--format", help="html or pdf.", case_sensitive=False)
    ] = "html",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output file (default: <ID>.<format>).")
    ] = None,
    dsn: Annotated[
        str | None,
        typer.Option(
            "--dsn",
            help="Audit database, 'sqlite:///<path>' or 'postgresql://...' "
            "(default: $JIFEN_AUDIT_DSN, else SQLite under the data dir).",
        ),
    ] = None,
) -> None:
    """Write a recorded decision's report for a credit officer or an auditor.

    PD and grade, innovation points beside peers, reasons (waterfall), policy rules,
    data provenance, the model's validation summary, the audit record's hash and place.
    """
    from features.definitions.model import load_feature_set
    from serving.core.config import load_settings, parse_audit_dsn
    from serving.core.db import open_store
    from serving.core.model import model_source
    from serving.core.policy import load_policy
    from serving.reports.document import decision_report_html, html_to_pdf
    from training.bundle import load_bundle

    kind = fmt.lower()
    if kind not in ("html", "pdf"):
        raise typer.BadParameter(f"must be html or pdf; got {fmt!r}", param_hint="--format")
    configure_logging("WARNING")
    settings = load_settings()
    source = model_source(settings)
    target = parse_audit_dsn(dsn) if dsn else settings.audit_target
    store = open_store(target, timeout_s=settings.db_timeout_s, pool_size=1)
    try:
        html = decision_report_html(
            store,
            decision_id,
            lambda version: load_bundle(source.locate(version)),
            load_feature_set(settings.feature_set),
            load_policy(settings.policy_path),
        )
    finally:
        store.close()
    path = out or Path(f"{decision_id}.{kind}")
    if kind == "pdf":
        path.write_bytes(html_to_pdf(html))
    else:
        path.write_text(html, encoding="utf-8")
    console.print(f"decision report of [bold]{decision_id}[/] -> {path}")
