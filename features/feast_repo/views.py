"""One feature view per enterprise feature group, its schema taken from the YAML definitions."""

from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Bool, Float64, Int64, PrimitiveFeastType, String

from features.definitions.model import Group, load_feature_set
from features.feast_repo.entities import enterprise
from features.feast_repo.sources import entity_features_source

FEATURE_SET = load_feature_set("v1")
FEAST_TYPES: dict[str, PrimitiveFeastType] = {
    "float64": Float64,
    "int64": Int64,
    "bool": Bool,
    "string": String,
}
# A snapshot stays valid until the next build; a year bounds how stale a served vector can be.
TTL = timedelta(days=365)


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

ENTERPRISE_VIEWS = (
    enterprise_electricity,
    enterprise_checkins,
    enterprise_tax,
    enterprise_credit,
    enterprise_innovation,
    enterprise_firm,
)
