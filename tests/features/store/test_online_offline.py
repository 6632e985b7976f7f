"""The online vector equals the offline vector of the same as-of date, on every backend."""

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from features.definitions.model import ENTITY_GROUPS, load_feature_set
from features.layout import DataLayout
from features.pipelines.training import point_in_time_features
from features.store.config import StoreSettings, load_store_settings, open_store
from features.store.materialize import materialize_snapshot
from features.store.online import OnlineVectorReader, get_online_vector
from jifen.errors import NotFoundError
from tests.features.store.conftest import AS_OF, REDIS_URL


def _offline_rows(repo_dir: Path) -> list[dict[str, Any]]:
    rows = pq.read_table(repo_dir / "entity_features.parquet").to_pylist()
    assert len(rows) >= 20
    return rows


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _assert_online_matches_offline(settings: StoreSettings, repo_dir: Path) -> None:
    store = open_store(settings, repo_dir)
    try:
        result = materialize_snapshot(store, repo_dir)
        rows = _offline_rows(repo_dir)
        assert result.entities == len(rows)
        reader = OnlineVectorReader(store)
        for number, row in enumerate(rows):
            code = row["credit_code"]
            fast = reader.get(code)
            assert fast is not None
            expected = {k: row[k] for k in reader.names}
            assert len(expected) == len(load_feature_set().entity_features())
            assert all(_same(fast[k], expected[k]) for k in expected), code
            if number < 3:  # Feast's public API costs ~0.1 s a call: a few firms suffice
                public = get_online_vector(store, code)
                assert list(public) == [k for k in row if k in expected]
                assert all(_same(public[k], expected[k]) for k in expected), code
    finally:
        store.teardown()


def test_online_vector_equals_offline_vector_on_sqlite(repo_dir: Path, project: str) -> None:
    """SQLite online store and registry file: every firm's vector equals its snapshot row."""
    _assert_online_matches_offline(load_store_settings(project=project), repo_dir)


def test_offline_snapshot_equals_pipeline_as_of_the_same_date(
    snapshot_layout: DataLayout, repo_dir: Path
) -> None:
    """The snapshot row of a firm is the pipeline's feature row for (firm, as-of date)."""
    rows = _offline_rows(repo_dir)
    codes = [r["credit_code"] for r in rows[:5]]
    spine = pa.table({"credit_code": codes, "as_of": [AS_OF] * len(codes)})
    direct = {
        r["credit_code"]: r for r in point_in_time_features(snapshot_layout, spine).to_pylist()
    }
    for row in rows[:5]:
        for name, value in row.items():
            if name not in ("event_timestamp", "created_timestamp"):
                assert _same(direct[row["credit_code"]][name], value), name


def test_unknown_firm_has_no_online_vector(repo_dir: Path, project: str) -> None:
    """A firm never materialized raises NotFoundError; the fast reader returns None."""
    store = open_store(load_store_settings(project=project), repo_dir)
    try:
        materialize_snapshot(store, repo_dir)
        with pytest.raises(NotFoundError, match="no online features"):
            get_online_vector(store, "91110108MA01ABCD5T")
        assert OnlineVectorReader(store).get("91110108MA01ABCD5T") is None
    finally:
        store.teardown()


@pytest.mark.integration
def test_online_vector_equals_offline_vector_on_real_redis(
    repo_dir: Path, project: str, redis_cleanup: redis.Redis
) -> None:
    """Redis on 127.0.0.1:6379: the same equality, then no key of the project is left."""
    settings = load_store_settings(project=project, online="redis", redis_url=REDIS_URL)
    _assert_online_matches_offline(settings, repo_dir)
    left = [k for k in redis_cleanup.scan_iter(count=1000) if k.endswith(project.encode())]
    assert left == []


@pytest.mark.integration
def test_rebuilt_snapshot_of_same_date_replaces_redis_vectors(
    repo_dir: Path, project: str, redis_cleanup: redis.Redis
) -> None:
    """Re-materializing a corrected snapshot of the same as-of date serves the new values."""
    settings = load_store_settings(project=project, online="redis", redis_url=REDIS_URL)
    store = open_store(settings, repo_dir)
    materialize_snapshot(store, repo_dir)
    path = repo_dir / "entity_features.parquet"
    table = pq.read_table(path)
    index = table.column_names.index("firm_registered_capital_wan")
    bumped = pa.array([12345.0] * table.num_rows)
    pq.write_table(table.set_column(index, "firm_registered_capital_wan", bumped), path)
    materialize_snapshot(store, repo_dir)
    code = table.column("credit_code")[0].as_py()
    assert get_online_vector(store, code)["firm_registered_capital_wan"] == 12345.0
    store.teardown()


@pytest.mark.integration
def test_sql_registry_on_real_postgresql(
    repo_dir: Path, project: str, pg_database: str, redis_cleanup: redis.Redis
) -> None:
    """SQL registry in a fresh PostgreSQL database with Redis online: same equality."""
    settings = load_store_settings(
        project=project, online="redis", redis_url=REDIS_URL, registry="sql",
        sql_registry_url=pg_database,
    )  # fmt: skip
    _assert_online_matches_offline(settings, repo_dir)
    store = open_store(settings, repo_dir)
    names = sorted(v.name for v in store.list_feature_views())
    assert names == [] or "enterprise_tax" in names  # registry readable after teardown


@pytest.mark.integration
def test_sql_registry_holds_the_versioned_service(
    repo_dir: Path, project: str, pg_database: str
) -> None:
    """After apply, the PostgreSQL registry serves credit_risk_v1 with one view per group."""
    settings = load_store_settings(project=project, registry="sql", sql_registry_url=pg_database)
    store = open_store(settings, repo_dir)
    try:
        materialize_snapshot(store, repo_dir)
        reopened = open_store(settings, repo_dir)
        service = reopened.get_feature_service("credit_risk_v1")
        assert len(service.feature_view_projections) == len(ENTITY_GROUPS)
        assert service.tags["feature_set_version"] == "v1"
    finally:
        store.teardown()
