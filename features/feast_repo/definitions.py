"""Feast objects of the credit-risk feature store: entity, source, views and services.

One file on purpose: ``feast apply`` imports every file of the repository as a top-level
module, so objects shared between files would be collected twice under two names.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float64, Int64, PrimitiveFeastType, String

from features.definitions.model import Group, load_feature_set

FEATURE_SET = load_feature_set("v1")
OFFLINE_FILE = "entity_features.parquet"
FEAST_TYPES: dict[str, PrimitiveFeastType] = {
    "float64": Float64,
    "int64": Int64,
    "bool": Bool,
    "string": String,
}
# A snapshot stays valid until the next build; a year bounds how stale a served vector can be.
TTL = timedelta(days=365)

enterprise = Entity(
    name="enterprise",
    join_keys=["credit_code"],
    value_type=ValueType.STRING,
    description="Technology SME, keyed by its 18-character unified social credit code.",
)

# Relative to the working directory under plain `feast apply`; features.store points it
# at the snapshot of the data directory when it applies these objects.
entity_features_source = FileSource(
    name="entity_features",
    path=OFFLINE_FILE,
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Enterprise features as of the build date (point in time, DuckDB pipelines).",
)


def _view(group: Group) -> FeatureView:
    return FeatureView(
        name=f"enterprise_{group.value}",
        entities=[enterprise],
        ttl=TTL,
        source=entity_features_source,
        schema=[
            Field(name=f.name, dtype=FEAST_TYPES[f.dtype], description=f.description_en)
            for f in FEATURE_SET.by_group(group)
        ],
        online=True,
        tags={"group": group.value, "feature_set_version": FEATURE_SET.feature_set_version},
    )


enterprise_electricity = _view(Group.ELECTRICITY)
enterprise_checkins = _view(Group.CHECKINS)
enterprise_tax = _view(Group.TAX)
enterprise_credit = _view(Group.CREDIT)
enterprise_innovation = _view(Group.INNOVATION)
enterprise_firm = _view(Group.FIRM)
enterprise_points = _view(Group.POINTS)

ENTERPRISE_VIEWS = (
    enterprise_electricity,
    enterprise_checkins,
    enterprise_tax,
    enterprise_credit,
    enterprise_innovation,
    enterprise_firm,
    enterprise_points,
)

credit_risk_v1 = FeatureService(
    name="credit_risk_v1",
    features=list(ENTERPRISE_VIEWS),
    description="All enterprise features of feature set v1, for the credit-risk model.",
    tags={"feature_set_version": FEATURE_SET.feature_set_version},
)
