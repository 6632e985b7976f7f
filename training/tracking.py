"""Tracking stage: log a training run to MLflow, register the model, promote by rule.

The tracking store is SQLite (``sqlite:///<dir>/mlflow.db``) unless a URI is configured,
e.g. PostgreSQL ``postgresql+psycopg://postgres@127.0.0.1:5432/<db>``. Artifacts go under
``<dir>/mlruns`` unless an artifact root is given. A run logs parameters, metrics, the
Optuna study summary, ROC and calibration plots, the data fingerprint, the bundle, and a
pyfunc model that ``mlflow models serve --env-manager local`` can serve. Each new version
gets the alias ``challenger``; ``promote`` moves ``champion`` to it only if it beats the
champion's out-of-time test AUC by a margin, and records why on the version.
"""

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from training.errors import RegistryError, TrackingError

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHALLENGER = "challenger"
CHAMPION = "champion"
DEFAULT_EXPERIMENT = "jifen-training"
PROMOTION_METRIC = "test_auc"
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")  # model / alias missing
_REQUIREMENTS = ("mlflow", "lightgbm", "onnxruntime", "pandas", "numpy", "scikit-learn", "pydantic")


@dataclass(frozen=True)
class TrackingTarget:
    """Where runs and artifacts go."""

    uri: str
    artifact_root: str
    experiment: str = DEFAULT_EXPERIMENT


def default_target(
    tracking_uri: str | None, tracking_dir: Path, experiment: str = DEFAULT_EXPERIMENT
) -> TrackingTarget:
    """SQLite under ``tracking_dir`` unless ``tracking_uri`` is given; artifacts there too."""
    tracking_dir = tracking_dir.resolve()
    uri = tracking_uri or f"sqlite:///{tracking_dir / 'mlflow.db'}"
    return TrackingTarget(uri, (tracking_dir / "mlruns").as_uri(), experiment)


def postgres_uri(database: str, host: str = "127.0.0.1", port: int = 5432) -> str:
    """Tracking URI of a PostgreSQL database reached as ``postgres`` with trust auth."""
    return f"postgresql+psycopg://postgres@{host}:{port}/{database}"


@dataclass(frozen=True)
class ChildRun:
    """One candidate of a training run, logged as a nested run of it."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """Everything a training run logs."""

    name: str
    bundle_path: Path
    params: dict[str, Any]
    metrics: dict[str, Any]
    tags: dict[str, str]
    json_artifacts: dict[str, Any] = field(default_factory=dict)
    png_artifacts: dict[str, bytes] = field(default_factory=dict)
    input_example: pd.DataFrame | None = None
    children: list[ChildRun] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredVersion:
    """The run and model version a training run produced."""

    run_id: str
    name: str
    version: str
    model_uri: str


@contextmanager
def _store_errors(target: TrackingTarget, action: str) -> Iterator[None]:
    """Turn MLflow and database failures into a TrackingError naming the store."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (MlflowException, SQLAlchemyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrackingError(f"{action} at {target.uri} failed: {first}") from exc


def check_reachable(target: TrackingTarget, timeout_seconds: int = 5) -> None:
    """Fail fast when a PostgreSQL store is down (MLflow itself retries for ~2 minutes).

    Raises:
        TrackingError: the database refuses the connection; the message names the URI.

    """
    if not target.uri.startswith("postgresql"):
        return
    import psycopg

    dsn = "postgresql" + target.uri.split("://", 1)[0].removeprefix("postgresql").split("+")[0]
    dsn += "://" + target.uri.split("://", 1)[1]
    try:
        psycopg.connect(dsn, connect_timeout=timeout_seconds).close()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise TrackingError(f"tracking store {target.uri} is unreachable: {first}") from exc


def _client(target: TrackingTarget) -> "MlflowClient":
    # mlflow is imported here, not at module import: it is slow and only tracking needs it.
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)


def _experiment_id(client: "MlflowClient", target: TrackingTarget) -> str:
    found = client.get_experiment_by_name(target.experiment)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(target.experiment, artifact_location=target.artifact_root))


def _flat_params(params: dict[str, Any]) -> dict[str, str]:
    return {
        k: (json.dumps(v) if isinstance(v, list | dict) else str(v))[:6000]
        for k, v in params.items()
    }


def log_run(record: RunRecord, target: TrackingTarget) -> RegisteredVersion:
    """Log one training run, register its pyfunc model and alias it ``challenger``.

    Raises:
        TrackingError: the tracking store cannot be reached or refuses a write.

    """
    check_reachable(target)
    with _store_errors(target, "logging the training run"):
        return _log_run(record, target)


def _log_run(record: RunRecord, target: TrackingTarget) -> RegisteredVersion:
    import mlflow

    from training.pyfunc import BUNDLE_ARTIFACT, BundleModel

    mlflow.set_tracking_uri(target.uri)
    mlflow.set_registry_uri(target.uri)
    client = _client(target)
    experiment_id = _experiment_id(client, target)
    metrics = {k: float(v) for k, v in record.metrics.items() if isinstance(v, int | float)}
    with mlflow.start_run(experiment_id=experiment_id, run_name=record.name) as run:
        mlflow.log_params(_flat_params(record.params))
        mlflow.log_metrics(metrics)
        mlflow.set_tags(record.tags)
        for child in record.children:
            with mlflow.start_run(experiment_id=experiment_id, run_name=child.name, nested=True):
                mlflow.log_params(_flat_params(child.params))
                mlflow.log_metrics(child.metrics)
                mlflow.set_tags(child.tags)
        with tempfile.TemporaryDirectory() as tmp:
            for filename, payload in record.json_artifacts.items():
                path = Path(tmp) / filename
                path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
            for filename, png in record.png_artifacts.items():
                (Path(tmp) / filename).write_bytes(png)
            mlflow.log_artifacts(tmp, artifact_path="reports")
        mlflow.log_artifacts(str(record.bundle_path), artifact_path="bundle")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BundleModel(),
            artifacts={BUNDLE_ARTIFACT: str(record.bundle_path)},
            input_example=record.input_example,
            pip_requirements=list(_REQUIREMENTS),
            registered_model_name=record.name,
        )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(record.name, CHALLENGER, version)
    client.set_model_version_tag(
        record.name, version, PROMOTION_METRIC, str(metrics[PROMOTION_METRIC])
    )
    client.set_model_version_tag(
        record.name, version, "bundle_version", record.tags.get("bundle.version", "")
    )
    return RegisteredVersion(
        run.info.run_id, record.name, version, f"models:/{record.name}/{version}"
    )


def only_model_name(target: TrackingTarget) -> str:
    """Return the name of the registry's only model.

    Raises:
        RegistryError: the registry holds no model or several (then ``--name`` is needed).
        TrackingError: the tracking store cannot be reached.

    """
    check_reachable(target)
    with _store_errors(target, "listing registered models"):
        models = _client(target).search_registered_models()
    names: list[str] = sorted(str(m.name) for m in models)
    if len(names) != 1:
        raise RegistryError(
            f"--name is needed: the registry at {target.uri} holds {len(names)} models {names}"
        )
    return names[0]


@dataclass(frozen=True)
class PromotionDecision:
    """What ``promote`` decided and why."""

    name: str
    challenger: str
    champion_before: str | None
    promoted: bool
    reason: str
    challenger_auc: float
    champion_auc: float | None


def _alias(client: "MlflowClient", name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND:
            return None
        raise


def _version_auc(client: "MlflowClient", version: Any) -> float:
    tagged = (version.tags or {}).get(PROMOTION_METRIC)
    if tagged is not None:
        return float(tagged)
    metrics = client.get_run(version.run_id).data.metrics
    if PROMOTION_METRIC not in metrics:
        raise RegistryError(
            f"model version {version.name}/{version.version} has no {PROMOTION_METRIC} metric"
        )
    return float(metrics[PROMOTION_METRIC])


def promote(target: TrackingTarget, name: str, margin: float) -> PromotionDecision:
    """Move ``champion`` to the challenger if its test AUC beats the champion's by ``margin``.

    The decision and its reason are recorded as tags and the description of the challenger
    version (and a ``demoted_by`` tag on the former champion); with no champion yet, the
    challenger becomes champion.

    Raises:
        RegistryError: the model or its ``challenger`` alias does not exist.
        TrackingError: the tracking store cannot be reached or refuses a write.

    """
    check_reachable(target)
    with _store_errors(target, f"promoting {name!r}"):
        return _promote(target, name, margin)


def _promote(target: TrackingTarget, name: str, margin: float) -> PromotionDecision:
    client = _client(target)
    challenger = _alias(client, name, CHALLENGER)
    if challenger is None:
        raise RegistryError(
            f"registered model {name!r} has no {CHALLENGER!r} alias at {target.uri}"
        )
    champion = _alias(client, name, CHAMPION)
    c_auc = _version_auc(client, challenger)
    champ_auc = _version_auc(client, champion) if champion is not None else None
    if champion is None or champ_auc is None:
        promoted, reason = True, f"no champion yet; challenger {PROMOTION_METRIC}={c_auc:.4f}"
    elif champion.version == challenger.version:
        promoted, reason = False, f"version {challenger.version} is already champion"
    else:
        needed = champ_auc + margin
        promoted = c_auc >= needed
        verb = "beats" if promoted else "does not beat"
        reason = (
            f"challenger v{challenger.version} {PROMOTION_METRIC}={c_auc:.4f} {verb} champion "
            f"v{champion.version} {champ_auc:.4f} + margin {margin:.4f} = {needed:.4f}"
        )
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, challenger.version)
        if champion is not None:
            client.set_model_version_tag(
                name, champion.version, "demoted_by", str(challenger.version)
            )
    decision = "promoted" if promoted else "not_promoted"
    client.set_model_version_tag(name, challenger.version, "promotion_decision", decision)
    client.set_model_version_tag(name, challenger.version, "promotion_reason", reason)
    client.update_model_version(name, challenger.version, description=f"{decision}: {reason}")
    return PromotionDecision(
        name,
        str(challenger.version),
        str(champion.version) if champion is not None else None,
        promoted,
        reason,
        c_auc,
        champ_auc,
    )
