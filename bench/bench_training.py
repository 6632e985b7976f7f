"""Benchmark of the training stage: wall time per step of `jifen train` and LightGBM's share.

Generates N synthetic SME applications (training.synthetic) and runs the whole training
pipeline on them (no tracking): both candidates cross-validated (the WoE scorecard, the
LightGBM study of T trials), selection, refit, calibration, blend, evaluation, ONNX export
with the parity check, report and bundle. Prints one table: wall time per step, the
candidates' CV figures, the study's time per trial and the share spent inside LightGBM.

    .venv/bin/python bench/bench_training.py --rows 100000 --trials 30
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from training.pipeline import TrainRequest, train
from training.synthetic import demo_spec, make_loan_book


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="applications generated")
    parser.add_argument("--trials", type=int, default=30, help="Optuna trials")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    timings: dict[str, float] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jifen-bench-training-") as tmp:
        folder = Path(tmp)
        dataset, spec = folder / "loans.parquet", folder / "spec.yaml"
        make_loan_book(args.rows, seed=args.seed).to_parquet(dataset)
        spec.write_text(yaml.safe_dump(demo_spec()), encoding="utf-8")
        timings["generate data"] = time.perf_counter() - start
        request = TrainRequest(dataset, spec, folder / "models", n_trials=args.trials)
        result = train(request, on_step=lambda label, s: timings.__setitem__(label, s))
    total = time.perf_counter() - start
    metrics = result.metrics
    lightgbm = next(c for c in metrics["candidates"] if c["name"] == "lightgbm")

    table = Table(
        title=f"jifen train on {args.rows:,} synthetic applications, {args.trials} trials"
    )
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for label, seconds in timings.items():
        table.add_row(label, f"{seconds:.1f}")
    table.add_row("[bold]total[/]", f"[bold]{total:.1f}[/]")
    table.caption = (
        f"served {metrics['candidate']}; "
        + "; ".join(
            f"{c['name']} CV log loss {c['cv_log_loss_mean']:.4f}, test AUC {c['test']['auc']:.4f}"
            for c in metrics["candidates"]
        )
        + f"; LightGBM study {lightgbm['seconds']:.1f} s"
    )
    Console().print(table)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"rows": args.rows, "trials": args.trials, "seconds": timings, "total": total}
            ),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
