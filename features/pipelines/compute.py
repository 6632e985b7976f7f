"""Compute the enterprise features of a spine of (credit_code, as_of) rows, point in time.

Each group has one SQL file in ``features/pipelines/sql/``; it reads the ``spine`` and the
``src_*`` tables and may only use records known on each row's as-of date. The SQL output
must match the group's YAML definitions exactly (names), so the definitions and the code
cannot drift apart. Missing values stay NULL unless a definition states ``fill_missing``.
"""

import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Final

import duckdb
import pyarrow as pa

from features.definitions.model import Dtype, FeatureDefinition, FeatureSet, Group
from features.pipelines.points import compute_points_group
from jifen.errors import ConfigError, DataContractError

GROUP_ORDER: Final = (
    Group.FIRM,
    Group.INNOVATION,  # before tax, whose revenue ratios read feat_innovation
    Group.ELECTRICITY,
    Group.CHECKINS,
    Group.TAX,
    Group.CREDIT,
    Group.POINTS,  # scored by the points engine, not SQL (features.pipelines.points)
)
SQL_TYPES: Final[dict[Dtype, str]] = {
    "float64": "DOUBLE",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
}
_PARAM = re.compile(r"\$([a-z_]+)")

StepCallback = Callable[[str], None]


def read_sql(name: str) -> str:
    """Text of one SQL file shipped in ``features/pipelines/sql``."""
    return (resources.files("features.pipelines") / "sql" / f"{name}.sql").read_text("utf-8")


def sql_params(feature_set: FeatureSet) -> dict[str, float | int]:
    """Named parameters the SQL files may use, taken from the feature set's rules."""
    rules = feature_set.rules
    return {
        "min_ratio": rules.unit_error.min_ratio,
        "max_ratio": rules.unit_error.max_ratio,
        "factor": rules.unit_error.factor,
        "median_window_months": rules.unit_error.median_window_months,
        "low_share": rules.low_month_share_of_median,
        "known_after_days": rules.checkin_known_after_days,
    }


def run_sql(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, float | int | str], target: str
) -> None:
    """Create temp table ``target`` from ``sql``, passing only the parameters it names."""
    used = {name: params[name] for name in set(_PARAM.findall(sql))}
    con.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS {sql}", used)


def load_spine(con: duckdb.DuckDBPyConnection, spine: pa.Table) -> int:
    """Create temp table ``spine`` (distinct credit_code, as_of, as_of_month); return its rows.

    Raises:
        DataContractError: A column is missing or an as-of date is NULL.

    """
    missing = {"credit_code", "as_of"} - set(spine.column_names)
    if missing:
        raise DataContractError(f"spine must have columns credit_code and as_of; missing {missing}")
    con.register("spine_input", spine)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE spine AS SELECT DISTINCT "
            "CAST(credit_code AS VARCHAR) AS credit_code, CAST(as_of AS DATE) AS as_of, "
            "CAST(date_trunc('month', CAST(as_of AS DATE)) AS DATE) AS as_of_month "
            "FROM spine_input"
        )
    finally:
        con.unregister("spine_input")
    nulls = con.execute(
        "SELECT count(*) FROM spine WHERE as_of IS NULL OR credit_code IS NULL"
    ).fetchone()
    if nulls and nulls[0]:
        raise DataContractError(
            f"spine credit_code and as_of must not be NULL; {nulls[0]} rows are"
        )
    rows = con.execute("SELECT count(*) FROM spine").fetchone()
    return int(rows[0]) if rows else 0


def compute_entity_features(
    con: duckdb.DuckDBPyConnection,
    feature_set: FeatureSet,
    on_step: StepCallback | None = None,
) -> None:
    """Create temp table ``entity_features``: one row per spine row, enterprise features.

    Expects the ``spine`` (see ``load_spine``) and ``src_*`` tables in ``con``. Columns are
    credit_code, as_of and the entity features in definition order, typed and filled as
    their definitions say.

    Raises:
        ConfigError: A group's SQL returns other columns than its definitions name.

    """
    params = sql_params(feature_set)
    for group in GROUP_ORDER:
        if on_step is not None:
            on_step(f"features: {group.value}")
        if group is Group.POINTS:
            compute_points_group(con, feature_set)
        else:
            run_sql(con, read_sql(group.value), params, f"feat_{group.value}")
        _check_columns(con, group, feature_set.by_group(group))
    selects = ["s.credit_code", "s.as_of"]
    joins = []
    for group in GROUP_ORDER:
        alias = f"g_{group.value}"
        joins.append(
            f"LEFT JOIN feat_{group.value} AS {alias} "
            f"ON {alias}.credit_code = s.credit_code AND {alias}.as_of = s.as_of"
        )
        selects.extend(column_expr(f, alias) for f in feature_set.by_group(group))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE entity_features AS SELECT "
        + ", ".join(selects)
        + " FROM spine AS s "
        + " ".join(joins)
    )


def column_expr(feature: FeatureDefinition, alias: str) -> str:
    """Return the SQL selecting one feature, filled as defined and cast to its dtype."""
    expr = f'{alias}."{feature.name}"'
    if feature.fill_missing is not None:
        fill = feature.fill_missing
        literal = ("TRUE" if fill else "FALSE") if isinstance(fill, bool) else repr(float(fill))
        expr = f"coalesce({expr}, {literal})"
    return f'CAST({expr} AS {SQL_TYPES[feature.dtype]}) AS "{feature.name}"'


def _check_columns(
    con: duckdb.DuckDBPyConnection, group: Group, definitions: tuple[FeatureDefinition, ...]
) -> None:
    described = con.execute(f"DESCRIBE feat_{group.value}").fetchall()
    produced = {row[0] for row in described} - {"credit_code", "as_of"}
    defined = {f.name for f in definitions}
    if produced != defined:
        raise ConfigError(
            f"the {group.value} group and its definitions must name the same "
            f"features; only in SQL: {sorted(produced - defined)}, "
            f"only in YAML: {sorted(defined - produced)}"
        )
