"""A small simulated portfolio with its offline snapshot; real Redis and PostgreSQL helpers."""

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
import redis

from features.contracts.validate import validate_tables
from features.layout import DataLayout
from features.pipelines.training import build_entity_snapshot, features_dir
from features.simulate import load_simulation_config, run_simulation

AS_OF = date(2025, 10, 15)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def snapshot_layout(tmp_path_factory: pytest.TempPathFactory) -> DataLayout:
    """Forty simulated firms, validated, with their snapshot as of ``AS_OF``."""
    layout = DataLayout(tmp_path_factory.mktemp("store-sim"))
    cfg = load_simulation_config().with_overrides(seed=5, n_firms=40, history_years=2)
    run_simulation(cfg, layout)
    validate_tables(layout)
    build_entity_snapshot(layout, AS_OF)
    return layout


@pytest.fixture
def repo_dir(snapshot_layout: DataLayout, tmp_path: Path) -> Path:
    """A fresh Feast repository folder holding a copy of the snapshot."""
    src = features_dir(snapshot_layout) / "entity_features.parquet"
    folder = tmp_path / "feast"
    folder.mkdir()
    (folder / src.name).write_bytes(src.read_bytes())
    return folder


@pytest.fixture
def project() -> str:
    """A project name no other run uses (it prefixes every Redis key and registry row)."""
    return f"jifen_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_cleanup(project: str) -> Iterator[redis.Redis]:
    """The real Redis; every key of the test's project is deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    yield client
    suffix = project.encode()
    for key in client.scan_iter(count=1000):
        if key.endswith(suffix):
            client.delete(key)
    client.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A uniquely named database on the real PostgreSQL, dropped afterwards."""
    name = f"jifen_feast_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
