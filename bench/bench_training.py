"""Benchmark of the training stage: Optuna study cost and LightGBM's share of it.

Generates N synthetic SME applications (training.synthetic), prepares and encodes them as
`jifen train` does, runs an Optuna study of T trials, refits, checks monotonicity and
exports with the ONNX parity check. Prints one table: wall time per stage, time per trial
and the share of the study spent inside ``lgb.train``.

    .venv/bin/python bench/bench_training.py --rows 100000 --trials 30
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from training.calibrate import Calibrator
from training.config import load_config
from training.data import prepare
from training.encode import FeatureEncoder
from training.export import export_checked
from training.grades import load_master_scale
from training.monotonicity import check_monotonicity
from training.scorer import Scorer, lightgbm_probability
from training.spec import DatasetSpec
from training.synthetic import demo_spec, make_loan_book
from training.tune import TrainValid, Tuner, fit_final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="applications generated")
    parser.add_argument("--trials", type=int, default=30, help="Optuna trials")
    parser.add_argument("--n-jobs", type=int, default=1, help="LightGBM threads per fit")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    timings: dict[str, float] = {}
    start = time.perf_counter()
    frame = make_loan_book(args.rows, seed=args.seed)
    spec = DatasetSpec.model_validate(demo_spec())
    splits = prepare(frame, spec)
    config = load_config().with_budget(args.trials, None)
    config = config.model_copy(update={"n_jobs": args.n_jobs})
    encoder = FeatureEncoder(list(spec.categorical), list(spec.numeric), seed=config.seed)
    x_train = encoder.fit_transform(splits.train.frame, splits.train.y)
    x_valid = encoder.transform(splits.valid.frame)
    monotone = [spec.monotone.get(f, 0) for f in encoder.feature_names]
    data = TrainValid(
        x_train, splits.train.y, x_valid, splits.valid.y, encoder.feature_names, monotone
    )
    timings["data + encode"] = time.perf_counter() - start

    tuner = Tuner(config)
    result = tuner.run(data)
    summary = result.summary
    timings["optuna study"] = summary["wall_seconds"]

    t = time.perf_counter()
    booster = fit_final(config, result, data)
    timings["final fit"] = time.perf_counter() - t

    t = time.perf_counter()
    report = check_monotonicity(
        lambda m: np.asarray(booster.predict(m, raw_score=True)),
        x_train, encoder.feature_names, monotone, seed=config.seed,
    )  # fmt: skip
    timings["monotonicity check"] = time.perf_counter() - t

    t = time.perf_counter()
    p_valid = lightgbm_probability(booster)(x_valid)
    calibrator = Calibrator().fit(p_valid, splits.valid.y)
    reference = Scorer(encoder, lightgbm_probability(booster), calibrator, load_master_scale())
    _, _, parity = export_checked(
        booster, reference, frame, min_rows=10_000, tolerance=1e-5, seed=config.seed
    )
    timings["calibrate + export + parity"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start

    n_trials = summary["n_trials"]
    rows = [
        ("rows (all / train / valid / test)",
         f"{len(frame)} / {splits.train.n} / {splits.valid.n} / {splits.test.n}"),
        ("trials (complete / pruned / monotone-rejected)",
         f"{n_trials} ({summary['n_complete']} / {summary['n_pruned']} / "
         f"{summary['n_rejected_monotone']})"),
        *[(f"{k} (s)", f"{v:.1f}") for k, v in timings.items()],
        ("time per trial (s)", f"{summary['wall_seconds'] / n_trials:.2f}"),
        ("inside lgb.train during study (s)", f"{summary['lightgbm_seconds']:.1f}"),
        ("LightGBM share of study", f"{100 * summary['lightgbm_share']:.0f} %"),
        ("best valid AUC / rounds", f"{result.best_valid_auc:.4f} / {result.best_iteration}"),
        ("monotonicity ok", str(report.ok)),
        ("parity max |ΔPD| (rows)", f"{parity.max_abs_pd:.2e} ({parity.rows})"),
        ("LightGBM threads per fit", str(args.n_jobs)),
    ]  # fmt: skip
    table = Table(title=f"bench_training: {args.rows} rows, {args.trials} trials")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"args": vars(args) | {"json": str(args.json)}, "timings": timings}
        payload |= {k: v for k, v in summary.items() if k != "trials"}
        args.json.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
