"""Commands of the serving stage: serve, audit verify/head/anchor, keys create/list/revoke.

Heavy modules are imported inside the commands so that ``jifen --help`` stays fast.
"""

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from jifen.cli_support import friendly_errors
from jifen.console import configure_logging, console, make_progress

if TYPE_CHECKING:
    import socket

    from serving.core.anchors import PublishedAnchors
    from serving.core.config import AuditTarget
    from serving.core.db import Store
    from serving.core.verification import LogVerification

audit_app = typer.Typer(
    help="Check the tamper-evident audit log of decisions.", no_args_is_help=True
)
keys_app = typer.Typer(
    help="Manage API keys (roles: scorer, auditor, admin).", no_args_is_help=True
)

DsnOption = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        help="Audit database, 'sqlite:///<path>' or 'postgresql://...' "
        "(default: $JIFEN_AUDIT_DSN, else SQLite under the data dir).",
    ),
]


def _target(dsn: str | None) -> "AuditTarget":
    from serving.core.config import get_settings, parse_audit_dsn

    return parse_audit_dsn(dsn) if dsn else get_settings().audit_target


def _open_store(dsn: str | None) -> "Store":
    from serving.core.config import get_settings
    from serving.core.db import open_store

    settings = get_settings()
    return open_store(_target(dsn), timeout_s=settings.db_timeout_s, pool_size=1)


@audit_app.command("verify")
@friendly_errors
def audit_verify(
    dsn: DsnOption = None,
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            help="LANE:SEQUENCE:HASH kept elsewhere (e.g. noted with 'jifen audit head'); "
            "repeat for each lane; SEQUENCE:HASH means lane 0. Checked beside the published "
            "anchors."
        ),
    ] = None,
    no_anchors: Annotated[
        bool,
        typer.Option(
            "--no-anchors",
            help="Do not check the anchors the service published (a cut or replaced tail, "
            "or a removed lane, then goes unseen); the result says so.",
        ),
    ] = False,
    anchor_store: Annotated[
        str | None,
        typer.Option(
            help="Folder or 'postgresql://...' the anchors were published in (default: "
            "$JIFEN_ANCHOR_DSN, else $JIFEN_ANCHOR_DIR, else <data dir>/anchors)."
        ),
    ] = None,
    anchor_key: Annotated[
        Path | None,
        typer.Option(
            help="Public key (PEM) the published anchors must be signed with (default: the "
            "service's key if readable here, else the keys published beside the anchors)."
        ),
    ] = None,
    anchor_log: Annotated[
        str | None,
        typer.Option(
            help="Check against the anchors published for this log id (default: this "
            "log's own, e.g. for a copy of the log restored elsewhere)."
        ),
    ] = None,
    show: Annotated[int, typer.Option(min=1, help="Show at most this many problems.")] = 50,
) -> None:
    """Walk every lane's hash chain and check it against the latest published anchors.

    Names every altered, removed or reordered record, a column that differs from its sealed
    value, a tail cut or replaced since it was anchored, and a lane that is gone. Exits
    with code 1 when anything fails, 2 when the log or the anchors cannot be read.
    """
    from serving.core.anchors import log_id
    from serving.core.audit import Anchor
    from serving.core.verification import anchors_by_lane, verify_log

    given = [Anchor.parse(text) for text in anchor or []]
    target = _target(dsn)
    published = None
    if not no_anchors:
        published = _published_anchors(anchor_store, anchor_key, anchor_log or log_id(target))
    store = _open_store(dsn)
    try:
        anchors = anchors_by_lane(given, published.anchors.values() if published else ())
        with make_progress(transient=True) as progress:
            task = progress.add_task("verifying audit chain", total=None)
            result = verify_log(
                store,
                anchors,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
    finally:
        store.close()
    _report_verification(result, published, store.description, show)


def _published_anchors(
    store_text: str | None, key: Path | None, log_name: str
) -> "PublishedAnchors":
    from serving.core.anchor_store import open_anchor_store, read_published
    from serving.core.anchors import trusted_keys
    from serving.core.config import get_settings, parse_anchor_store
    from serving.errors import StoreUnavailableError

    settings = get_settings()
    target = parse_anchor_store(store_text) if store_text else settings.anchor_target
    anchors = open_anchor_store(target, timeout_s=settings.db_timeout_s)
    try:
        return read_published(anchors, log_name, trusted_keys(settings, key))
    except StoreUnavailableError as exc:
        raise StoreUnavailableError(
            f"{exc}; pass --no-anchors to check the chain alone (a cut tail would not show)"
        ) from exc
    finally:
        anchors.close()


def _report_verification(
    result: "LogVerification", published: "PublishedAnchors | None", where: str, show: int
) -> None:
    problems = result.problems
    lane_problems = [*result.lane_problems, *(published.problems if published else [])]
    for note in published.notes if published else []:
        console.print(f"[yellow]note[/]: {note}", soft_wrap=True)
    if not problems and not lane_problems:
        heads = "; ".join(f"lane {h.lane} head #{h.sequence} {h.hash}" for h in result.heads)
        console.print(
            f"[bold green]audit chain intact[/]: {result.checked} records in "
            f"{result.lanes_checked} lane(s); {heads or 'empty log'}"
        )
        console.print(_anchor_summary(published), soft_wrap=True)
        return
    table = Table("record", "decision_id", "problem", "detail", title="Audit chain problems")
    for text in lane_problems:
        table.add_row("-", "-", "lane" if text.startswith("lane ") else "anchor", text)
    for problem in problems[:show]:
        where_in = (
            f"#{problem.sequence}"
            if problem.lane == 0
            else f"lane {problem.lane} #{problem.sequence}"
        )
        table.add_row(where_in, problem.decision_id, problem.kind, problem.detail)
    console.print(table)
    hidden = f" ({len(problems) - show} not shown)" if len(problems) > show else ""
    console.print(
        f"[bold red]audit chain broken[/]: {len(problems) + len(lane_problems)} problem(s)"
        f"{hidden} in {result.checked} records of {where}"
    )
    console.print(_anchor_summary(published), soft_wrap=True)
    raise typer.Exit(code=1)


def _anchor_summary(published: "PublishedAnchors | None") -> str:
    if published is None:
        return "[yellow]published anchors not checked (--no-anchors)[/]"
    if not published.anchors:
        return (
            f"[yellow]no anchors published for {published.log} in {published.source}[/]: "
            "a cut or replaced tail, or a removed lane, would not show"
        )
    return (
        f"checked against {len(published.anchors)} published anchor(s) of {published.log} "
        f"in {published.source} (newest {published.newest_at}, key "
        f"{', '.join(sorted(published.key_ids))})"
    )


@audit_app.command("head")
@friendly_errors
def audit_head(dsn: DsnOption = None) -> None:
    """Print LANE:SEQUENCE:HASH of each lane's last record, to keep outside the database."""
    from serving.core.audit import Anchor

    store = _open_store(dsn)
    try:
        heads = [store.head(lane) for lane in store.lanes()]
    finally:
        store.close()
    anchors = [Anchor(h.sequence, h.hash, h.lane) for h in heads if h is not None]
    if not anchors:
        console.print("the audit log is empty")
        return
    for each in anchors:
        typer.echo(str(each))


@audit_app.command("anchor")
@friendly_errors
def audit_anchor(dsn: DsnOption = None) -> None:
    """Publish each lane's head now, signed, where the service publishes its anchors.

    The service does this on its own (every $JIFEN_ANCHOR_EVERY_S and at shutdown); this is
    for a log written without it. A lane whose anchored record is gone or changed is not
    anchored over: it is named, and the command exits with code 1.
    """
    from serving.core.anchor_publisher import AnchorPublisher
    from serving.core.anchor_store import open_anchor_store
    from serving.core.anchors import AnchorKey, log_id
    from serving.core.config import get_settings

    settings = get_settings()
    key = AnchorKey.load_or_create(settings.anchor_key)
    sink = open_anchor_store(settings.anchor_target, timeout_s=settings.db_timeout_s)
    store = _open_store(dsn)
    publisher = AnchorPublisher(store, sink, key, log_id(_target(dsn)), settings.anchor_every_s)
    try:
        signed = publisher.publish()
    finally:
        sink.close()
        store.close()
    for each in signed:
        console.print(f"anchored lane {each.lane} #{each.sequence} {each.hash}")
    console.print(f"{len(signed)} anchor(s) published in {sink.description}")
    for lane, why in sorted(publisher.refused.items()):
        console.print(f"[bold red]lane {lane} not anchored[/]: {why}", soft_wrap=True)
    if publisher.refused:
        raise typer.Exit(code=1)


@keys_app.command("create")
@friendly_errors
def keys_create(
    role: Annotated[str, typer.Option(help="scorer, auditor or admin.")],
    name: Annotated[
        str | None, typer.Option(help="Who or what holds the key, e.g. the bank system.")
    ] = None,
    dsn: DsnOption = None,
) -> None:
    """Create a key and print it once on stdout; only its hash is stored."""
    from serving.core.security import KeyRing
    from serving.schemas import Role

    if role not in {r.value for r in Role}:
        raise typer.BadParameter(
            f"must be one of {', '.join(r.value for r in Role)}; got {role!r}",
            param_hint="--role",
        )
    store = _open_store(dsn)
    try:
        full, key = KeyRing(store).create(Role(role), name or f"{role} key")
    finally:
        store.close()
    console.print(
        f"created key [bold]{key.key_id}[/] ({key.name}, role {key.role.value}); "
        "it is shown once below and cannot be recovered"
    )
    typer.echo(full)


@keys_app.command("list")
@friendly_errors
def keys_list(dsn: DsnOption = None) -> None:
    """List every key with its role and whether it is revoked (never the secret)."""
    from serving.core.security import KeyRing

    store = _open_store(dsn)
    try:
        keys = KeyRing(store).list()
    finally:
        store.close()
    table = Table("key_id", "name", "role", "created", "revoked", title="API keys")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else ""
        created = key.created_at.isoformat(timespec="seconds")
        table.add_row(key.key_id, key.name, key.role.value, created, revoked)
    console.print(table)


@keys_app.command("revoke")
@friendly_errors
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (the part after 'jf_').")],
    dsn: DsnOption = None,
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from serving.core.security import KeyRing

    store = _open_store(dsn)
    try:
        key = KeyRing(store).revoke(key_id)
    finally:
        store.close()
    console.print(f"revoked key [bold]{key.key_id}[/] ({key.name}, role {key.role.value})")


@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default: $JIFEN_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default: $JIFEN_PORT).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=32,
            help="Worker processes, dealt connections in turn; each loads the model and "
            "commits its own audit groups into the one chain (settings from the environment).",
        ),
    ] = 1,
) -> None:
    """Run the scoring API with uvicorn (it reports not ready until a model is loaded)."""
    import uvicorn

    from serving.core.config import load_settings
    from serving.main import create_app

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = load_settings(**overrides)
    configure_logging(settings.log_level)
    common = {"host": settings.host, "port": settings.port, "log_config": None}
    if workers == 1:
        uvicorn.run(create_app(settings), access_log=False, **common)  # type: ignore[arg-type]
        return
    # Each worker builds its own app from the environment and listens on its own socket;
    # they share one folder of metric values so that any worker answers /metrics with totals.
    with shared_metrics_dir(settings.metrics_dir) as metrics_dir:
        os.environ["JIFEN_METRICS_DIR"] = str(metrics_dir)
        raise typer.Exit(run_workers(settings.host, settings.port, workers, settings.log_level))


def run_workers(host: str, port: int, workers: int, log_level: str) -> int:
    """Run ``workers`` server processes behind one port; return the exit code.

    This process listens and deals each connection to the workers in turn
    (``serving.dealer``): the kernel's choice, whether one shared socket (the first worker
    to wake took all 16 benchmark connections) or one ``SO_REUSEPORT`` socket per worker
    (4 connections all on one worker, twice in a row), left a worker idle while the other
    queued. If a worker dies, the others are stopped and the server exits non-zero (its
    supervisor restarts it whole); SIGINT or SIGTERM stops dealing, then every worker
    gracefully. If this process is killed, the workers see their channel close, take no
    more connections and stop gracefully.
    """
    import multiprocessing
    import signal
    import socket

    from serving.dealer import Dealer

    log = logging.getLogger(__name__)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        return 1
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(workers)]
    context = multiprocessing.get_context("spawn")
    procs = [
        context.Process(target=_worker, args=(theirs, log_level), name=f"jifen-worker-{i}")
        for i, (_, theirs) in enumerate(pairs)
    ]
    dealer = Dealer(listener, [ours for ours, _ in pairs])
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        dealer.stop()  # refuse new connections first; the workers finish the ones they hold
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for proc, (_, theirs) in zip(procs, pairs, strict=True):
            proc.start()
            theirs.close()  # the worker has its own copy now
        dealer.start()
        log.info("serving on http://%s:%d with %d workers", host, port, workers)
        while any(p.is_alive() for p in procs):
            for proc in procs:
                proc.join(timeout=0.5)
                if proc.exitcode not in (None, 0) and not stopping:
                    log.error(
                        "worker %s exited with %s; stopping the others", proc.name, proc.exitcode
                    )
                    stop(signal.SIGTERM, None)
        return 0 if stopping or all(p.exitcode == 0 for p in procs) else 1
    finally:
        dealer.stop()
        for ours, _ in pairs:
            ours.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _worker(channel: "socket.socket", log_level: str) -> None:
    """One server process: an app built from the environment, serving dealt connections."""
    import uvicorn

    from serving.dealer import DealtServer

    configure_logging(log_level)
    config = uvicorn.Config(
        "serving.main:create_app", factory=True, access_log=False, log_config=None
    )
    DealtServer(config, channel).run()


@contextmanager
def shared_metrics_dir(configured: Path | None) -> Iterator[Path]:
    """Yield an empty folder for the workers' metric values (a fresh temporary one if unset).

    A configured folder is emptied first: values left by an earlier run would be added to
    this run's totals.
    """
    if configured is None:
        with tempfile.TemporaryDirectory(prefix="jifen-metrics-") as fresh:
            yield Path(fresh)
        return
    configured.mkdir(parents=True, exist_ok=True)
    for stale in configured.glob("*.db"):
        stale.unlink()
    yield configured


@friendly_errors
def score(
    file: Annotated[
        Path, typer.Argument(help="Applications with the model's features, .csv or .parquet.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output .parquet or .csv (default: FILE.scored.parquet)."),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain/--no-explain",
            help="Add the exact TreeSHAP lines (base, points, one column per feature) and "
            "the top reasons.",
        ),
    ] = True,
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="A bundle folder (default: the model the settings serve)."),
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1_000, help="Rows per chunk.")] = 50_000,
) -> None:
    """Score a file of applications offline with the served model, chunk by chunk."""
    import time

    from serving.core.config import load_settings
    from serving.core.file_scoring import count_rows, score_file
    from serving.core.model import ModelSlot, load_model

    configure_logging("WARNING")
    if not file.is_file():
        raise typer.BadParameter(f"{file} does not exist", param_hint="FILE")
    settings = load_settings()
    model = ModelSlot(None, 1, None).load_path(bundle) if bundle else load_model(settings).require()
    target = out or file.with_name(f"{file.stem}.scored.parquet")
    started = time.perf_counter()
    with make_progress() as progress:
        task = progress.add_task(f"scoring with {model.model_version}", total=count_rows(file))
        rows = score_file(
            model,
            file,
            target,
            explain=explain,
            chunk=chunk_size,
            on_rows=lambda n: progress.advance(task, n),
        )
    seconds = time.perf_counter() - started
    console.print(
        f"scored {rows:,} rows in {seconds:.2f} s ({rows / max(seconds, 1e-9):,.0f} rows/s, "
        f"explanations {'on' if explain else 'off'}) with {model.model_version} -> {target}"
    )


def register(app: typer.Typer) -> None:
    """Attach the serving-stage commands to the root ``jifen`` app."""
    app.command()(serve)
    app.command("score", no_args_is_help=True)(score)
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")
    from serving.monitoring.cli import monitor  # light: heavy imports are inside the command

    app.command("monitor", no_args_is_help=True)(monitor)
    from serving.reports.cli import report_app

    app.add_typer(report_app, name="report")
