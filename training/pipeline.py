"""The training pipeline as labelled steps.

spec → data → encode → folds → candidates → select → fit → monotonicity → calibrate →
blend → evaluate → export → report → bundle → track.

Every dataset goes through the same steps; a bank's own extract ("bring your own data")
and the simulated portfolio's point-in-time training set differ only in their spec. The
test part (the latest vintage, or a hold-out) is cut off first and chooses nothing:
cross-validation on the training window tunes each candidate (a WoE scorecard, the
monotone LightGBM), compares them on the same folds, picks the served one by the
configured rule, and gives the out-of-fold predictions the calibrator and the points blend
are fitted on. The served model is refitted on the whole training window, and the test part
judges exactly that model (every candidate is refitted and scored there too, for the
report, never to choose).
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from rich.progress import Progress, TaskID
from threadpoolctl import threadpool_limits

from training import artifacts
from training.blend import PointsBlend
from training.bundle import new_version, to_json_bytes, write_bundle
from training.calibrate import Calibrator, choose_calibrator, sigmoid
from training.candidates.base import Candidate, CandidateResult, CvData, FinalModel
from training.candidates.gbm import LightGbmCandidate, fit_params
from training.candidates.scorecard import ScorecardCandidate
from training.candidates.stack import StackCandidate
from training.choose import Choice, choose
from training.config import TrainingConfig, load_config
from training.data import Splits, load_dataset, prepare
from training.encode import FeatureEncoder
from training.errors import DatasetError, TrainingError
from training.evaluate import evaluate, headline
from training.export import ParityResult, export_checked
from training.folds import CvPlan, plan_folds
from training.grades import MasterScale, load_master_scale
from training.metrics import with_interval
from training.monotonicity import MonotonicityReport, check_monotonicity
from training.scorer import Scorer, lightgbm_probability
from training.spec import DatasetSpec, load_spec
from training.tracking import RegisteredVersion, TrackingTarget, check_reachable, log_run

logger = logging.getLogger(__name__)
JUDGE_SEED_OFFSET = 7919
"""The judging folds are another shuffle than the tuning folds (seed + this)."""


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
    x_train: np.ndarray = field(init=False)  # encode
    x_test: np.ndarray = field(init=False)  # encode
    monotone: list[int] = field(init=False)  # encode
    tune_plan: CvPlan = field(init=False)  # folds
    judge_plan: CvPlan = field(init=False)  # folds
    candidates: dict[str, Candidate] = field(init=False)  # candidates
    results: dict[str, CandidateResult] = field(init=False)  # candidates
    choice: Choice = field(init=False)  # select
    finals: dict[str, FinalModel] = field(init=False)  # fit
    booster: lgb.Booster = field(init=False)  # fit, then export (float32 thresholds)
    mono: MonotonicityReport = field(init=False)  # monotonicity
    p_oof: np.ndarray = field(init=False)  # calibrate
    calibrator: Calibrator = field(init=False)  # calibrate
    calibration_cv: dict[str, float] = field(init=False)  # calibrate
    blend: PointsBlend | None = field(init=False)  # blend
    reference: Scorer = field(init=False)  # evaluate
    scored: dict[str, pd.DataFrame] = field(init=False)  # evaluate
    report: dict[str, Any] = field(init=False)  # evaluate
    candidate_rows: list[dict[str, Any]] = field(init=False)  # evaluate
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

    @property
    def selected(self) -> CandidateResult:
        """The cross-validation result of the served candidate."""
        return self.results[self.choice.selected]

    def cv_data(self, plan: CvPlan) -> CvData:
        """Return the training window as candidates see it, on ``plan``'s folds."""
        points = None
        if self.spec.points_column is not None:
            column = self.splits.train.frame[self.spec.points_column]
            points = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        return CvData(
            self.x_train,
            self.splits.train.y.astype(np.int64),
            self.encoder.feature_names,
            self.monotone,
            plan,
            points,
            self.config.seed,
            self.config.n_jobs,
            self.encoder.categories(self.splits.train.frame),
            self.config.encoding.smoothing,
        )


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
    run.splits = prepare(run.frame, run.spec, run.config.minimums)
    logger.info("split: %s", _readable(run.splits.summary()))


def _readable(values: dict[str, object]) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in values.items())


def _step_encode(run: _Run) -> None:
    spec, splits, enc = run.spec, run.splits, run.config.encoding
    encoder = FeatureEncoder(
        list(spec.categorical), list(spec.numeric), enc.smoothing, enc.folds, run.config.seed
    )
    run.x_train = encoder.fit_transform(splits.train.frame, splits.train.y)
    run.x_test = encoder.transform(splits.test.frame)
    run.monotone = [spec.monotone.get(f, 0) for f in encoder.feature_names]
    run.encoder = encoder


def _step_folds(run: _Run) -> None:
    spec, train, config = run.spec, run.splits.train, run.config
    groups = None
    if spec.group_column is not None:
        groups = train.frame[spec.group_column].astype("string").fillna("__missing__").to_numpy()
    # The study explores on one cut; the judging folds, which every candidate's comparison
    # and the calibration rest on, are repeated on small data.
    run.tune_plan = plan_folds(
        train.y, groups, config.cv, config.minimums, config.seed, False, config.cv.tuning_folds
    )
    judge_seed = config.seed + JUDGE_SEED_OFFSET
    run.judge_plan = plan_folds(train.y, groups, config.cv, config.minimums, judge_seed)
    logger.info("cross-validation: %s", run.judge_plan.describe())


def _step_candidates(run: _Run) -> None:
    progress, config = run.progress, run.config
    task = progress.add_task("optuna trials", total=config.tuning.n_trials) if progress else None

    def advance(_: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task)

    candidates: dict[str, Candidate] = {}
    if config.scorecard.enabled:
        candidates["scorecard"] = ScorecardCandidate(config.scorecard)
    candidates["lightgbm"] = LightGbmCandidate(config, run.judge_plan, on_trial=advance)
    run.candidates, run.results = candidates, {}
    for name, candidate in candidates.items():
        # The scorecard's only search is a short grid of L2 strengths: it is tuned on the
        # judging folds directly. LightGBM's study tunes on its own folds.
        plan = run.tune_plan if name == "lightgbm" else run.judge_plan
        result = candidate.cross_validate(run.cv_data(plan))
        run.results[name] = result
        _log_candidate(name, result)
    if config.selection.stack and {"scorecard", "lightgbm"} <= set(run.results):
        stack = StackCandidate().use([run.results["scorecard"], run.results["lightgbm"]])
        run.candidates["stack"] = stack
        run.results["stack"] = stack.cross_validate(run.cv_data(run.judge_plan))
        _log_candidate("stack", run.results["stack"])


def _log_candidate(name: str, result: CandidateResult) -> None:
    logger.info(
        "candidate %s: CV log loss %.5f ± %.5f (SE), CV AUC %.4f, %.1f s",
        name,
        result.cv_log_loss,
        result.cv_log_loss_se,
        result.cv_auc,
        result.seconds,
    )


def _step_select(run: _Run) -> None:
    run.choice = choose(list(run.results.values()), run.config.selection)
    logger.info("selected: %s", run.choice.reason)


def _step_fit(run: _Run) -> None:
    data = run.cv_data(run.judge_plan)
    if _refits_on_test(run):
        data = CvData(
            np.vstack([run.x_train, run.x_test]),
            np.concatenate([run.splits.train.y, run.splits.test.y]).astype(np.int64),
            data.feature_names,
            data.monotone,
            data.plan,
            None,
            data.seed,
            data.n_jobs,
            [
                np.concatenate([a, b])
                for a, b in zip(
                    data.categories, run.encoder.categories(run.splits.test.frame), strict=True
                )
            ],
            data.smoothing,
        )
    run.finals = {}
    for name, candidate in run.candidates.items():
        if name == run.choice.selected and run.request.dask is not None and name == "lightgbm":
            run.finals[name] = _fit_dask(run, data)
        else:
            if isinstance(candidate, StackCandidate):
                candidate.finals = run.finals  # its parts, fitted just before it
            run.finals[name] = candidate.fit_final(data, run.results[name])
    run.booster = run.finals[run.choice.selected].booster


def _refits_on_test(run: _Run) -> bool:
    """Whether the served model is refitted with the test part (see SelectionConfig)."""
    setting = run.config.selection.refit_on_test
    if setting == "auto":
        return run.splits.method in ("stratified_holdout", "grouped_holdout")
    return bool(setting)


def _fit_dask(run: _Run, data: CvData) -> FinalModel:
    from training.distributed import dask_client, fit_dask  # deferred: only with --dask

    params = dict(run.selected.params)
    rounds = int(params.pop("num_boost_round"))
    params = fit_params(params, len(data.y))
    with dask_client(run.request.dask or "", run.config.dask.local_workers) as client:
        booster = fit_dask(client, params, rounds, data.X, data.y)
    return FinalModel(booster, None, {}, {"trees": booster.num_trees()})


def _step_monotonicity(run: _Run) -> None:
    config, booster = run.config, run.booster
    report = check_monotonicity(
        lambda m: np.asarray(booster.predict(m, raw_score=True)),
        run.x_train,
        run.encoder.feature_names,
        run.monotone,
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


def _calibrate(run: _Run, result: CandidateResult) -> tuple[Calibrator, dict[str, float]]:
    cal = run.config.calibration
    p_oof = sigmoid(result.oof_margin)
    y = run.splits.train.y
    return choose_calibrator(p_oof, y, cal.method, cal.pd_floor, cal.pd_cap, run.config.seed)


def _step_calibrate(run: _Run) -> None:
    run.p_oof = sigmoid(run.selected.oof_margin)
    run.calibrator, run.calibration_cv = _calibrate(run, run.selected)
    logger.info(
        "calibration: %s (CV log loss on out-of-fold predictions: %s)",
        run.calibrator.method,
        ", ".join(f"{k} {v:.5f}" for k, v in run.calibration_cv.items()),
    )


def _step_blend(run: _Run) -> None:
    spec, train, cal = run.spec, run.splits.train, run.config.calibration
    run.blend = None
    if spec.points_column is None:
        return
    points = pd.to_numeric(train.frame[spec.points_column], errors="coerce").to_numpy()
    blend = PointsBlend(spec.points_column, cal.pd_floor, cal.pd_cap)
    run.blend = blend.fit(run.p_oof, points, train.y)
    logger.info("blend: %s", run.blend.describe())


def _candidate_rows(run: _Run) -> list[dict[str, Any]]:
    """Each candidate refitted, calibrated on its own out-of-fold predictions, on test."""
    rows = []
    test = run.splits.test
    for name, result in run.results.items():
        final = run.finals[name]
        calibrator, _ = _calibrate(run, result)
        p_raw = lightgbm_probability(final.booster)(run.x_test)
        pd_test = calibrator.predict(p_raw)
        rows.append(
            result.summary()
            | {
                "selected": name == run.choice.selected,
                "test": with_interval(test.y, pd_test, seed=run.config.seed),
                "calibration": calibrator.method,
                "size": final.size,
            }
        )
    return rows


def _step_evaluate(run: _Run) -> None:
    model = lightgbm_probability(run.booster)
    run.reference = Scorer(run.encoder, model, run.calibrator, run.scale, run.blend)
    run.scored = {part.name: run.reference.score(part.frame) for part in run.splits.parts()}
    oracle = _oracle(run.request, run.spec, run.splits)
    run.report = evaluate(
        run.spec, run.splits, run.scored, run.scale, run.config.evaluation, oracle, run.config.seed
    )
    run.report["calibration_oof"] = {
        "method": run.calibrator.method,
        "cv_log_loss": run.calibration_cv,
        "fitted_on": "out-of-fold predictions of the training window",
    }
    run.candidate_rows = _candidate_rows(run)
    run.report["candidates"] = run.candidate_rows
    run.report["selection"] = run.choice.to_dict() | {"cv": run.judge_plan.to_dict()}
    run.report["served_rows"] = _served_rows(run)


def _served_rows(run: _Run) -> str:
    train, test = run.splits.train, run.splits.test
    if _refits_on_test(run):
        return (
            f"all {train.n + test.n:,} mature rows, the test part included "
            f"(selection.refit_on_test {run.config.selection.refit_on_test}, test part a "
            f"{run.splits.method.replace('_', ' ')}): the test figures are in-sample; the "
            "cross-validated figures are the out-of-sample ones"
        )
    return (
        f"the {train.n:,} rows of the training window ({train.defaults:,} defaults); the "
        f"{test.n:,} test rows were never used to fit or choose"
    )


def _step_export(run: _Run) -> None:
    parity = run.config.parity
    metadata = {"model_name": run.name, "feature_order": json.dumps(run.encoder.feature_names)}
    metadata["candidate"] = run.choice.selected
    run.onnx_bytes, run.booster, run.parity = export_checked(
        run.booster,
        run.reference,
        run.frame,
        min_rows=parity.min_rows,
        tolerance=parity.tolerance,
        seed=run.config.seed,
        metadata=metadata,
    )
    logger.info("parity: %s", _readable(run.parity.to_dict()))


def _step_report(run: _Run) -> None:
    from training.report.assemble import ReportInputs  # deferred: matplotlib, jinja2
    from training.report.build import report_files

    points_table = run.finals.get("scorecard")
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
        extra={"model_selection": run.choice.reason, "served_rows": run.report["served_rows"]},
        points_table=json.loads(points_table.files["scorecard_points.json"])
        if points_table is not None
        else None,
    )
    run.report_files = report_files(inputs)


def _step_bundle(run: _Run) -> None:
    request = run.request
    run.metrics = headline(run.report, run.splits) | {
        "parity_max_abs_pd": run.parity.max_abs_pd,
        "parity_rows": run.parity.rows,
        "monotonicity_ok": run.mono.ok,
        "candidate": run.choice.selected,
        "candidates": run.candidate_rows,
        "selected": run.choice.to_dict(),
        "served_rows": run.report["served_rows"],
        "cv": run.judge_plan.to_dict(),
    }
    fp = artifacts.fingerprint(
        request.dataset,
        request.spec_path,
        request.catalogue_version,
        request.feature_service_version,
    )
    final = run.finals[run.choice.selected]
    run.training = artifacts.training_json(
        run.config,
        run.selected,
        run.choice,
        run.parity,
        run.mono,
        run.splits.summary(),
        fp,
        request.dask if run.choice.selected == "lightgbm" else None,  # dask fits LightGBM only
    )
    fitted = artifacts.Fitted(run.booster, run.encoder, run.calibrator, run.blend, run.scale)
    files = artifacts.bundle_files(
        fitted, run.onnx_bytes, run.spec, run.monotone, run.metrics, run.report, run.training
    )
    for finished in run.finals.values():
        files |= finished.files  # e.g. the scorecard's points table, whichever is served
    files |= run.report_files  # validation report and monitoring reference, in the manifest
    version = new_version(run.onnx_bytes)
    run.bundle_path = write_bundle(request.out_dir, run.name, version, files, {"fingerprint": fp})
    run.metrics |= {"model_name": run.name, "bundle_version": version}
    run.metrics["bundle_path"] = str(run.bundle_path)
    run.metrics["served_size"] = final.size
    (request.out_dir / "metrics.json").write_bytes(to_json_bytes(run.metrics))


def _step_track(run: _Run) -> None:
    if run.request.tracking is None:
        return
    plots = artifacts.plots(run.splits.test.y, run.scored["test"], run.scale)
    example = artifacts.input_example(run.splits.test.frame, run.spec)
    record = artifacts.run_record(
        run.name,
        run.bundle_path,
        run.metrics,
        run.training,
        run.results,
        run.candidate_rows,
        run.report,
        plots,
        example,
    )
    run.registered = log_run(record, run.request.tracking)


STEPS: tuple[tuple[str, Callable[[_Run], None]], ...] = (
    ("spec", _step_spec),
    ("data", _step_data),
    ("encode", _step_encode),
    ("folds", _step_folds),
    ("candidates", _step_candidates),
    ("select", _step_select),
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


def train(
    request: TrainRequest,
    progress: Progress | None = None,
    on_step: Callable[[str, float], None] | None = None,
) -> TrainResult:
    """Run every step in order and return the bundle, metrics and checks.

    Args:
        request: dataset, spec, output folder and options.
        progress: a rich progress display to show steps and trials on, if any.
        on_step: called with each step's label and wall seconds (e.g. by the bench).

    Raises:
        JifenError: a subclass naming the step's problem (spec, data, parity, ...).

    """
    run = _Run(request, progress)
    task = progress.add_task("train", total=len(STEPS)) if progress else None
    with threadpool_limits(_threads(request)):
        _run_steps(run, task, on_step)
    return TrainResult(
        run.bundle_path,
        run.metrics,
        run.report,
        run.parity,
        run.mono,
        run.blend.describe() if run.blend is not None else None,
        run.registered,
    )


def _threads(request: TrainRequest) -> int:
    """BLAS/OpenMP threads for the run: the training config's n_jobs.

    NumPy's OpenBLAS starts one thread per core; on a shared two-core machine its spinning
    threads made each scorecard fit about six times slower than one thread (measured here:
    7.4 ms against 1.3 ms per log-loss evaluation on 14,700 x 110).
    """
    return load_config(request.config_path).n_jobs


def _run_steps(
    run: _Run, task: TaskID | None, on_step: Callable[[str, float], None] | None
) -> None:
    progress = run.progress
    for number, (label, step) in enumerate(STEPS, start=1):
        logger.info("[%d/%d] %s", number, len(STEPS), label)
        if progress is not None and task is not None:
            progress.update(task, description=f"train: {label}")
        started = time.perf_counter()
        step(run)
        if on_step is not None:
            on_step(label, time.perf_counter() - started)
        if progress is not None and task is not None:
            progress.advance(task)
