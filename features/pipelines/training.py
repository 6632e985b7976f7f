"""Build the training set and the per-enterprise offline snapshot, point in time.

``build_training_set`` gives one row per application made on or before the build date,
with the enterprise's features as of its own application date, the application fields
and the outcome as ``label_*`` columns (never features). ``build_entity_snapshot`` gives
one row per enterprise with its features as of the build date and an ``event_timestamp``,
the offline source the Feast feature views read.
"""

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from features.definitions.model import FeatureSet, Group, load_feature_set
from features.layout import DataLayout
from features.pipelines.compute import (
    StepCallback,
    column_expr,
    compute_entity_features,
    load_spine,
    read_sql,
    run_sql,
    sql_params,
)
from features.pipelines.sources import DEFAULT_STAGE, SourceStage, load_sources
from features.pipelines.spec import write_training_spec

TRAINING_SET_FILE: Final = "training_set.parquet"
ENTITY_FEATURES_FILE: Final = "entity_features.parquet"
KEY_COLUMNS: Final = ("application_id", "credit_code", "application_date")
LABEL_COLUMNS: Final = ("label_default_flag", "label_outcome_status", "label_default_date")
ENTITY_KEY: Final = "credit_code"
EVENT_TIMESTAMP: Final = "event_timestamp"
CREATED_TIMESTAMP: Final = "created_timestamp"
METADATA_KEY: Final = b"jifen.features"


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: where, how many rows and features, how long it took."""

    path: Path
    rows: int
    features: int
    feature_set_version: str
    as_of: date
    seconds: float


def features_dir(layout: DataLayout) -> Path:
    """Folder of built feature tables (training set, offline snapshot, Feast repo)."""
    return layout.root / "features"


def connect() -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection for one build."""
    return duckdb.connect(":memory:")


def training_rows(
    con: duckdb.DuckDBPyConnection,
    feature_set: FeatureSet,
    as_of: date,
    on_step: StepCallback | None = None,
) -> pa.Table:
    """Training rows for the ``src_*`` tables already loaded in ``con``.

    Columns: ``KEY_COLUMNS``, every feature in definition order, then ``LABEL_COLUMNS``.
    """
    params: dict[str, float | int | str] = {**sql_params(feature_set), "build_date": str(as_of)}
    run_sql(con, read_sql("apps"), params, "apps")
    spine = con.sql("SELECT credit_code, application_date AS as_of FROM apps").to_arrow_table()
    load_spine(con, spine)
    compute_entity_features(con, feature_set, on_step)
    if on_step is not None:
        on_step("features: application")
    run_sql(con, read_sql("application"), params, "feat_application")
    selects = ["a.application_id", "a.credit_code", "a.application_date"]
    for feature in feature_set.features:
        alias = "p" if feature.group is Group.APPLICATION else "f"
        selects.append(column_expr(feature, alias))
    selects += [
        "CAST(a.default_flag AS BIGINT) AS label_default_flag",
        "a.outcome_status AS label_outcome_status",
        "a.default_date AS label_default_date",
    ]
    sql = (
        f"SELECT {', '.join(selects)} FROM apps AS a "
        "LEFT JOIN entity_features AS f "
        "ON f.credit_code = a.credit_code AND f.as_of = a.application_date "
        "LEFT JOIN feat_application AS p ON p.application_id = a.application_id "
        "ORDER BY a.application_date, a.application_id"
    )
    return con.sql(sql).to_arrow_table()


def build_training_set(
    layout: DataLayout,
    as_of: date,
    *,
    stage: SourceStage = DEFAULT_STAGE,
    feature_set: FeatureSet | None = None,
    on_step: StepCallback | None = None,
) -> BuildResult:
    """Write ``features/training_set.parquet`` for applications made on or before ``as_of``.

    Each row's features use only records known on its application date, so the same
    application gets the same row whatever the build date. The matching training spec
    (``training_spec.json``) is written beside it.
    """
    started = time.perf_counter()
    fs = feature_set or load_feature_set()
    con = connect()
    try:
        if on_step is not None:
            on_step(f"loading {stage} tables")
        load_sources(con, layout, stage)
        table = training_rows(con, fs, as_of, on_step)
    finally:
        con.close()
    path = features_dir(layout) / TRAINING_SET_FILE
    _write(table, path, fs, as_of, kind="training_set")
    write_training_spec(fs, path.parent, as_of)
    return BuildResult(
        path, table.num_rows, len(fs.features), fs.feature_set_version, as_of,
        time.perf_counter() - started,
    )  # fmt: skip


def entity_rows(
    con: duckdb.DuckDBPyConnection,
    feature_set: FeatureSet,
    as_of: date,
    on_step: StepCallback | None = None,
) -> pa.Table:
    """One row per enterprise with its features as of ``as_of`` and Feast timestamps."""
    spine = con.sql(
        "SELECT credit_code, CAST($as_of AS DATE) AS as_of FROM src_enterprises "
        "WHERE founding_date <= CAST($as_of AS DATE)",
        params={"as_of": str(as_of)},
    ).to_arrow_table()
    load_spine(con, spine)
    compute_entity_features(con, feature_set, on_step)
    names = ", ".join(f'"{f.name}"' for f in feature_set.entity_features())
    table = con.sql(
        f"SELECT credit_code, {names} FROM entity_features ORDER BY credit_code"
    ).to_arrow_table()
    return with_timestamps(table, as_of)


def with_timestamps(table: pa.Table, as_of: date) -> pa.Table:
    """Add Feast's event and created timestamps (UTC, microseconds: DuckDB 2 needs ``us``)."""
    event = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    ts_type = pa.timestamp("us", tz="UTC")
    table = table.append_column(EVENT_TIMESTAMP, pa.array([event] * table.num_rows, ts_type))
    created = datetime.now(UTC).replace(microsecond=0)
    return table.append_column(CREATED_TIMESTAMP, pa.array([created] * table.num_rows, ts_type))


def build_entity_snapshot(
    layout: DataLayout,
    as_of: date,
    *,
    stage: SourceStage = DEFAULT_STAGE,
    feature_set: FeatureSet | None = None,
    on_step: StepCallback | None = None,
) -> BuildResult:
    """Write ``features/entity_features.parquet``: every enterprise's features as of ``as_of``."""
    started = time.perf_counter()
    fs = feature_set or load_feature_set()
    con = connect()
    try:
        load_sources(con, layout, stage, tables=_entity_tables())
        table = entity_rows(con, fs, as_of, on_step)
    finally:
        con.close()
    path = features_dir(layout) / ENTITY_FEATURES_FILE
    _write(table, path, fs, as_of, kind="entity_snapshot")
    return BuildResult(
        path, table.num_rows, len(fs.entity_features()), fs.feature_set_version, as_of,
        time.perf_counter() - started,
    )  # fmt: skip


def point_in_time_features(
    layout: DataLayout,
    spine: pa.Table,
    *,
    stage: SourceStage = DEFAULT_STAGE,
    feature_set: FeatureSet | None = None,
) -> pa.Table:
    """Enterprise features for any (credit_code, as_of) rows, each as of its own date.

    Returns one row per distinct spine row: credit_code, as_of, then the entity features.
    """
    fs = feature_set or load_feature_set()
    con = connect()
    try:
        load_sources(con, layout, stage, tables=_entity_tables())
        load_spine(con, spine)
        compute_entity_features(con, fs)
        return con.sql("SELECT * FROM entity_features ORDER BY credit_code, as_of").to_arrow_table()
    finally:
        con.close()


def _entity_tables() -> tuple[str, ...]:
    return (
        "enterprises",
        "innovation_filings",
        "electricity_monthly",
        "checkins_daily",
        "tax_monthly",
        "credit_events",
    )


def read_metadata(path: Path) -> dict[str, object]:
    """Return the build metadata stored in a feature table's Parquet footer."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return dict(json.loads(raw)) if raw else {}


def _write(table: pa.Table, path: Path, fs: FeatureSet, as_of: date, kind: str) -> None:
    meta = {
        "kind": kind,
        "feature_set_version": fs.feature_set_version,
        "as_of": as_of.isoformat(),
        "label_columns": list(LABEL_COLUMNS) if kind == "training_set" else [],
    }
    schema_meta = {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table.replace_schema_metadata(schema_meta), tmp)
    tmp.replace(path)
