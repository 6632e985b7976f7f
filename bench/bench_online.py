"""Benchmark: one firm's full online feature vector from SQLite and Redis, beside DuckDB.

    .venv/bin/python bench/bench_online.py [--firms 5000] [--lookups 5000]

Builds the offline snapshot of synthetic firms, materializes it into SQLite and into
the real Redis on 127.0.0.1:6379 (a throw-away project, deleted at the end), then times
single-firm lookups of the whole credit_risk_v1 vector (107 features, 6 views):
``OnlineVectorReader`` (what serving uses), Feast's ``get_online_features`` (fewer calls:
it is slow), and a plain DuckDB point query on the same snapshot as the peer.
Target: p99 under 2 ms from SQLite and from Redis.
"""

import argparse
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))

import synthetic_features as synthetic

from features.layout import DataLayout
from features.pipelines.training import ENTITY_FEATURES_FILE, build_entity_snapshot
from features.store.config import load_store_settings, open_store
from features.store.materialize import materialize_snapshot
from features.store.online import OnlineVectorReader, get_online_vector

AS_OF = date(2025, 12, 31)


def timed(fn: Callable[[str], object], codes: list[str], warmup: int = 100) -> np.ndarray:
    for code in codes[:warmup]:
        fn(code)
    out = np.empty(len(codes))
    for i, code in enumerate(codes):
        start = time.perf_counter_ns()
        fn(code)
        out[i] = (time.perf_counter_ns() - start) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=5_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--sdk-lookups", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=Path("bench/results/online-data"))
    args = parser.parse_args()
    os.environ["FEAST_USAGE"] = "False"

    root = args.data_dir / f"f{args.firms}"
    layout = DataLayout(root)
    if not layout.clean("enterprises").exists():
        synthetic.generate(root, args.firms, applications=100)
    snapshot = build_entity_snapshot(layout, AS_OF)
    print(f"snapshot: {snapshot.rows:,} firms x {snapshot.features} features")

    rng = np.random.default_rng(3)
    all_codes = pq.read_table(snapshot.path, columns=["credit_code"]).column(0).to_pylist()
    codes = [all_codes[i] for i in rng.integers(0, len(all_codes), args.lookups)]
    project = f"bench_online_{uuid.uuid4().hex[:8]}"
    results: list[tuple[str, np.ndarray]] = []
    stores = []
    try:
        for online in ("sqlite", "redis"):
            repo = root / f"feast-{online}"
            shutil.rmtree(repo, ignore_errors=True)
            repo.mkdir(parents=True)
            shutil.copy(snapshot.path, repo / ENTITY_FEATURES_FILE)
            store = open_store(load_store_settings(project=project, online=online), repo)
            stores.append(store)
            started = time.perf_counter()
            materialize_snapshot(store, repo)
            print(f"materialized into {online} in {time.perf_counter() - started:.1f} s")
            reader = OnlineVectorReader(store)
            assert reader.get(codes[0]) is not None
            results.append((f"{online:<7} OnlineVectorReader", timed(reader.get, codes)))
            sdk_codes = codes[: args.sdk_lookups]
            results.append(
                (
                    f"{online:<7} Feast get_online_features",
                    timed(lambda c, s=store: get_online_vector(s, c), sdk_codes, warmup=5),
                )
            )

        con = duckdb.connect()
        con.execute(f"CREATE TABLE snap AS SELECT * FROM read_parquet('{snapshot.path}')")
        con.execute("CREATE UNIQUE INDEX snap_code ON snap (credit_code)")

        def duck(code: str) -> object:
            return con.execute("SELECT * FROM snap WHERE credit_code = ?", [code]).fetchone()

        results.append(("duckdb  point query (indexed table)", timed(duck, codes)))
    finally:
        for store in stores:
            store.teardown()

    print(f"\n{'backend / method':<38}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    for label, ms in results:
        p50, p99 = np.percentile(ms, [50, 99])
        print(f"{label:<38}{len(ms):>7}{p50:>9.3f}{p99:>9.3f}{ms.mean():>9.3f}")
    duck_p99 = np.percentile(results[-1][1], 99)
    for label, ms in results:
        if "Reader" in label:
            p99 = np.percentile(ms, 99)
            verdict = "PASS" if p99 < 2 else "FAIL"
            print(f"{label}: p99 {p99:.3f} ms < 2 ms {verdict}; {duck_p99 / p99:.1f}x DuckDB p99")


if __name__ == "__main__":
    main()
