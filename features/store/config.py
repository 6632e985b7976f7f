"""Feature-store settings (versioned YAML, pydantic) and the ``feature_store.yaml`` they write.

Defaults: DuckDB offline store, SQLite online store and a registry file, all under the
data directory's ``features/`` folder. By configuration the online store is Redis and
the registry a SQL registry on PostgreSQL. Feast's usage telemetry is always off.
"""

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jifen.errors import ConfigError

if TYPE_CHECKING:
    from feast import FeatureStore

FEATURE_STORE_YAML = "feature_store.yaml"
OnlineKind = Literal["sqlite", "redis"]
RegistryKind = Literal["file", "sql"]


class StoreSettings(BaseModel):
    """Where Feast keeps its registry and online features; validated before use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_version: Literal[1] = 1
    project: str = Field(default="jifen", pattern=r"^[a-z][a-z0-9_]{1,62}$")
    online: OnlineKind = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_key_ttl_seconds: int | None = Field(default=None, gt=0)
    registry: RegistryKind = "file"
    sql_registry_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/jifen_feast"
    registry_cache_ttl_seconds: int = Field(default=60, ge=0)
    entity_key_serialization_version: int = Field(default=3, ge=3)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"redis", "rediss"}:
            raise ValueError(f"redis_url must start with redis:// or rediss://; got {value!r}")
        return value

    @field_validator("sql_registry_url")
    @classmethod
    def _sql_scheme(cls, value: str) -> str:
        if not value.startswith("postgresql+psycopg://"):
            raise ValueError(
                f"sql_registry_url must start with postgresql+psycopg:// (psycopg 3); got {value!r}"
            )
        return value


def default_settings_path() -> Path:
    """Return the shipped settings file (SQLite online store, registry file)."""
    return Path(str(resources.files("features.store") / "store.yaml"))


def load_store_settings(path: Path | None = None, **overrides: Any) -> StoreSettings:
    """Read settings from YAML (default: the shipped file) and apply non-None overrides.

    Raises:
        ConfigError: The file is not valid YAML or a value breaks its rule.

    """
    source = path or default_settings_path()
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"store settings {source} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"store settings {source} must hold a mapping")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return StoreSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"store settings {source} are invalid: {exc}") from exc


def redis_connection_string(url: str) -> str:
    """Turn ``redis://[:password@]host:port/db`` into Feast's ``host:port,db=N`` form."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    text = f"{host}:{parts.port or 6379}"
    db = parts.path.strip("/")
    if db:
        text += f",db={int(db)}"
    if parts.password:
        text += f",password={unquote(parts.password)}"
    if parts.scheme == "rediss":
        text += ",ssl=true"
    return text


def feature_store_config(settings: StoreSettings, repo_dir: Path) -> dict[str, Any]:
    """Return the content of ``feature_store.yaml`` for these settings and repository folder."""
    repo_dir = repo_dir.resolve()  # Feast resolves relative paths against the repo folder
    online: dict[str, Any]
    if settings.online == "redis":
        online = {
            "type": "redis",
            "connection_string": redis_connection_string(settings.redis_url),
        }
        if settings.redis_key_ttl_seconds is not None:
            online["key_ttl_seconds"] = settings.redis_key_ttl_seconds
    else:
        online = {"type": "sqlite", "path": str(repo_dir / "online_store.db")}
    registry: dict[str, Any]
    if settings.registry == "sql":
        registry = {
            "registry_type": "sql",
            "path": settings.sql_registry_url,
            "cache_ttl_seconds": settings.registry_cache_ttl_seconds,
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True},
        }
    else:
        registry = {
            "registry_type": "file",
            "path": str(repo_dir / "registry.db"),
            "cache_ttl_seconds": settings.registry_cache_ttl_seconds,
        }
    return {
        "project": settings.project,
        "provider": "local",
        "registry": registry,
        "offline_store": {"type": "duckdb"},
        "online_store": online,
        "entity_key_serialization_version": settings.entity_key_serialization_version,
    }


def write_feature_store_yaml(settings: StoreSettings, repo_dir: Path) -> Path:
    """Write ``feature_store.yaml`` into ``repo_dir`` and return its path."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    path = repo_dir / FEATURE_STORE_YAML
    text = yaml.safe_dump(feature_store_config(settings, repo_dir), sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def disable_feast_usage() -> None:
    """Turn Feast's usage telemetry off; call before Feast is imported."""
    os.environ["FEAST_USAGE"] = "False"


def ensure_sql_database(url: str) -> bool:
    """Create the registry's PostgreSQL database if it is missing; True if it was created.

    Raises:
        ConfigError: The server cannot be reached with the URL's user and host.

    """
    import psycopg
    from psycopg import sql

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    name = unquote(parts.path.lstrip("/"))
    admin = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as con:
            found = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if found:
                return False
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    except psycopg.OperationalError as exc:
        raise ConfigError(f"sql_registry_url {parts.hostname}:{parts.port}: {exc}") from exc


def open_store(settings: StoreSettings, repo_dir: Path) -> "FeatureStore":
    """Write ``feature_store.yaml`` for ``settings`` and open the Feast store on it.

    With the SQL registry, its PostgreSQL database is created first if it does not exist.
    """
    disable_feast_usage()
    from feast import FeatureStore

    if settings.registry == "sql":
        ensure_sql_database(settings.sql_registry_url)

    write_feature_store_yaml(settings, repo_dir)
    return FeatureStore(repo_path=str(repo_dir.resolve()))
