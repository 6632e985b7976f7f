"""Registry promotion on SQLite, and a full tracked run on the real PostgreSQL."""

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import psycopg
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from jifen.cli import app
from training.bundle import load_bundle
from training.errors import RegistryError, TrackingError
from training.pipeline import TrainRequest, train
from training.tracking import (
    CHALLENGER,
    CHAMPION,
    TrackingTarget,
    default_target,
    postgres_uri,
    promote,
)

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def sqlite_target(tmp_path_factory: pytest.TempPathFactory) -> TrackingTarget:
    return default_target(None, tmp_path_factory.mktemp("mlflow"))


def _register(target: TrackingTarget, name: str, test_auc: float) -> str:
    """Register a version whose run logged ``test_auc`` and alias it challenger."""
    mlflow.set_tracking_uri(target.uri)
    client = MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)
    if client.get_experiment_by_name(target.experiment) is None:
        client.create_experiment(target.experiment, artifact_location=target.artifact_root)
    experiment = client.get_experiment_by_name(target.experiment)
    assert experiment is not None
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        mlflow.log_metric("test_auc", test_auc)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return str(version.version)


def _champion(target: TrackingTarget, name: str) -> str:
    client = MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)
    return str(client.get_model_version_by_alias(name, CHAMPION).version)


def test_promote_makes_first_challenger_champion(sqlite_target: TrackingTarget) -> None:
    """With no champion yet, the challenger is promoted and the reason says so."""
    _register(sqlite_target, "first", 0.71)
    decision = promote(sqlite_target, "first", margin=0.005)
    assert decision.promoted and "no champion yet" in decision.reason
    assert _champion(sqlite_target, "first") == "1"


def test_promote_keeps_champion_when_gain_is_below_margin(sqlite_target: TrackingTarget) -> None:
    """0.753 against 0.750 + 0.005: champion stays, and the version records why."""
    _register(sqlite_target, "close", 0.750)
    promote(sqlite_target, "close", margin=0.005)
    version = _register(sqlite_target, "close", 0.753)
    decision = promote(sqlite_target, "close", margin=0.005)
    assert not decision.promoted
    assert _champion(sqlite_target, "close") == "1"
    client = MlflowClient(tracking_uri=sqlite_target.uri, registry_uri=sqlite_target.uri)
    tags = client.get_model_version("close", version).tags
    assert tags["promotion_decision"] == "not_promoted"
    assert "does not beat champion v1 0.7500 + margin 0.0050" in tags["promotion_reason"]


def test_promote_moves_champion_when_gain_meets_margin(sqlite_target: TrackingTarget) -> None:
    """0.760 against 0.750 + 0.005: the champion alias moves to the challenger."""
    _register(sqlite_target, "better", 0.750)
    promote(sqlite_target, "better", margin=0.005)
    version = _register(sqlite_target, "better", 0.760)
    decision = promote(sqlite_target, "better", margin=0.005)
    assert decision.promoted and decision.champion_before == "1"
    assert _champion(sqlite_target, "better") == version
    client = MlflowClient(tracking_uri=sqlite_target.uri, registry_uri=sqlite_target.uri)
    assert client.get_model_version("better", "1").tags["demoted_by"] == version


def test_cli_promote_applies_the_margin_option(sqlite_target: TrackingTarget) -> None:
    """`jifen promote --margin` uses the given margin: 0.02 blocks a 0.01 gain."""
    _register(sqlite_target, "cli", 0.70)
    promote(sqlite_target, "cli", margin=0.0)
    _register(sqlite_target, "cli", 0.71)
    db_dir = sqlite_target.uri.removeprefix("sqlite:///").removesuffix("/mlflow.db")
    args = ["promote", "--name", "cli", "--tracking-dir", db_dir]
    result = CliRunner().invoke(app, [*args, "--margin", "0.02"])
    assert result.exit_code == 0, result.output
    assert "not promoted" in result.output and _champion(sqlite_target, "cli") == "1"
    result = CliRunner().invoke(app, [*args, "--margin", "0.005"])
    assert "promoted cli v2" in result.output and _champion(sqlite_target, "cli") == "2"


def test_promote_fails_clearly_when_the_store_is_unreachable() -> None:
    """A PostgreSQL store that refuses connections is a TrackingError naming the URI."""
    target = TrackingTarget(postgres_uri("nowhere", port=5999), "file:///tmp/unused")
    with pytest.raises(TrackingError, match=r"store postgresql\+psycopg://.*:5999.* unreachable"):
        promote(target, "m", margin=0.0)


def test_promote_fails_when_model_has_no_challenger(sqlite_target: TrackingTarget) -> None:
    """Promoting an unknown model is an error naming the model and the alias."""
    with pytest.raises(RegistryError, match=r"'ghost' has no 'challenger' alias"):
        promote(sqlite_target, "ghost", margin=0.0)


def _postgres_up() -> None:
    try:
        psycopg.connect(ADMIN_DSN, connect_timeout=3).close()
    except psycopg.OperationalError:
        version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
        pg_ctl = shutil.which("pg_ctlcluster") or "pg_ctlcluster"
        subprocess.run([pg_ctl, "--skip-systemctl-redirect", version, "main", "start"], check=True)


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A fresh database on the local server, dropped after the test."""
    _postgres_up()
    name = f"jifen_mlflow_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.integration
def test_tracked_run_on_postgres_registers_challenger_and_promotes(
    postgres_db: str, byod_files: tuple[Path, Path], tmp_path: Path, loan_book: pd.DataFrame
) -> None:
    """A run logged to PostgreSQL has metrics, fingerprint, plots and a servable model."""
    target = TrackingTarget(postgres_uri(postgres_db), (tmp_path / "artifacts").as_uri())
    dataset, spec = byod_files
    request = TrainRequest(
        dataset, spec, tmp_path / "models", n_trials=3, tracking=target,
        catalogue_version="national-2024-trial", feature_service_version="credit_risk_v1",
    )  # fmt: skip
    result = train(request)
    registered = result.registered
    assert registered is not None and registered.version == "1"
    client = MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)
    run = client.get_run(registered.run_id)
    assert run.data.metrics["test_auc"] == pytest.approx(result.metrics["test_auc"])
    assert run.data.tags["data.catalogue_version"] == "national-2024-trial"
    fingerprint = load_bundle(result.bundle_path).manifest["fingerprint"]
    assert run.data.tags["data.dataset_sha256"] == fingerprint["dataset_sha256"]
    reports = {a.path for a in client.list_artifacts(registered.run_id, "reports")}
    assert {"reports/roc_test.png", "reports/calibration_test.png", "reports/study.json"} <= reports
    assert str(client.get_model_version_by_alias(registered.name, CHALLENGER).version) == "1"

    model = mlflow.pyfunc.load_model(f"models:/{registered.name}@{CHALLENGER}")
    bundle = load_bundle(result.bundle_path)
    rows = loan_book.head(50)
    inputs = rows[[*bundle.encoder.feature_names, "points_total"]]
    # The signature declares numeric inputs as double (JSON requests are cast by the server).
    served = model.predict(inputs.astype({c: float for c in bundle.encoder.numeric}))
    expected = bundle.scorer().score(rows)
    assert np.allclose(served["pd"].to_numpy(), expected["pd"].to_numpy(), atol=1e-12)

    decision = promote(target, registered.name, margin=0.005)
    assert decision.promoted
    assert str(client.get_model_version_by_alias(registered.name, CHAMPION).version) == "1"
