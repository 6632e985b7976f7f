"""Versioned innovation-points indicator catalogues: pydantic models and a YAML loader."""

from features.catalogue.loader import list_catalogues, load_catalogue
from features.catalogue.models import (
    Catalogue,
    Indicator,
    IndicatorClass,
    MissingPolicy,
    Part,
    Stage,
    WhitelistRule,
)
from features.catalogue.rules import (
    Condition,
    PercentileRule,
    ScoringRule,
    StageRule,
    StageRules,
    ThresholdRule,
)
from features.catalogue.sources import (
    ColumnSource,
    EventCountSource,
    FlagSource,
    GrowthSource,
    RatioSource,
    Source,
    SumSource,
)

__all__ = [
    "Catalogue",
    "ColumnSource",
    "Condition",
    "EventCountSource",
    "FlagSource",
    "GrowthSource",
    "Indicator",
    "IndicatorClass",
    "MissingPolicy",
    "Part",
    "PercentileRule",
    "RatioSource",
    "ScoringRule",
    "Source",
    "Stage",
    "StageRule",
    "StageRules",
    "SumSource",
    "ThresholdRule",
    "WhitelistRule",
    "list_catalogues",
    "load_catalogue",
]
