"""Benchmark: point-in-time training set for N applications, beside a naive pandas peer.

    .venv/bin/python bench/bench_features.py [--applications 100000] [--firms 20000]

1. writes synthetic clean tables (bench/synthetic_features.py; cached under bench/results/),
2. times ``build_training_set`` end to end (every feature of the feature set),
3. times the electricity group alone in DuckDB and the same features computed the
   naive pandas way (merge every application with every reading, filter, group),
   checks both give the same numbers, and prints the ratio.
Target: the full build under 60 s for 100k applications on 2 cores.
"""

import argparse
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))

import synthetic_features as synthetic

from features.definitions.model import load_feature_set
from features.layout import DataLayout
from features.pipelines.compute import load_spine, read_sql, run_sql, sql_params
from features.pipelines.sources import load_sources
from features.pipelines.training import build_training_set, connect

AS_OF = date(2025, 12, 31)
PEER_COLUMNS = ("elec_kwh_mean_3m", "elec_kwh_mean_12m", "elec_trend_3m_vs_12m", "elec_cv_12m")


def duckdb_electricity(layout: DataLayout, spine: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    con = connect()
    load_sources(con, layout, tables=["electricity_monthly"])
    load_spine(con, pa.Table.from_pandas(spine, preserve_index=False))
    fs = load_feature_set()
    run_sql(con, read_sql("electricity"), sql_params(fs), "feat_electricity")
    out = con.sql("SELECT * FROM feat_electricity").df()
    con.close()
    return out, time.perf_counter() - started


def pandas_electricity(layout: DataLayout, spine: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The same features the obvious pandas way: merge, filter, dedupe, group."""
    started = time.perf_counter()
    rules = load_feature_set().rules.unit_error
    elec = pq.read_table(layout.clean("electricity_monthly")).to_pandas()
    elec = elec.drop_duplicates()
    for col in ("month", "published_date"):
        elec[col] = pd.to_datetime(elec[col])
    s = spine.copy()
    s["as_of"] = pd.to_datetime(s["as_of"])
    s["as_of_month"] = s["as_of"].dt.to_period("M").dt.to_timestamp()
    m = s.merge(elec, on="credit_code")
    m["idx"] = (
        (m["as_of_month"].dt.year - m["month"].dt.year) * 12
        + (m["as_of_month"].dt.month - m["month"].dt.month)
        - 1
    )
    m = m[(m["published_date"] <= m["as_of"]) & (m["idx"] >= 0) & (m["idx"] < 24)]
    m = m.sort_values("published_date").drop_duplicates(
        ["credit_code", "as_of", "meter_id", "month"], keep="last"
    )
    m = m.sort_values(["credit_code", "as_of", "meter_id", "month"])
    by_meter = m.groupby(["credit_code", "as_of", "meter_id"])["kwh"]
    med = by_meter.transform("median")
    low = m["kwh"] * rules.min_ratio
    prev_ok = by_meter.shift(1).isna() | (by_meter.shift(1) >= low)
    next_ok = by_meter.shift(-1).isna() | (by_meter.shift(-1) >= low)
    err = (m["kwh"] > 0) & (low <= med) & (m["kwh"] * rules.max_ratio >= med) & prev_ok & next_ok
    m["kwh"] = np.where(err, m["kwh"] * rules.factor, m["kwh"])
    monthly = m.groupby(["credit_code", "as_of", "idx"], as_index=False)["kwh"].sum()
    keys = ["credit_code", "as_of"]
    last3 = monthly[monthly["idx"] < 3].groupby(keys)["kwh"].mean().rename("elec_kwh_mean_3m")
    last12 = monthly[monthly["idx"] < 12].groupby(keys)["kwh"].agg(["mean", "std"])
    out = pd.concat([last3, last12], axis=1).reset_index()
    out = out.rename(columns={"mean": "elec_kwh_mean_12m"})
    out["elec_trend_3m_vs_12m"] = out["elec_kwh_mean_3m"] / out["elec_kwh_mean_12m"].replace(
        0, np.nan
    )
    out["elec_cv_12m"] = out["std"] / out["elec_kwh_mean_12m"].replace(0, np.nan)
    return out.drop(columns="std"), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--firms", type=int, default=20_000)
    parser.add_argument("--data-dir", type=Path, default=Path("bench/results/features-data"))
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()

    root = args.data_dir / f"f{args.firms}-a{args.applications}"
    if args.regenerate and root.exists():
        shutil.rmtree(root)
    layout = DataLayout(root)
    if not layout.clean("applications").exists():
        started = time.perf_counter()
        rows = synthetic.generate(root, args.firms, args.applications)
        print(f"generated {sum(rows.values()):,} rows in {time.perf_counter() - started:.1f} s")
        for table, n in rows.items():
            print(f"  {table:<22} {n:>12,}")

    result = build_training_set(layout, AS_OF)
    print(
        f"\ntraining set: {result.rows:,} applications x {result.features} features "
        f"in {result.seconds:.1f} s ({result.rows / result.seconds:,.0f} rows/s)"
    )

    apps = pq.read_table(layout.clean("applications")).to_pandas()
    spine = apps.rename(columns={"application_date": "as_of"})[["credit_code", "as_of"]]
    ours, t_duck = duckdb_electricity(layout, spine)
    peer, t_pandas = pandas_electricity(layout, spine.drop_duplicates())
    ours["as_of"] = pd.to_datetime(ours["as_of"])
    both = ours.merge(peer, on=["credit_code", "as_of"], suffixes=("", "_peer"))
    worst = max(
        float(np.nanmax(np.abs(both[c] - both[f"{c}_peer"]) / np.maximum(1.0, np.abs(both[c]))))
        for c in PEER_COLUMNS
    )
    print("\nelectricity group, same spine        seconds")
    print(f"  DuckDB SQL (17 features)        {t_duck:9.2f}")
    print(f"  pandas merge/groupby (4 feats)  {t_pandas:9.2f}")
    print(f"  ratio pandas / DuckDB           {t_pandas / t_duck:9.1f}x")
    print(f"  rows compared {len(both):,}; max relative difference {worst:.2e}")
    target = "PASS" if result.seconds < 60 else "FAIL"
    print(f"\ntarget < 60 s for the full build: {target} ({result.seconds:.1f} s)")


if __name__ == "__main__":
    main()
