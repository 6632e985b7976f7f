"""The training pipeline as labelled steps.

spec → data → encode → tune → fit → monotonicity → calibrate → blend → evaluate → export →
report → bundle → track.

Every dataset goes through the same steps; a bank's own extract ("bring your own data")
and the simulated portfolio's point-in-time training set differ only in their spec.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from rich.progress import Progress

from training import artifacts
from training.blend import PointsBlend
from training.bundle import new_version, to_json_bytes, write_bundle
from training.calibrate import Calibrator
from training.config import TrainingConfig, load_config
from training.data import Splits, load_dataset, prepare
from training.encode import FeatureEncoder
from training.errors import DatasetError, TrainingError
from training.evaluate import evaluate, headline
from training.export import ParityResult, export_checked
from training.grades import MasterScale, load_master_scale
from training.monotonicity import MonotonicityReport, check_monotonicity
from training.scorer import Scorer, lightgbm_probability
from training.spec import DatasetSpec, load_spec
from training.tracking import RegisteredVersion, TrackingTarget, check_reachable, log_run
from training.tune import TrainValid, Tuner, TuningResult, fit_final

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    """Inputs of one training run (the CLI's options)."""

    dataset: Path
    spec_path: Path
    out_dir: Path
    name: str | None = None
    config_path: Path | None = None
    master_scale_path: Path | None = None
    n_trials: int | None = None
    timeout_seconds: float | None = None
    dask: str | None = None
    tracking: TrackingTarget | None = None
    oracle_path: Path | None = None
    catalogue_version: str | None = None
    feature_service_version: str | None = None


@dataclass(frozen=True)
class TrainResult:
    """What a run produced."""

    bundle_path: Path
    metrics: dict[str, Any]
    report: dict[str, Any]
    parity: ParityResult
    monotonicity: MonotonicityReport
    blend: str | None
    registered: RegisteredVersion | None


@dataclass
class _Run:
    """State of one run, filled in step by step (each field is set by the step named)."""

    request: TrainRequest
    progress: Progress | None
    spec: DatasetSpec = field(init=False)  # spec
    config: TrainingConfig = field(init=False)  # spec
    scale: MasterScale = field(init=False)  # spec
    frame: pd.DataFrame = field(init=False)  # data
    splits: Splits = field(init=False)  # data
    encoder: FeatureEncoder = field(init=False)  # encode
    data: TrainValid = field(init=False)  # encode
    tuning: TuningResult = field(init=False)  # tune
    tuner: Tuner = field(init=False)  # tune
    booster: lgb.Booster = field(init=False)  # fit, then export (float32 thresholds)
    mono: MonotonicityReport = field(init=False)  # monotonicity
    p_valid: np.ndarray = field(init=False)  # calibrate
    calibrator: Calibrator = field(init=False)  # calibrate
    blend: PointsBlend | None = field(init=False)  # blend
    reference: Scorer = field(init=False)  # evaluate
    scored: dict[str, pd.DataFrame] = field(init=False)  # evaluate
    report: dict[str, Any] = field(init=False)  # evaluate
    onnx_bytes: bytes = field(init=False)  # export
    parity: ParityResult = field(init=False)  # export
    report_files: dict[str, bytes] = field(init=False)  # report
    metrics: dict[str, Any] = field(init=False)  # bundle
    training: dict[str, Any] = field(init=False)  # bundle
    bundle_path: Path = field(init=False)  # bundle
    registered: RegisteredVersion | None = None  # track

    @property
    def name(self) -> str:
        """Registered model name: ``--name``, else the spec's name, else the spec file stem."""
        return self.request.name or self.spec.name or self.request.spec_path.stem


ORACLE_PD_COLUMN = "true_pd_12m"
"""PD column of the simulator's ``applications_truth`` file."""


def _oracle(request: TrainRequest, spec: DatasetSpec, splits: Splits) -> np.ndarray | None:
    test = splits.test.frame
    if spec.oracle_column is not None:
        return pd.to_numeric(test[spec.oracle_column], errors="coerce").to_numpy(dtype=float)
    if request.oracle_path is None:
        return None
    if spec.id_column is None:
        raise DatasetError("--oracle needs id_column in the spec to join the oracle PD")
    oracle = load_dataset(request.oracle_path, spec.model_copy(update={"categorical": ()}))
    value = [c for c in oracle.columns if c != spec.id_column]
    if ORACLE_PD_COLUMN in value:  # the simulator's truth file carries latent states too
        value = [ORACLE_PD_COLUMN]
    if spec.id_column not in oracle.columns or len(value) != 1:
        raise DatasetError(
            f"oracle file {request.oracle_path} must hold {spec.id_column!r} and one PD column "
            f"(or {ORACLE_PD_COLUMN!r}); got {list(oracle.columns)}"
        )
    pds = oracle.set_index(oracle[spec.id_column].astype(str))[value[0]]
    return test[spec.id_column].astype(str).map(pds).to_numpy(dtype=float)


def _step_spec(run: _Run) -> None:
    request = run.request
    run.spec = load_spec(request.spec_path)
    config = load_config(request.config_path)
    run.config = config.with_budget(request.n_trials, request.timeout_seconds)
    run.scale = load_master_scale(request.master_scale_path)
    if request.tracking is not None:
        check_reachable(request.tracking)  # before hours of tuning, not after


def _step_data(run: _Run) -> None:
    run.frame = load_dataset(run.request.dataset, run.spec)
    run.splits = prepare(run.frame, run.spec)
    logger.info("split: %s", run.splits.summary())


def _step_encode(run: _Run) -> None:
    spec, splits, enc = run.spec, run.splits, run.config.encoding
    encoder = FeatureEncoder(
        list(spec.categorical), list(spec.numeric), enc.smoothing, enc.folds, run.config.seed
    )
    x_train = encoder.fit_transform(splits.train.frame, splits.train.y)
    x_valid = encoder.transform(splits.valid.frame)
    monotone = [spec.monotone.get(f, 0) for f in encoder.feature_names]
    run.encoder = encoder
    run.data = TrainValid(
        x_train, splits.train.y, x_valid, splits.valid.y, encoder.feature_names, monotone
    )


def _step_tune(run: _Run) -> None:
    progress = run.progress
    task = (
        progress.add_task("optuna trials", total=run.config.tuning.n_trials) if progress else None
    )

    def advance(_: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task)

    run.tuner = Tuner(run.config, on_trial=advance)
    run.tuning = run.tuner.run(run.data)


def _step_fit(run: _Run) -> None:
    if run.request.dask is None:
        run.booster = fit_final(run.config, run.tuning, run.data, run.tuner)
        return
    from training.distributed import dask_client, fit_dask  # deferred: only with --dask

    with dask_client(run.request.dask, run.config.dask.local_workers) as client:
        tuning, data = run.tuning, run.data
        run.booster = fit_dask(
            client, tuning.params, tuning.best_iteration, data.X_train, data.y_train
        )


def _step_monotonicity(run: _Run) -> None:
    config, data, booster = run.config, run.data, run.booster
    report = check_monotonicity(
        lambda m: np.asarray(booster.predict(m, raw_score=True)),
        data.X_train,
        data.feature_names,
        data.monotone,
        n_rows=config.monotonicity.rows,
        grid_size=config.monotonicity.grid_size,
        seed=config.seed,
    )
    run.mono = report
    if report.violations:
        worst = max(report.violations, key=lambda v: v.max_violation)
        message = (
            f"monotone constraint violated on {len(report.violations)} feature(s); worst "
            f"{worst.feature} (direction {worst.direction:+d}) on {worst.rows_violating} of "
            f"{worst.rows_checked} rows, step {worst.max_violation:.3g}"
        )
        if config.monotonicity.on_violation == "fail":
            raise TrainingError(message)
        logger.warning(message)


def _step_calibrate(run: _Run) -> None:
    cal = run.config.calibration
    run.p_valid = lightgbm_probability(run.booster)(run.data.X_valid)
    calibrator = Calibrator(cal.method, cal.pd_floor, cal.pd_cap)
    run.calibrator = calibrator.fit(run.p_valid, run.splits.valid.y)


def _step_blend(run: _Run) -> None:
    spec, valid, cal = run.spec, run.splits.valid, run.config.calibration
    run.blend = None
    if spec.points_column is None:
        return
    points = pd.to_numeric(valid.frame[spec.points_column], errors="coerce").to_numpy()
    blend = PointsBlend(spec.points_column, cal.pd_floor, cal.pd_cap)
    run.blend = blend.fit(run.p_valid, points, valid.y)
    logger.info("blend: %s", run.blend.describe())


def _step_evaluate(run: _Run) -> None:
    model = lightgbm_probability(run.booster)
    run.reference = Scorer(run.encoder, model, run.calibrator, run.scale, run.blend)
    run.scored = {part.name: run.reference.score(part.frame) for part in run.splits.parts()}
    oracle = _oracle(run.request, run.spec, run.splits)
    run.report = evaluate(
        run.spec, run.splits, run.scored, run.scale, run.config.evaluation, oracle
    )


def _step_export(run: _Run) -> None:
    parity = run.config.parity
    metadata = {"model_name": run.name, "feature_order": json.dumps(run.encoder.feature_names)}
    run.onnx_bytes, run.booster, run.parity = export_checked(
        run.booster,
        run.reference,
        run.frame,
        min_rows=parity.min_rows,
        tolerance=parity.tolerance,
        seed=run.config.seed,
        metadata=metadata,
    )
    logger.info("parity: %s", run.parity.to_dict())


def _step_report(run: _Run) -> None:
    from training.report.assemble import ReportInputs  # deferred: matplotlib, jinja2
    from training.report.build import report_files

    inputs = ReportInputs(
        name=run.name,
        spec=run.spec,
        splits=run.splits,
        scored=run.scored,
        evaluation=run.report,
        scale=run.scale,
        booster=run.booster,
        encoder=run.encoder,
        calibrator=run.calibrator,
        blend=run.blend,
        monotonicity=run.mono,
        onnx_bytes=run.onnx_bytes,
        tracking=run.request.tracking,
        seed=run.config.seed,
        extra={"model_selection": run.tuning.summary["selection"]["reason"]},
    )
    run.report_files = report_files(inputs)


def _step_bundle(run: _Run) -> None:
    request = run.request
    run.metrics = headline(run.report, run.splits) | {
        "parity_max_abs_pd": run.parity.max_abs_pd,
        "parity_rows": run.parity.rows,
        "monotonicity_ok": run.mono.ok,
        "best_iteration": run.tuning.best_iteration,
        "tuning_seconds": run.tuning.summary["wall_seconds"],
        # What was served over the study's best, and why (the model card shows metrics.json).
        "model_selection": run.tuning.summary["selection"],
    }
    fp = artifacts.fingerprint(
        request.dataset,
        request.spec_path,
        request.catalogue_version,
        request.feature_service_version,
    )
    run.training = artifacts.training_json(
        run.config, run.tuning, run.parity, run.mono, run.splits.summary(), fp, request.dask
    )
    fitted = artifacts.Fitted(run.booster, run.encoder, run.calibrator, run.blend, run.scale)
    files = artifacts.bundle_files(
        fitted, run.onnx_bytes, run.spec, run.data.monotone, run.metrics, run.report, run.training
    )
    files |= run.report_files  # validation report and monitoring reference, in the manifest
    version = new_version(run.onnx_bytes)
    run.bundle_path = write_bundle(request.out_dir, run.name, version, files, {"fingerprint": fp})
    run.metrics |= {"model_name": run.name, "bundle_version": version}
    run.metrics["bundle_path"] = str(run.bundle_path)
    (request.out_dir / "metrics.json").write_bytes(to_json_bytes(run.metrics))


def _step_track(run: _Run) -> None:
    if run.request.tracking is None:
        return
    plots = artifacts.plots(run.splits.test.y, run.scored["test"], run.scale)
    example = artifacts.input_example(run.splits.test.frame, run.spec)
    record = artifacts.run_record(
        run.name, run.bundle_path, run.metrics, run.training, run.tuning, run.report, plots, example
    )
    run.registered = log_run(record, run.request.tracking)


STEPS: tuple[tuple[str, Callable[[_Run], None]], ...] = (
    ("spec", _step_spec),
    ("data", _step_data),
    ("encode", _step_encode),
    ("tune", _step_tune),
    ("fit", _step_fit),
    ("monotonicity", _step_monotonicity),
    ("calibrate", _step_calibrate),
    ("blend", _step_blend),
    ("evaluate", _step_evaluate),
    ("export", _step_export),
    ("report", _step_report),
    ("bundle", _step_bundle),
    ("track", _step_track),
)


def train(request: TrainRequest, progress: Progress | None = None) -> TrainResult:
    """Run every step in order and return the bundle, metrics and checks.

    Args:
        request: dataset, spec, output folder and options.
        progress: a rich progress display to show steps and trials on, if any.

    Raises:
        JifenError: a subclass naming the step's problem (spec, data, parity, ...).

    """
    run = _Run(request, progress)
    task = progress.add_task("train", total=len(STEPS)) if progress else None
    for number, (label, step) in enumerate(STEPS, start=1):
        logger.info("[%d/%d] %s", number, len(STEPS), label)
        if progress is not None and task is not None:
            progress.update(task, description=f"train: {label}")
        step(run)
        if progress is not None and task is not None:
            progress.advance(task)
    return TrainResult(
        run.bundle_path,
        run.metrics,
        run.report,
        run.parity,
        run.mono,
        run.blend.describe() if run.blend is not None else None,
        run.registered,
    )
