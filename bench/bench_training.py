"""Benchmark of the training stage: wall time per step of `jifen train` and LightGBM's share.

Generates N synthetic SME applications (training.synthetic) and runs the whole training
pipeline on them (no tracking): both candidates cross-validated (the WoE scorecard, the
LightGBM study of T trials), selection, refit, calibration, blend, evaluation, ONNX export
with the parity check, report and bundle. Prints one table: wall time per step, the
candidates' CV figures and, as peers measured in the same run on the same encoded rows,
one default LightGBM fit (300 trees, learning rate 0.05) and one logistic regression.

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
        peers = _peers(dataset, spec)
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
    for label, seconds in peers.items():
        table.add_row(f"peer: {label}", f"{seconds:.1f}")
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


def _peers(dataset: Path, spec_path: Path) -> dict[str, float]:
    """Time a default LightGBM and a logistic regression on the same encoded training rows."""
    import lightgbm as lgb
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from training.config import load_config
    from training.data import load_dataset, prepare
    from training.encode import FeatureEncoder
    from training.spec import load_spec

    spec = load_spec(spec_path)
    splits = prepare(load_dataset(dataset, spec), spec, load_config().minimums)
    encoder = FeatureEncoder(list(spec.categorical), list(spec.numeric))
    x = encoder.fit_transform(splits.train.frame, splits.train.y)
    out: dict[str, float] = {}
    with threadpool_limits(1):
        start = time.perf_counter()
        params = {"objective": "binary", "learning_rate": 0.05, "verbosity": -1, "num_threads": 1}
        lgb.train(params, lgb.Dataset(x, splits.train.y), num_boost_round=300)
        out["LightGBM default, 300 trees, one fit"] = time.perf_counter() - start
        start = time.perf_counter()
        filled = np.nan_to_num(x)
        LogisticRegression(max_iter=1000).fit(filled, splits.train.y)
        out["logistic regression, one fit"] = time.perf_counter() - start
    return out


if __name__ == "__main__":
    main()
