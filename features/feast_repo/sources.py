"""Offline source: the per-enterprise snapshot written by ``jifen features build``."""

from feast import FileSource

OFFLINE_FILE = "entity_features.parquet"

entity_features_source = FileSource(
    name="entity_features",
    path=OFFLINE_FILE,
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Enterprise features as of the build date (point in time, DuckDB pipelines).",
)
