"""The models of the quality bench: each fits one fold's training rows, scores its test rows.

Jifen runs as a user runs it: ``jifen train --dataset train.csv --spec spec.json`` then
``jifen score test.csv --bundle ...`` in subprocesses. The references are fitted in process
on exactly the same rows:

- ``logit``: one-hot logistic regression. Numerics: median imputation with missing
  indicators, standardised; categoricals: a "missing" level, one-hot (unseen levels
  ignored). L2 penalty, C chosen among 9 values from 0.001 to 10 (log grid) by an inner
  stratified 5-fold CV on log loss (``LogisticRegressionCV``).
- ``woe_scorecard``: OptBinning ``BinningProcess`` with its defaults (WoE transform), then a
  default ``LogisticRegression`` (C = 1; ``max_iter`` raised so it converges).
- ``lgbm_default``: LightGBM, 300 trees, learning rate 0.05, everything else default;
  categoricals as pandas categories.
- ``lgbm_early_stop``: LightGBM, learning rate 0.05, up to 5,000 trees, early stopping (50
  rounds, log loss) on an inner stratified 20 % of the training rows, then refitted on all
  training rows with the number of trees found.
- ``catboost``: CatBoost with its defaults (1,000 iterations, learning rate set by CatBoost),
  categoricals as CatBoost categorical features.

Every fit runs on one thread, as Jifen's do (``n_jobs: 1`` in its training config): on a
shared two-core machine OpenMP threads that spin while waiting made a two-thread LightGBM fit
of German credit take 24 s instead of 0.6 s. Quality does not depend on it; times do.
"""

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from quality_datasets import ID_COLUMN, QualityDataset

VENV_BIN = Path(sys.executable).parent
MISSING = "missing"


class ModelError(Exception):
    """A model could not be fitted or could not score; the message is the reason."""


@dataclass(frozen=True)
class Fold:
    """One train/test cut of a dataset, shared by every model."""

    dataset: QualityDataset
    repeat: int
    index: int
    train: pd.DataFrame
    test: pd.DataFrame
    seed: int

    @property
    def label(self) -> str:
        """``r<repeat>f<index>``, for folder names and logs."""
        return f"r{self.repeat}f{self.index}"

    @property
    def y_train(self) -> np.ndarray:
        """0/1 default label of the training rows."""
        return (self.train[self.dataset.target] == self.dataset.positive_label).to_numpy(int)

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of ``frame``, categorical first."""
        return frame[[*self.dataset.categorical, *self.dataset.numeric]]


Predictor = Callable[[Fold, Path], np.ndarray]


@contextmanager
def _quiet() -> Iterator[None]:
    """One BLAS/OpenMP thread, and the references' convergence and category warnings silenced
    (they flood the table)."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        yield


def _positive(proba: object) -> np.ndarray:
    """The default class's column of a ``predict_proba`` result, as floats."""
    return np.asarray(proba, dtype=float)[:, 1]


def logit(fold: Fold, _work: Path) -> np.ndarray:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    ds = fold.dataset
    prepare = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                list(ds.numeric),
            ),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=MISSING),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                list(ds.categorical),
            ),
        ]
    )
    inner = StratifiedKFold(n_splits=5, shuffle=True, random_state=fold.seed)
    search = LogisticRegressionCV(
        Cs=np.logspace(-3, 1, 9).tolist(), cv=inner, scoring="neg_log_loss", max_iter=5000
    )
    model = make_pipeline(prepare, search)
    with _quiet():
        model.fit(fold.features(fold.train), fold.y_train)
        return _positive(model.predict_proba(fold.features(fold.test)))


def woe_scorecard(fold: Fold, _work: Path) -> np.ndarray:
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    ds = fold.dataset
    binning = BinningProcess(
        variable_names=[*ds.categorical, *ds.numeric], categorical_variables=list(ds.categorical)
    )
    model = make_pipeline(binning, LogisticRegression(max_iter=1000))
    with _quiet():
        model.fit(fold.features(fold.train), fold.y_train)
        return _positive(model.predict_proba(fold.features(fold.test)))


def _as_categories(fold: Fold) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test features with categoricals as pandas categories of the training levels."""
    train, test = fold.features(fold.train).copy(), fold.features(fold.test).copy()
    for column in fold.dataset.categorical:
        levels = sorted(train[column].dropna().unique())
        train[column] = pd.Categorical(train[column], categories=levels)
        test[column] = pd.Categorical(test[column], categories=levels)
    return train, test


def lgbm_default(fold: Fold, _work: Path) -> np.ndarray:
    from lightgbm import LGBMClassifier

    train, test = _as_categories(fold)
    model = LGBMClassifier(
        n_estimators=300, learning_rate=0.05, random_state=fold.seed, verbose=-1, n_jobs=1
    )
    with _quiet():
        model.fit(train, fold.y_train)
        return _positive(model.predict_proba(test))


def lgbm_early_stop(fold: Fold, _work: Path) -> np.ndarray:
    from lightgbm import LGBMClassifier, early_stopping
    from sklearn.model_selection import train_test_split

    train, test = _as_categories(fold)
    y = fold.y_train
    fit_rows, stop_rows = train_test_split(
        np.arange(len(train)), test_size=0.2, stratify=y, random_state=fold.seed
    )
    with _quiet():
        probe = LGBMClassifier(
            n_estimators=5000, learning_rate=0.05, random_state=fold.seed, verbose=-1, n_jobs=1
        )
        probe.fit(
            train.iloc[fit_rows],
            y[fit_rows],
            eval_set=[(train.iloc[stop_rows], y[stop_rows])],
            eval_metric="binary_logloss",
            callbacks=[early_stopping(50, verbose=False)],
        )
        rounds = max(int(probe.best_iteration_ or 1), 1)
        model = LGBMClassifier(
            n_estimators=rounds, learning_rate=0.05, random_state=fold.seed, verbose=-1, n_jobs=1
        )
        model.fit(train, y)
        return _positive(model.predict_proba(test))


def catboost(fold: Fold, _work: Path) -> np.ndarray:
    from catboost import CatBoostClassifier

    ds = fold.dataset
    train, test = fold.features(fold.train).copy(), fold.features(fold.test).copy()
    for frame in (train, test):
        for column in ds.categorical:
            frame[column] = frame[column].fillna(MISSING).astype(str)
    model = CatBoostClassifier(
        random_seed=fold.seed, verbose=0, allow_writing_files=False, thread_count=1
    )
    with _quiet():
        model.fit(train, fold.y_train, cat_features=list(ds.categorical))
        return _positive(model.predict_proba(test))


def jifen(trials: int | None, timeout: float, source: Path | None = None) -> Predictor:
    """Jifen through its CLI: ``jifen train`` on the training rows, ``jifen score`` on the test.

    With ``source`` (a source tree, e.g. a commit exported by ``git archive``), the commands
    import Jifen from there instead of from the working tree the venv was installed from.
    """
    env = {**os.environ, "FEAST_USAGE": "False", "COLUMNS": "200"}
    if source is not None:
        env["PYTHONPATH"] = str(source)

    def predict(fold: Fold, work: Path) -> np.ndarray:
        folder = _fold_folder(work, fold)
        folder.mkdir(parents=True, exist_ok=True)
        train_csv, test_csv, spec = folder / "train.csv", folder / "test.csv", folder / "spec.json"
        fold.train.to_csv(train_csv, index=False)
        fold.test.drop(columns=[fold.dataset.target]).to_csv(test_csv, index=False)
        spec.write_text(json.dumps(fold.dataset.spec(), indent=1), encoding="utf-8")
        budget = ["--trials", str(trials)] if trials is not None else []
        _run(
            ["train", "--dataset", str(train_csv), "--spec", str(spec),
             "--out", str(folder / "out"), "--no-tracking", "--log-level", "WARNING", *budget],
            folder, "train", timeout, env,
        )  # fmt: skip
        bundles = sorted((folder / "out").glob("*/*/manifest.json"))
        if len(bundles) != 1:
            raise ModelError(f"jifen train wrote {len(bundles)} bundles under {folder / 'out'}")
        scored = folder / "scored.parquet"
        _run(
            ["score", str(test_csv), "--out", str(scored), "--bundle", str(bundles[0].parent),
             "--no-explain"],
            folder, "score", timeout, env,
        )  # fmt: skip
        out = pd.read_parquet(scored, columns=[ID_COLUMN, "pd"]).set_index(ID_COLUMN)["pd"]
        pd_test = out.reindex(fold.test[ID_COLUMN])
        if pd_test.isna().any():
            raise ModelError(f"jifen score left {int(pd_test.isna().sum())} test rows without a PD")
        return pd_test.to_numpy(float)

    return predict


def _fold_folder(work: Path, fold: Fold) -> Path:
    return work / fold.dataset.name / fold.label


def jifen_served(work: Path, fold: Fold) -> tuple[str | None, int | None]:
    """The candidate `jifen train` served on this fold and the rows it was fitted on, read
    from its metrics.json (None where this version of training does not say)."""
    try:
        metrics = json.loads((_fold_folder(work, fold) / "out" / "metrics.json").read_text())
    except (OSError, ValueError):
        return None, None
    selected = metrics.get("selected")
    chosen = metrics.get("candidate") or (selected.get("selected") if selected else None)
    rows = metrics.get("n_train")
    return (str(chosen) if chosen else None), (int(rows) if rows is not None else None)


def _run(args: list[str], folder: Path, step: str, timeout: float, env: dict[str, str]) -> None:
    """Run ``jifen <args>``, output kept in ``<step>.log``; raise ModelError with the reason."""
    try:
        done = subprocess.run(
            [str(VENV_BIN / "jifen"), *args],
            env={**env, "JIFEN_DATA_DIR": str(folder)},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"jifen {step} timed out after {timeout:.0f} s") from exc
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + "\n" + done.stderr)
    (folder / f"{step}.log").write_text(text, encoding="utf-8")
    if done.returncode != 0:
        raise ModelError(f"jifen {step} exited {done.returncode}: {failure_reason(text)}")


def failure_reason(text: str) -> str:
    """The line that says why a command failed: its ``error:`` line, else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    reason = errors[-1].removeprefix("error:").strip() if errors else (lines or ["no output"])[-1]
    return reason[:300]


REFERENCES: dict[str, Predictor] = {
    "logit": logit,
    "woe_scorecard": woe_scorecard,
    "lgbm_default": lgbm_default,
    "lgbm_early_stop": lgbm_early_stop,
    "catboost": catboost,
}
