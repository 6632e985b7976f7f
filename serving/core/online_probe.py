"""Whether the online store holds any firm at all: readiness needs more than "it answers".

An online store that answers but is empty (materialized into another project, wiped, or
never filled) makes every score a 404 "has no features in the online store", and yet the
feature source's own check (a read of an unknown firm) passes. ``FirmPresence`` looks for
one stored row of the project: on SQLite, in the project's tables; on Redis, one key of
the project (Feast suffixes every key with the project's name), scanning a bounded part of
the key space so that a readiness probe stays cheap. It reads Feast's layouts as
``serving.core.feature_store`` and ``features.store.online`` do.
"""

import logging
import sqlite3
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

REDIS_SCAN_BATCHES: Final = 50
"""Redis ``SCAN`` calls (about 1,000 keys each) a check may take before it stops looking;
an unfinished scan is not called empty."""
_REDIS_SCAN_COUNT: Final = 1000
_EMPTY_HINT: Final = "every score would be a 404; materialize it (`jifen features materialize`)"


class FirmPresence:
    """Checks that the online store of a Feast repository holds at least one firm.

    Args:
        repo_dir: the Feast repository folder (``feature_store.yaml``).

    """

    def __init__(self, repo_dir: Path) -> None:
        self.repo_dir = repo_dir
        self._config: Any = None

    def _repo_config(self) -> Any:
        if self._config is None:
            from feast.repo_config import load_repo_config

            self._config = load_repo_config(self.repo_dir, self.repo_dir / "feature_store.yaml")
        return self._config

    def check(self) -> str | None:
        """Return why no firm could be scored from the store (None: it holds firms)."""
        try:
            config = self._repo_config()
        except Exception as exc:  # Feast raises many types for a bad repository
            return f"the Feast repository {self.repo_dir} cannot be read: {exc}"
        kind = config.online_store.type
        if kind == "sqlite":
            return self._check_sqlite(config)
        if kind == "redis":
            return self._check_redis(config)
        return None  # another store: its own check is all there is

    def _check_sqlite(self, config: Any) -> str | None:
        from feast.infra.online_stores.sqlite import SqliteOnlineStore

        path = Path(SqliteOnlineStore._get_db_path(config))
        prefix = config.project.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            return f"the online store {path} cannot be opened: {exc}"
        try:
            tables = [
                str(row[0])
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? "
                    "ESCAPE '\\'",
                    (f"{prefix}\\_%",),
                )
            ]
            for table in tables:
                quoted = table.replace('"', '""')
                if conn.execute(f'SELECT 1 FROM "{quoted}" LIMIT 1').fetchone() is not None:
                    return None
        except sqlite3.Error as exc:
            return f"the online store {path} cannot be read: {exc}"
        finally:
            conn.close()
        return (
            f"the online store {path} holds no firm of project {config.project!r} "
            f"({len(tables)} table(s), all empty): {_EMPTY_HINT}"
        )

    def _check_redis(self, config: Any) -> str | None:
        import redis
        from feast.infra.online_stores.redis import RedisOnlineStore

        client = RedisOnlineStore()._get_client(config.online_store)
        pattern = b"*" + config.project.encode("utf-8")
        cursor = 0
        try:
            for _ in range(REDIS_SCAN_BATCHES):
                cursor, keys = client.scan(cursor, match=pattern, count=_REDIS_SCAN_COUNT)
                if keys:
                    return None
                if cursor == 0:
                    return (
                        f"the Redis online store holds no firm of project {config.project!r}: "
                        f"{_EMPTY_HINT}"
                    )
        except redis.RedisError as exc:
            return f"the Redis online store cannot be read: {exc}"
        log.debug(
            "no key of %s in %d Redis scans; not called empty", config.project, REDIS_SCAN_BATCHES
        )
        return None
