"""Distributed training: the final fit through ``lightgbm.DaskLGBMClassifier``.

``--dask local`` starts an in-process cluster of two single-threaded workers (enough to
exercise the data-parallel learner on a laptop or in CI); ``--dask tcp://host:8786`` joins an
existing scheduler. The study itself stays on the driver (pruning needs the trial object);
the chosen parameters and number of rounds are then fitted on the cluster, and the result
comes back as an ordinary booster, exported and checked like any other.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask.array as da
import lightgbm as lgb
import numpy as np
from distributed import Client, LocalCluster

from training.errors import TrainingError

LOCAL = "local"
_SKLEARN_RENAMES = {"verbosity": "verbose"}


@contextmanager
def dask_client(scheduler: str, n_workers: int = 2) -> Iterator[Client]:
    """Yield a client of a new local cluster (``local``) or of the scheduler at an address.

    Raises:
        TrainingError: the scheduler cannot be reached.

    """
    if scheduler == LOCAL:
        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=n_workers,
                threads_per_worker=1,
                processes=False,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout=30)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise TrainingError(f"dask scheduler {scheduler!r} cannot be reached: {exc}") from exc
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


def sklearn_params(params: dict[str, Any], num_boost_round: int) -> dict[str, Any]:
    """Translate ``lgb.train`` parameters to the scikit-learn API's keyword arguments."""
    # Thread counts are left to LightGBM's Dask layer, which sets them per worker.
    dropped = {"metric", "num_threads"}
    out = {_SKLEARN_RENAMES.get(k, k): v for k, v in params.items() if k not in dropped}
    out["n_estimators"] = num_boost_round
    out["tree_learner"] = "data"
    return out


def fit_dask(
    client: Client,
    params: dict[str, Any],
    num_boost_round: int,
    x: np.ndarray,
    y: np.ndarray,
) -> lgb.Booster:
    """Fit on the cluster with one partition per worker and return the local booster."""
    n_workers = max(len(client.nthreads()), 1)  # type: ignore[no-untyped-call]
    rows = int(np.ceil(len(x) / n_workers))
    x_dask = da.from_array(x, chunks=(rows, x.shape[1]))  # type: ignore[no-untyped-call]
    y_dask = da.from_array(y.astype(np.int32), chunks=rows)  # type: ignore[no-untyped-call]
    model = lgb.DaskLGBMClassifier(client=client, **sklearn_params(params, num_boost_round))
    model.fit(x_dask, y_dask)
    return model.to_local().booster_
