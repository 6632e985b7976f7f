"""Fixtures of the serving tests: audit stores on SQLite (tmp_path) and on a real PostgreSQL.

Every PostgreSQL test gets a database of its own, created on 127.0.0.1 and dropped after.
"""

import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from features.credit_code import make_credit_code
from serving.core.config import AuditTarget, PostgresTarget, SqliteTarget
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
