"""Distributed fit: a two-worker local Dask cluster matches the single-process model's AUC."""

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd
from sklearn.metrics import roc_auc_score

from training.candidates.gbm import DATASET_PARAMS, base_params
from training.config import load_config
from training.data import prepare
from training.distributed import dask_client, fit_dask
from training.encode import FeatureEncoder
from training.pipeline import TrainRequest, train
from training.spec import DatasetSpec


def test_dask_fit_auc_is_within_one_hundredth_of_single_process(
    loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> None:
    """Same parameters and rounds, data split over two workers: test AUC moves < 0.01."""
    spec = DatasetSpec.model_validate(spec_dict)
    splits = prepare(loan_book, spec, load_config().minimums)
    encoder = FeatureEncoder(list(spec.categorical), list(spec.numeric))
    x_train = encoder.fit_transform(splits.train.frame, splits.train.y)
    x_test = encoder.transform(splits.test.frame)
    config = load_config()
    monotone = [spec.monotone.get(f, 0) for f in encoder.feature_names]
    params = base_params(config, monotone) | {
        "learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 40,
    }  # fmt: skip
    rounds = 150
    single = lgb.train(params, lgb.Dataset(x_train, splits.train.y, params=DATASET_PARAMS), rounds)
    with dask_client("local", n_workers=2) as client:
        assert len(client.nthreads()) == 2  # type: ignore[no-untyped-call]
        distributed = fit_dask(client, params, rounds, x_train, splits.train.y)
    auc_single = roc_auc_score(splits.test.y, single.predict(x_test))
    auc_dask = roc_auc_score(splits.test.y, distributed.predict(x_test))
    print(f"test AUC single {auc_single:.4f}, dask {auc_dask:.4f}")
    assert abs(auc_single - auc_dask) < 0.01
    assert distributed.num_trees() == rounds


def test_train_with_dask_local_exports_and_records_it(
    byod_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """`--dask local` runs the whole pipeline; the bundle says how the model was fitted."""
    dataset, spec = byod_files
    config = tmp_path / "serve-lightgbm.yaml"  # dask fits the LightGBM candidate only
    config.write_text("selection: {serve: lightgbm}\n", encoding="utf-8")
    request = TrainRequest(dataset, spec, tmp_path, n_trials=2, dask="local", config_path=config)
    result = train(request)
    training = json.loads((result.bundle_path / "training.json").read_text(encoding="utf-8"))
    assert training["trained_with"] == "dask:local"
    assert result.parity.max_abs_pd <= 1e-5
