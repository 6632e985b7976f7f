"""The champion in use, re-scored on the challenger's test vintage for a like-for-like view.

A champion's own recorded test AUC was measured on its own (older) test vintage, so
comparing it with a challenger's is comparing two exams. When the registry has a
``champion`` alias, its bundle is downloaded from the run's artifacts, verified, and
run on the same out-of-time rows as the challenger; if the champion cannot score them
(different inputs), only its recorded figures are shown, and the report says so.
"""

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jifen.errors import JifenError
from training.bundle import load_bundle
from training.metrics import discrimination
from training.tracking import CHAMPION, TrackingTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionView:
    """What the report shows about the champion."""

    name: str
    registry_version: str
    bundle_version: str | None
    same_rows: dict[str, float] | None
    """Discrimination of the champion's final PD on the challenger's test rows."""
    recorded: dict[str, float] = field(default_factory=dict)
    """The champion's own test metrics, as logged by its training run."""
    note: str = ""


def find_champion(
    target: TrackingTarget, name: str, test: pd.DataFrame, y: np.ndarray
) -> ChampionView | None:
    """Return the champion of ``name`` re-scored on ``test``; None when there is none.

    A registry that cannot be read gives a view with only a note (the report must still be
    written: the tracking step reports the store's failure itself).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        log.warning("champion of %s could not be read: %s", name, exc)
        return ChampionView(name, "?", None, None, note=f"registry not readable: {exc.message}")
    recorded = _recorded(client, str(version.run_id))
    bundle_version = (version.tags or {}).get("bundle_version")
    try:
        same_rows = _rescore(target, str(version.run_id), test, y)
        note = "re-scored from its bundle on the challenger's test rows"
    except (JifenError, MlflowException, OSError, KeyError, ValueError) as exc:
        same_rows = None
        note = f"could not be re-scored on these rows ({type(exc).__name__}: {exc}); recorded only"
    return ChampionView(name, str(version.version), bundle_version, same_rows, recorded, note)


def _recorded(client: Any, run_id: str) -> dict[str, float]:
    metrics = client.get_run(run_id).data.metrics
    keys = ("test_auc", "test_gini", "test_ks", "test_brier", "test_log_loss", "n_test")
    return {k: float(metrics[k]) for k in keys if k in metrics}


def _rescore(
    target: TrackingTarget, run_id: str, test: pd.DataFrame, y: np.ndarray
) -> dict[str, float]:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="bundle", dst_path=tmp, tracking_uri=target.uri
        )
        bundle = load_bundle(Path(local))
        scored = bundle.scorer().score(test)
    return discrimination(y, scored["pd"].to_numpy())
