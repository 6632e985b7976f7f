"""The ``points`` feature group: innovation points of each spine row, point in time.

Unlike the other groups this one is not SQL: the points engine scores the population with
the catalogue named in the feature set's rules. The ``src_*`` tables already loaded for
the SQL groups are its input, so every group reads the same validated records.
"""

from typing import Final

import duckdb
import pandas as pd

from features.catalogue import load_catalogue
from features.definitions.model import FeatureSet
from features.points.pairs import compute_points_for_pairs
from jifen.errors import ConfigError

TABLE: Final = "feat_points"
_FIXED: Final = {
    "points_total": "total_points",
    "points_pct_zone_industry": "pct_zone_industry",
    "points_whitelist": "whitelist",
    "points_missing_indicators": "n_missing",
}


def compute_points_group(con: duckdb.DuckDBPyConnection, feature_set: FeatureSet) -> None:
    """Create temp table ``feat_points`` (credit_code, as_of, points features) in ``con``.

    Raises:
        ConfigError: The catalogue's classes do not match the ``points_<class>`` features.

    """
    rule = feature_set.rules.points
    catalogue = load_catalogue(rule.catalogue)
    wanted = [f.name for f in feature_set.features if f.group.value == "points"]
    columns = dict(_FIXED) | {f"points_{c}": f"class_{c}" for c in catalogue.class_ids()}
    if set(wanted) != set(columns):
        raise ConfigError(
            f"points features {sorted(wanted)} do not match catalogue {catalogue.version} "
            f"(expected {sorted(columns)})"
        )
    spine = con.sql("SELECT credit_code, as_of FROM spine").df()
    result = compute_points_for_pairs(
        spine,
        con.sql("SELECT * FROM src_innovation_filings").df(),
        con.sql("SELECT * FROM src_enterprises").df(),
        con.sql("SELECT * FROM src_credit_events").df(),
        catalogue,
        snap=rule.snap,
    )
    summary = result.summary
    frame = pd.DataFrame({"credit_code": summary["credit_code"], "as_of": spine["as_of"]})
    for feature, source in columns.items():
        frame[feature] = summary[source].where(summary["scored"]) if source in summary else None
    con.register("points_frame", frame)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT credit_code, "
            "CAST(as_of AS DATE) AS as_of, * EXCLUDE (credit_code, as_of) FROM points_frame"
        )
    finally:
        con.unregister("points_frame")
