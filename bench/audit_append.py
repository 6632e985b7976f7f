"""Latency of audit appends: SQLite (WAL, synchronous=FULL) against PostgreSQL.

    .venv/bin/python bench/audit_append.py --n 2000
    .venv/bin/python bench/audit_append.py --n 2000 --threads 4

SQLite writes into a temporary directory (same disk as the repo unless TMPDIR says
otherwise); PostgreSQL gets a throw-away database on 127.0.0.1, dropped afterwards.
Each append is timed from the call to the return of ``Store.append`` (commit included),
then the chain is verified.
"""

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from serving.core.audit import verify_rows
from serving.core.config import PostgresTarget, SqliteTarget
from serving.core.db import Store, open_store
from tests.serving.conftest import make_draft

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def time_appends(store: Store, n: int, threads: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        local = []
        for i in range(offset, n, threads):
            draft = make_draft(i)
            start = time.perf_counter()
            store.append(draft)
            local.append(time.perf_counter() - start)
        with lock:
            latencies.extend(local)

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies


def report(name: str, latencies: list[float], wall: float, store: Store) -> None:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    problems = verify_rows(store.iter_rows())
    print(
        f"{name:<28} n={len(ms)} p50={q[49]:.2f}ms p90={q[89]:.2f}ms p99={q[98]:.2f}ms "
        f"max={ms[-1]:.2f}ms throughput={len(ms) / wall:.0f}/s chain_ok={not problems}"
    )


def run(name: str, opener: Callable[[], Store], n: int, threads: int) -> None:
    store = opener()
    try:
        start = time.perf_counter()
        latencies = time_appends(store, n, threads)
        report(name, latencies, time.perf_counter() - start, store)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=Path.cwd() / "bench") as tmp:
        target = SqliteTarget(Path(tmp) / "audit.sqlite3")
        run(f"sqlite-wal-full t={args.threads}", lambda: open_store(target), args.n, args.threads)

    db = f"jifen_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    try:
        pg = PostgresTarget(f"postgresql://postgres@127.0.0.1:5432/{db}")
        run(
            f"postgresql t={args.threads}",
            lambda: open_store(pg, pool_size=max(1, args.threads)),
            args.n,
            args.threads,
        )
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
            )


if __name__ == "__main__":
    main()
