"""The training spec that goes with a built training set.

The feature definitions already say which columns are features, which are categorical
and which way each should move risk; the spec written beside ``training_set.parquet``
passes that to ``jifen train`` (the same spec format a bank uses for its own data), so the
two never drift apart. The innovation points enter the model through the points blend,
not as tree features, so only ``points_total`` is named (as the points column).
"""

import json
from datetime import date
from pathlib import Path
from typing import Any, Final

import pandas as pd

from features.definitions.model import FeatureSet, Group

SPEC_FILE: Final = "training_spec.json"
POINTS_COLUMN: Final = "points_total"
SEGMENTS: Final = ("firm_industry", "app_product")
OUTCOME_MONTHS: Final = 12
"""An application's outcome matures 12 months after it is made (the raw contract's rule)."""
TEST_MONTHS: Final = 12
"""The test part is the latest 12 months of matured applications."""


def test_start(as_of: date) -> date:
    """First application date of the test part: the latest TEST_MONTHS of matured outcomes.

    Applications made after ``as_of`` minus OUTCOME_MONTHS are immature; the test part is the
    TEST_MONTHS before that, e.g. 2024-01-01 for a build as of 2025-12-31.
    """
    start = pd.Timestamp(as_of) - pd.DateOffset(months=OUTCOME_MONTHS + TEST_MONTHS)
    return (start + pd.Timedelta(days=1)).date()


def training_spec(
    feature_set: FeatureSet, name: str = "jifen-portfolio", as_of: date | None = None
) -> dict[str, Any]:
    """Return the dataset spec of a training set built with ``feature_set`` as of ``as_of``."""
    model_features = [f for f in feature_set.features if f.group is not Group.POINTS]
    points = [f.name for f in feature_set.by_group(Group.POINTS)]
    return {
        "spec_version": 1,
        "name": name,
        "target": "label_default_flag",
        "positive_label": 1,
        "id_column": "application_id",
        "time_column": "application_date",
        # A firm's repeat applications stay on one side of every cross-validation fold.
        "group_column": "credit_code",
        "status_column": "label_outcome_status",
        "immature_values": ["immature"],
        "categorical": [f.name for f in model_features if f.dtype == "string"],
        "numeric": [f.name for f in model_features if f.dtype != "string"],
        "drop": ["credit_code", "label_default_date", *(p for p in points if p != POINTS_COLUMN)],
        "monotone": {
            f.name: f.monotone.constraint
            for f in model_features
            if f.dtype != "string" and f.monotone.constraint != 0
        },
        "points_column": POINTS_COLUMN,
        "segments": list(SEGMENTS),
        **({"split": {"test_start": test_start(as_of).isoformat()}} if as_of else {}),
    }


def write_training_spec(feature_set: FeatureSet, folder: Path, as_of: date | None = None) -> Path:
    """Write the spec as JSON into ``folder`` and return its path."""
    path = folder / SPEC_FILE
    spec = training_spec(feature_set, as_of=as_of)
    path.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    return path
