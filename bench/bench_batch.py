"""Batch scoring benchmark: `jifen score FILE` against MLflow's pyfunc predict on the same rows.

Trains the bench model (as `bench_serving.py` does, tracked in MLflow), writes one file of
applications as Parquet and as CSV, and scores each with the real command, without
explanations (the issue's target: at least 50k rows/s) and, on a smaller file, with them.
The command prints its own rows/s (from the first chunk read to the last written, without
process start-up); the peer is the same registered model loaded with
`mlflow.pyfunc.load_model`, timed doing the same job (read the Parquet, predict, write ids
and PD to Parquet) and predicting alone from a DataFrame already in memory.
Run: `python bench/bench_batch.py` (a step of `make bench`).
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serving import bench_folder, train_model

from tests.serving.conftest import FIXTURE_COLUMNS, MODEL_NAME

VENV_BIN = Path(sys.executable).parent
TARGET_ROWS_PER_S = 50_000
console = Console()


def applications(n: int, columns: list[str]) -> pd.DataFrame:
    """``n`` applications with the model's raw inputs and an id to join back on."""
    from training.synthetic import make_loan_book

    frame = make_loan_book(n, seed=11).rename(columns=FIXTURE_COLUMNS)
    out = frame[columns].copy()
    out.insert(0, "application_id", [f"app-{i:07d}" for i in range(n)])
    return out


def jifen_score(path: Path, bundle: Path, explain: bool, work: Path) -> tuple[int, float]:
    """Run `jifen score`; return (rows, rows/s) as the command reports them."""
    out = work / f"{path.stem}.{'explained' if explain else 'plain'}.scored.parquet"
    command = [
        str(VENV_BIN / "jifen"),
        "score",
        str(path),
        "--out",
        str(out),
        "--bundle",
        str(bundle),
        "--explain" if explain else "--no-explain",
    ]
    env = {**os.environ, "JIFEN_DATA_DIR": str(work), "FEAST_USAGE": "False", "COLUMNS": "200"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # rich: stderr, colours
    found = re.search(r"scored ([\d,]+) rows in [\d.]+ s \(([\d,]+) rows/s", text)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"jifen score failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    if not out.is_file():
        raise SystemExit(f"jifen score wrote no {out}")
    return int(found.group(1).replace(",", "")), float(found.group(2).replace(",", ""))


def mlflow_predict(frame: pd.DataFrame, parquet: Path, tracking_uri: str) -> tuple[float, float]:
    """Rows/s of the registered model's pyfunc predict (best of two): file to file (read the
    Parquet, predict, write ids and predictions to Parquet, as `jifen score` does) and in
    memory."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/1")

    def predict(rows: pd.DataFrame) -> object:
        inputs = rows.drop(columns=["application_id"])
        numeric = inputs.select_dtypes("number").columns  # its signature takes doubles
        inputs[numeric] = inputs[numeric].astype(float)
        return model.predict(inputs)

    def file_to_file() -> None:
        rows = pd.read_parquet(parquet)
        out = pd.DataFrame(predict(rows))  # the wrapper's columns (PD and its parts)
        out.insert(0, "application_id", rows["application_id"].to_numpy())
        out.to_parquet(parquet.with_name("peer.scored.parquet"), index=False)

    timings = []
    for task in (file_to_file, lambda: predict(frame)):
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            task()
            best = min(best, time.perf_counter() - start)
        timings.append(len(frame) / best)
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="applications to score")
    parser.add_argument(
        "--explained-rows", type=int, default=20_000, help="applications scored with SHAP"
    )
    parser.add_argument("--train-rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--rounds", type=int, default=300, help="most boosting rounds")
    parser.add_argument("--keep", action="store_true", help="keep the bench folder")
    args = parser.parse_args()
    with bench_folder("batch", keep=args.keep) as work:
        run(args, work)


def run(args: argparse.Namespace, work: Path) -> None:
    console.print(f"[bold]1. model[/] ({args.train_rows:,} training rows) in {work}")
    bundle, tracking_uri, columns = train_model(work / "train", args.train_rows, args.rounds)
    console.print(f"[bold]2. files[/]: {args.rows:,} applications")
    frame = applications(args.rows, columns)
    parquet, csv = work / "applications.parquet", work / "applications.csv"
    frame.to_parquet(parquet, index=False)
    frame.to_csv(csv, index=False)
    small = work / "applications-small.parquet"
    frame.head(args.explained_rows).to_parquet(small, index=False)
    console.print("[bold]3. jifen score[/] (the command, in its own process)")
    runs = [
        ("jifen score, Parquet, no explanations", parquet, False),
        ("jifen score, CSV, no explanations", csv, False),
        ("jifen score, Parquet, with explanations", small, True),
    ]
    table = Table("target", "rows", "rows/s", title="Batch scoring (2 cores shared)")
    plain: list[float] = []
    for name, path, explain in runs:
        rows, speed = jifen_score(path, bundle, explain, work)
        if not explain:
            plain.append(speed)
        table.add_row(name, f"{rows:,}", f"{speed:,.0f}")
    console.print("[bold]4. peer[/]: mlflow.pyfunc predict, file to file and in memory")
    peer, in_memory = mlflow_predict(frame, parquet, tracking_uri)
    n = f"{len(frame):,}"
    table.add_row("mlflow pyfunc: read Parquet, predict, write Parquet", n, f"{peer:,.0f}")
    table.add_row("mlflow pyfunc predict alone (rows in memory)", n, f"{in_memory:,.0f}")
    console.print(table)
    slowest = min(plain)
    verdict = "met" if slowest >= TARGET_ROWS_PER_S else "NOT met"
    console.print(
        f"target >= {TARGET_ROWS_PER_S:,} rows/s without explanations: {verdict} "
        f"(slowest {slowest:,.0f} rows/s); "
        f"jifen Parquet / peer file to file: {plain[0] / peer:.1f}x"
    )


if __name__ == "__main__":
    main()
