"""Store settings validate their values and write the feature_store.yaml Feast expects."""

from pathlib import Path

import pytest
import yaml

from features.store.config import (
    load_store_settings,
    redis_connection_string,
    write_feature_store_yaml,
)
from jifen.errors import ConfigError


def test_default_settings_write_duckdb_sqlite_and_registry_file(tmp_path: Path) -> None:
    """Shipped defaults: DuckDB offline, SQLite online and registry file under the repo."""
    path = write_feature_store_yaml(load_store_settings(), tmp_path)
    config = yaml.safe_load(path.read_text())
    assert config["offline_store"] == {"type": "duckdb"}
    assert config["online_store"] == {"type": "sqlite", "path": str(tmp_path / "online_store.db")}
    assert config["registry"]["registry_type"] == "file"
    assert config["registry"]["path"] == str(tmp_path / "registry.db")
    assert config["project"] == "jifen"


def test_redis_and_sql_registry_by_configuration(tmp_path: Path) -> None:
    """online=redis and registry=sql give Feast's Redis string and a psycopg 3 URL."""
    settings = load_store_settings(
        online="redis", registry="sql",
        sql_registry_url="postgresql+psycopg://postgres@127.0.0.1:5432/feast_x",
    )  # fmt: skip
    config = yaml.safe_load(write_feature_store_yaml(settings, tmp_path).read_text())
    assert config["online_store"] == {"type": "redis", "connection_string": "127.0.0.1:6379,db=0"}
    assert config["registry"]["registry_type"] == "sql"
    assert config["registry"]["path"].startswith("postgresql+psycopg://")


def test_redis_url_becomes_feast_connection_string() -> None:
    """Host, port, database and password are carried over; the port defaults to 6379."""
    assert (
        redis_connection_string("redis://:s3cret@cache:6380/2") == "cache:6380,db=2,password=s3cret"
    )
    assert redis_connection_string("redis://127.0.0.1") == "127.0.0.1:6379"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"online": "memcached"}, "online"),
        ({"redis_url": "http://127.0.0.1:6379"}, "redis_url must start with redis://"),
        ({"sql_registry_url": "postgresql://postgres@h/db"}, "postgresql\\+psycopg://"),
        ({"project": "Bad-Name"}, "project"),
    ],
)
def test_invalid_settings_are_refused_with_the_field_named(
    override: dict[str, str], message: str
) -> None:
    """Each unsafe value raises ConfigError whose message names the field or rule."""
    with pytest.raises(ConfigError, match=message):
        load_store_settings(**override)


def test_settings_file_must_be_a_mapping(tmp_path: Path) -> None:
    """A YAML list instead of a mapping is refused."""
    path = tmp_path / "store.yaml"
    path.write_text("- online\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_store_settings(path)


@pytest.mark.integration
def test_missing_registry_database_is_created_once() -> None:
    """ensure_sql_database creates the registry database on the real PostgreSQL, once."""
    import uuid

    import psycopg

    from features.store.config import ensure_sql_database

    name = f"jifen_feast_test_{uuid.uuid4().hex[:12]}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        assert ensure_sql_database(url) is True
        assert ensure_sql_database(url) is False
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_unreachable_registry_server_is_a_config_error() -> None:
    """A registry URL whose server does not answer raises ConfigError naming host and port."""
    from features.store.config import ensure_sql_database

    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:1\b"):
        ensure_sql_database("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
