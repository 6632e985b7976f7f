"""Read one enterprise's full online feature vector, fast and in definition order.

``OnlineVectorReader`` resolves the feature service once, then per call reads each view
straight from the online store (SQLite or Redis) and converts the protobuf values. It
skips the general machinery of ``FeatureStore.get_online_features`` (request validation,
response building) that dominates the latency of a single lookup. On Redis, where Feast
keeps every view of an entity in one hash, the whole vector is one HMGET; on SQLite, one
query over the views' tables (UNION ALL). Other stores fall back to one read per view.
``get_online_vector`` goes through that public API and is what the CLI shows.
"""

from typing import TYPE_CHECKING, Any

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from features.definitions.model import load_feature_set
from jifen.errors import NotFoundError

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore, FeatureView

SERVICE_NAME = "credit_risk_v1"
JOIN_KEY = "credit_code"


def _python_value(value: Value) -> Any:
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    return getattr(value, kind)


class OnlineVectorReader:
    """Read a firm's vector of one feature service with one online read per view."""

    def __init__(self, store: "FeatureStore", service_name: str = SERVICE_NAME) -> None:
        self._store = store
        self._config = store.config
        service: FeatureService = store.get_feature_service(service_name)
        self._online_store = store._get_provider().online_store
        self._reads: list[tuple[FeatureView, list[str]]] = []
        for projection in service.feature_view_projections:
            view = store.get_feature_view(projection.name)
            self._reads.append((view, [f.name for f in projection.features]))
        self.names: tuple[str, ...] = tuple(n for _, names in self._reads for n in names)
        self._redis: Any = None
        self._sqlite: Any = None
        if self._config.online_store.type == "sqlite":
            self._prepare_sqlite()
        elif self._config.online_store.type == "redis":
            # The store's own redis-py client, so connection settings are Feast's.
            redis_store: Any = self._online_store
            self._redis = redis_store._get_client(self._config.online_store)
            self._fields = [_mmh3(f"{v.name}:{n}") for v, names in self._reads for n in names]
            self._fields += [f"_ts:{v.name}" for v, _ in self._reads]

    def _prepare_sqlite(self) -> None:
        from feast.infra.online_stores.sqlite import _quote_id, _table_id

        sqlite_store: Any = self._online_store
        self._sqlite = sqlite_store._get_conn(self._config)
        versioning = self._config.registry.enable_online_feature_view_versioning
        tables = [_quote_id(_table_id(self._config.project, v, versioning)) for v, _ in self._reads]
        self._sqlite_sql = " UNION ALL ".join(
            f"SELECT feature_name, value FROM {t} WHERE entity_key = ?" for t in tables
        )

    def get(self, credit_code: str) -> dict[str, Any] | None:
        """Return the vector of ``credit_code`` by feature name, or None if it is unknown."""
        key = EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=credit_code)])
        if self._redis is not None:
            return self._get_redis(key)
        if self._sqlite is not None:
            return self._get_sqlite(key)
        vector: dict[str, Any] = {}
        found = False
        for view, names in self._reads:
            # A copy: the Redis store appends its timestamp field to the list it is given.
            _, values = self._online_store.online_read(self._config, view, [key], list(names))[0]
            if values is not None:
                found = True
            for name in names:
                vector[name] = _python_value(values[name]) if values and name in values else None
        return vector if found else None

    def _get_sqlite(self, key: EntityKey) -> dict[str, Any] | None:
        version = self._config.entity_key_serialization_version
        blob = serialize_entity_key(key, entity_key_serialization_version=version)
        rows = self._sqlite.execute(self._sqlite_sql, [blob] * len(self._reads)).fetchall()
        if not rows:
            return None
        found = {name: value for name, value in rows}
        return {
            name: _python_value(Value.FromString(found[name])) if name in found else None
            for name in self.names
        }

    def _get_redis(self, key: EntityKey) -> dict[str, Any] | None:
        version = self._config.entity_key_serialization_version
        redis_key = serialize_entity_key(key, entity_key_serialization_version=version)
        raw = self._redis.hmget(redis_key + self._config.project.encode(), self._fields)
        if not any(raw[len(self.names) :]):
            return None
        return {
            name: _python_value(Value.FromString(blob)) if blob else None
            for name, blob in zip(self.names, raw, strict=False)
        }


def get_online_vector(
    store: "FeatureStore", credit_code: str, service_name: str = SERVICE_NAME
) -> dict[str, Any]:
    """Return the vector of ``credit_code`` through the Feast API, in definition order.

    Raises:
        NotFoundError: No online features for this enterprise.

    """
    service = store.get_feature_service(service_name)
    response = store.get_online_features(
        features=service, entity_rows=[{JOIN_KEY: credit_code}]
    ).to_dict()
    order = [f.name for f in load_feature_set().entity_features()]
    vector = {name: response[name][0] for name in order if name in response}
    if all(v is None for v in vector.values()):
        raise NotFoundError(f"no online features for credit_code {credit_code!r}")
    return vector
