"""Fixtures of the serving tests: audit stores on SQLite (tmp_path) and on a real PostgreSQL,
and the scoring world (tiny trained bundles, a materialized Feast online store).

Every PostgreSQL test gets a database of its own, created on 127.0.0.1 and dropped after.
Heavy imports (training, Feast) happen inside the session fixtures that need them.
"""

import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from features.credit_code import make_credit_code
from serving.core.config import (
    AuditTarget,
    PostgresTarget,
    ServingSettings,
    SqliteTarget,
    load_settings,
)
from serving.core.db import Store, open_store
from serving.schemas import DecisionDraft

PG_ADMIN_DSN = os.environ.get(
    "JIFEN_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CREDIT_CODE = make_credit_code("110108", "MA01A2B3")


def make_draft(i: int = 0, *, decision_id: str | None = None) -> DecisionDraft:
    """A realistic decision draft; ``i`` varies the content."""
    return DecisionDraft(
        decision_id=decision_id or f"dec_test_{i:06d}_{uuid.uuid4().hex[:8]}",
        caller_key_id="a1b2c3d4e5f6",
        model_version="jifen-pd/3",
        catalogue_version="national-2024-trial",
        feature_as_of={
            "tax": datetime(2025, 3, 31, tzinfo=UTC),
            "electricity": datetime(2025, 4, 20, tzinfo=UTC),
        },
        inputs={
            "credit_code": CREDIT_CODE,
            "product": "points_loan",
            "amount_wan": 500.0 + i,
            "features": {"rd_expense_growth": 0.12, "staff_checkins_90d": 40 + i},
        },
        outputs={"pd": 0.0213 + i / 1e6, "grade": "B", "decision": "approve", "limit_wan": 400},
        explanation={
            "reasons": [{"feature": "rd_expense_growth", "shap": -0.3, "zh": "研发费用增长"}]
        },
    )


@dataclass
class Backend:
    """An audit database a test can open through the store or tamper with directly."""

    kind: str
    target: AuditTarget

    def open(self, **kwargs: float) -> Store:
        return open_store(self.target, **kwargs)

    def tamper(self, *statements: str) -> None:
        """Run SQL with the append-only triggers out of the way, as an intruder would."""
        if isinstance(self.target, SqliteTarget):
            conn = sqlite3.connect(self.target.path, isolation_level=None)
            conn.execute("DROP TRIGGER audit_records_no_update")
            conn.execute("DROP TRIGGER audit_records_no_delete")
            for statement in statements:
                conn.execute(statement)
            conn.close()
        else:
            assert isinstance(self.target, PostgresTarget)
            with psycopg.connect(self.target.dsn, autocommit=True) as conn:
                conn.execute("DROP TRIGGER audit_records_append_only ON audit_records")
                for statement in statements:
                    conn.execute(statement)
                conn.close()

    def query(self, statement: str) -> list[tuple[object, ...]]:
        """Read rows directly, bypassing the store."""
        if isinstance(self.target, SqliteTarget):
            conn = sqlite3.connect(self.target.path)
            try:
                return conn.execute(statement).fetchall()
            finally:
                conn.close()
        assert isinstance(self.target, PostgresTarget)
        with psycopg.connect(self.target.dsn) as conn:
            return conn.execute(statement).fetchall()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin DSN of the local PostgreSQL; fail (not skip) when it is down."""
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_DSN} (run 'make services'): {exc}")
    return PG_ADMIN_DSN


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards even if connections remain."""
    name = f"jifen_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Backend:
    return Backend("sqlite", SqliteTarget(tmp_path / "audit.sqlite3"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The same audit database contract, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return Backend("sqlite", SqliteTarget(tmp_path / "audit.sqlite3"))
    dsn: str = request.getfixturevalue("postgres_dsn")
    return Backend("postgres", PostgresTarget(dsn))


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    opened = backend.open()
    try:
        yield opened
    finally:
        opened.close()


# --- the scoring world: a tiny bundle, a Feast online store, a served app ----------------------

FEATURE_AS_OF = date(2025, 10, 15)
"""As-of date of the simulated online store; applications are dated a few days later."""
APPLICATION_DATE = "2025-10-20"
FIXTURE_COLUMNS = {
    "industry": "firm_industry",
    "staff_count": "inno_staff_total",
    "rd_staff_share": "inno_rd_staff_share",
    "invention_patents": "inno_invention_patents",
    "revenue_growth": "inno_revenue_growth",
    "elec_kwh_change_3m": "elec_yoy_3m",
    "overdue_count_24m": "credit_overdue_count_24m",
    "amount_wan": "app_amount_wan",
    "term_months": "app_term_months",
}
"""The training fixture's columns renamed to feature-set v1 names, so the store serves them."""
MODEL_NAME = "jifen-pd-test"


def loan_frame(n: int = 3000, seed: int = 3) -> Any:
    """The training package's loan-book fixture under feature-set v1 column names."""
    from training.synthetic import make_loan_book

    return make_loan_book(n, seed=seed).rename(columns=FIXTURE_COLUMNS)


def training_spec() -> dict[str, Any]:
    """The training spec of the fixture loan book (as ``spec.yaml`` holds it)."""
    return {
        "spec_version": 1,
        "name": MODEL_NAME,
        "target": "loan_status",
        "positive_label": "bad",
        "id_column": "application_id",
        "time_column": "application_date",
        "categorical": ["firm_industry"],
        "numeric": [c for c in FIXTURE_COLUMNS.values() if c != "firm_industry"]
        + ["firm_age_years"],
        "drop": ["zone", "debt_ratio", "current_ratio"],
        "monotone": {"credit_overdue_count_24m": 1},
        "points_column": "points_total",
        "oracle_column": "oracle_pd",
    }


def train_tiny_bundle(
    folder: Path,
    out: Path,
    seed: int,
    tracking: Any = None,
    catalogue: str = "national-2024-trial",
    serve: str = "lightgbm",
) -> Path:
    """Train a bundle with a dozen trees on the fixture; return its folder.

    ``tracking`` (a ``training.tracking.TrackingTarget``) also logs and registers the run;
    ``serve`` names the candidate the bundle holds (``lightgbm`` or ``scorecard``).
    """
    from training.pipeline import TrainRequest, train

    folder.mkdir(parents=True, exist_ok=True)
    dataset = folder / "loans.csv"
    loan_frame().to_csv(dataset, index=False)
    spec = training_spec()
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    config = {
        "seed": seed,
        "tuning": {"n_trials": 1, "max_boost_rounds": 40, "early_stopping_rounds": 10},
        "parity": {"min_rows": 2000},
        "selection": {"serve": serve},
        "cv": {"folds": 3, "small_data_repeats": 1},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = train(
        TrainRequest(
            dataset,
            folder / "spec.yaml",
            out,
            config_path=folder / "config.yaml",
            n_trials=1,
            catalogue_version=catalogue,
            tracking=tracking,
        )
    )
    return result.bundle_path


@dataclass(frozen=True)
class TrainedBundles:
    """Two versions of one model under ``root/<name>/``; ``newest`` is served by default."""

    root: Path
    older: Path
    newest: Path


@pytest.fixture(scope="session")
def trained_bundles(tmp_path_factory: pytest.TempPathFactory) -> TrainedBundles:
    work = tmp_path_factory.mktemp("train")
    root = work / "models"
    first = train_tiny_bundle(work / "a", root, seed=11)
    second = train_tiny_bundle(work / "b", root, seed=12)
    older, newest = sorted([first, second], key=lambda p: p.name)
    return TrainedBundles(root, older, newest)


@dataclass(frozen=True)
class FeatureRepo:
    """A materialized Feast repository (SQLite online store) and the firms it serves."""

    path: Path
    credit_codes: list[str]


@pytest.fixture(scope="session")
def feature_repo(tmp_path_factory: pytest.TempPathFactory) -> FeatureRepo:
    """Thirty simulated firms' features as of ``FEATURE_AS_OF``, loaded into Feast (~20 s)."""
    import pyarrow.parquet as pq

    from features.contracts.validate import validate_tables
    from features.layout import DataLayout
    from features.pipelines.training import build_entity_snapshot, features_dir
    from features.simulate import load_simulation_config, run_simulation
    from features.store.config import load_store_settings, open_store
    from features.store.materialize import materialize_snapshot

    layout = DataLayout(tmp_path_factory.mktemp("feature-store"))
    config = load_simulation_config().with_overrides(seed=5, n_firms=30, history_years=2)
    run_simulation(config, layout)
    validate_tables(layout)
    build_entity_snapshot(layout, FEATURE_AS_OF)
    repo = features_dir(layout)
    materialize_snapshot(open_store(load_store_settings(), repo), repo)
    table = pq.read_table(repo / "entity_features.parquet", columns=["credit_code"])
    return FeatureRepo(repo, sorted(str(c) for c in table.column(0).to_pylist()))


def scoring_settings(
    tmp_path: Path, bundles: Path, repo: Path, **overrides: object
) -> ServingSettings:
    """Settings of an app that serves ``bundles`` with features from ``repo``."""
    return load_settings(
        data_dir=tmp_path,
        audit_dsn=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        bundle_dir=bundles,
        feature_repo_dir=repo,
        **overrides,
    )


def application_body(credit_code: str, **changes: Any) -> dict[str, Any]:
    """A valid /v1/score body; ``changes`` maps dotted paths to new values."""
    body: dict[str, Any] = {
        "enterprise": {"credit_code": credit_code},
        "application": {
            "product": "points_loan",
            "purpose": "rd_investment",
            "amount_wan": 300,
            "term_months": 12,
            "application_date": APPLICATION_DATE,
        },
        "inline_features": {},
    }
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        target = body
        for part in parents:
            target = target[part]
        target[leaf] = value
    return body
