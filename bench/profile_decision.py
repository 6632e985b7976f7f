"""Where one decision's CPU goes: the app called in process, stage by stage, thread by thread.

    .venv/bin/python bench/profile_decision.py                  # build a bench world, profile
    .venv/bin/python bench/profile_decision.py --requests 4000

Not a benchmark (no peer): a profile to judge a change of the hot path by. It builds the
same world as ``bench/bench_serving.py`` (simulated firms in Feast's SQLite online store, a
model trained on the fixture loan book), opens the app's lifespan, and sends ``/v1/score``
requests through the ASGI interface one after another (no HTTP server, no sockets), after
a warm-up. It prints:

- the CPU time of every thread of the process per request (the request thread, the audit
  writer, the checkpointer), from ``/proc/self/task``;
- the request thread's CPU per request in each stage of a decision (online read, assembly,
  evaluation and its parts, the audit body, the key check, the result), measured with
  ``time.thread_time`` around the stage's function.

Run it on two checkouts one after the other (``PYTHONPATH=<other checkout>``) to compare
them on the same machine; the run-to-run spread on this machine was about 5 %.
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_serving import build_store, train_model
from tests.serving.conftest import application_body

console = Console(width=120)
SPENT: Counter[str] = Counter()
STAGES = (
    ("serving.core.scoring", "DecisionService", "prepare", "decision (all of the below)"),
    ("serving.core.feature_store", "FeastFeatureSource", "read", "online read"),
    ("serving.core.scoring", None, "assemble_inputs", "assembling the inputs"),
    ("serving.core.scoring", None, "evaluate", "evaluation (all of the next four)"),
    ("serving.core.bundle", "ServedModel", "encode_rows", "  encoding"),
    ("serving.core.bundle", "ServedModel", "predict", "  ONNX chain (PD, grade)"),
    ("serving.core.bundle", "ServedModel", "explain", "  TreeSHAP"),
    ("serving.core.evaluation", None, "_evaluate_row", "  policy, reasons, outputs"),
    ("serving.core.scoring", None, "prepare_draft", "audit body (canonical JSON)"),
    ("serving.core.security", "KeyRing", "authenticate", "API key check"),
    ("serving.core.scoring", None, "result_json", "result"),
)


def _timed(function: Callable[..., Any], label: str) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[label] += time.thread_time() - start

    return timed


def instrument() -> None:
    """Wrap every stage's function with a thread-CPU timer (where the caller looks it up)."""
    import importlib

    for module_name, owner, name, label in STAGES:
        module = importlib.import_module(module_name)
        target = getattr(module, owner) if owner else module
        setattr(target, name, _timed(getattr(target, name), label))


def thread_cpu() -> dict[str, tuple[int, int]]:
    """Per thread of this process, named as Python names it: (user, system) clock ticks."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = names.get(int(task.name)) or (task / "comm").read_text().strip()
        out[f"{name} ({task.name})"] = (int(fields[11]), int(fields[12]))
    return out


async def post(app: Any, body: bytes, key: str) -> int:
    """Send one POST /v1/score through the ASGI interface; return the status.

    Written out rather than through ``httpx.ASGITransport``: a client would run on the
    request thread too, and its CPU would be counted as the app's.
    """
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/score",
        "raw_path": b"/v1/score",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent, status = False, 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def profile(app: Any, bodies: list[bytes], key: str, n: int) -> None:
    """Warm up, then time ``n`` requests and print the tables."""
    async with app.router.lifespan_context(app):
        for i in range(300):
            if (status := await post(app, bodies[i % len(bodies)], key)) != 200:
                raise SystemExit(f"warm-up request answered {status}")
        SPENT.clear()
        before, wall = thread_cpu(), time.perf_counter()
        for i in range(n):
            await post(app, bodies[i % len(bodies)], key)
        wall, after = time.perf_counter() - wall, thread_cpu()
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    threads = Table(
        title=f"CPU per request by thread ({n:,} requests, {wall / n * 1e3:.2f} ms wall each)"
    )
    for column in ("thread", "user ms", "system ms"):
        threads.add_column(column, justify="left" if column == "thread" else "right")
    for name, (user, system) in after.items():
        u0, s0 = before.get(name, (0, 0))
        if user - u0 or system - s0:
            threads.add_row(
                name, f"{(user - u0) * tick_ms / n:.3f}", f"{(system - s0) * tick_ms / n:.3f}"
            )
    stages = Table(title="request thread's CPU per request, by stage")
    stages.add_column("stage")
    stages.add_column("ms", justify="right")
    for *_, label in STAGES:
        stages.add_row(label, f"{SPENT[label] / n * 1e3:.3f}")
    console.print(threads, stages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests timed")
    parser.add_argument("--firms", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--rounds", type=int, default=300, help="most boosting rounds")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jifen-profile-", dir=Path.cwd() / "bench"))
    try:
        from serving.core.config import SqliteTarget, load_settings
        from serving.core.db import open_store
        from serving.core.security import KeyRing
        from serving.main import create_app
        from serving.schemas import Role

        console.print(f"[bold]world[/] in {work}")
        repo, codes = build_store(work / "store", args.firms)
        bundle, _, _ = train_model(work / "train", args.rows, args.rounds)
        audit = work / "audit.sqlite3"
        store = open_store(SqliteTarget(audit))
        key, _ = KeyRing(store).create(Role.SCORER, "profile")
        store.close()
        settings = load_settings(
            data_dir=work,
            audit_dsn=f"sqlite:///{audit}",
            bundle_dir=bundle.parents[1],
            feature_repo_dir=repo,
            log_level="WARNING",
        )
        instrument()
        bodies = [json.dumps(application_body(c)).encode() for c in codes]
        asyncio.run(profile(create_app(settings), bodies, key, args.requests))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
