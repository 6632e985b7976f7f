"""Apply the Feast definitions and load the offline snapshot into the online store."""

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.pipelines.training import ENTITY_FEATURES_FILE, ENTITY_KEY, EVENT_TIMESTAMP
from jifen.errors import NotFoundError

if TYPE_CHECKING:
    from feast import FeatureStore


@dataclass(frozen=True)
class MaterializeResult:
    """What was loaded online: views, entities and the event-time window."""

    views: tuple[str, ...]
    entities: int
    start: datetime
    end: datetime


def repo_objects(offline_path: Path) -> list[Any]:
    """Return the ``features/feast_repo`` objects, their source pointed at ``offline_path``.

    The module-level objects are copied, never changed, so importing the repository
    elsewhere still sees its own definitions.
    """
    from features.feast_repo.definitions import (
        ENTERPRISE_VIEWS,
        credit_risk_v1,
        enterprise,
        entity_features_source,
    )

    source = copy.deepcopy(entity_features_source)
    source.file_options.uri = str(offline_path.resolve())
    views = []
    for view in ENTERPRISE_VIEWS:
        clone = copy.copy(view)
        clone.batch_source = source
        views.append(clone)
    return [enterprise, source, *views, credit_risk_v1]


def apply_definitions(store: "FeatureStore", repo_dir: Path) -> list[str]:
    """Register entity, source, views and services; return the view names."""
    objects = repo_objects(repo_dir / ENTITY_FEATURES_FILE)
    store.apply(objects)
    return [o.name for o in objects if type(o).__name__ == "FeatureView"]


def snapshot_window(offline_path: Path) -> tuple[datetime, datetime, int]:
    """Earliest and latest event timestamps of the snapshot, and its row count.

    Raises:
        NotFoundError: The snapshot has not been built yet.

    """
    if not offline_path.is_file():
        raise NotFoundError(
            f"offline snapshot {offline_path} does not exist; run `jifen features build` first"
        )
    column = pq.read_table(offline_path, columns=[EVENT_TIMESTAMP]).column(EVENT_TIMESTAMP)
    bounds = pc.min_max(column).as_py()
    return bounds["min"], bounds["max"], len(column)


def materialize_snapshot(
    store: "FeatureStore", repo_dir: Path, *, replace: bool = True
) -> MaterializeResult:
    """Apply the definitions, then load the whole snapshot into the online store.

    Args:
        store: the opened Feast store.
        repo_dir: folder holding ``feature_store.yaml`` and the offline snapshot.
        replace: on Redis, first delete this project's vectors. Feast's Redis writer keeps
            a stored vector whose event time is not older than the incoming one, so a
            rebuilt snapshot of the same as-of date would otherwise not replace it (SQLite
            overwrites by itself). Readers see no vector between delete and load.

    """
    views = apply_definitions(store, repo_dir)
    start, latest, rows = snapshot_window(repo_dir / ENTITY_FEATURES_FILE)
    if replace and store.config.online_store.type == "redis":
        online: Any = store._get_provider().online_store
        online.delete_entity_values(store.config, [ENTITY_KEY])
    end = latest + timedelta(seconds=1)  # Feast's window excludes its end
    store.materialize(start_date=start, end_date=end, feature_views=views)
    return MaterializeResult(tuple(views), rows, start, end)
