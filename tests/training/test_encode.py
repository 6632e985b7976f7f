"""Encoding: WoE fitted on train, identical after a JSON round trip, exact float32 output."""

import json

import numpy as np
import pandas as pd

from training.encode import FeatureEncoder


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 600
    industry = rng.choice(["biotech", "next_gen_it", "new_materials"], size=n)
    y = (rng.random(n) < np.where(industry == "biotech", 0.2, 0.05)).astype(int)
    ratio = rng.normal(size=n)
    ratio[::10] = np.nan
    frame = pd.DataFrame({"industry": industry, "ratio": ratio, "staff": rng.integers(3, 99, n)})
    frame.loc[5, "industry"] = None
    return frame, y


def test_encoder_gives_riskier_category_the_higher_woe() -> None:
    """WoE is the smoothed default log-odds against the prior: biotech (20 %) ranks above."""
    frame, y = _frame()
    woe = FeatureEncoder(["industry"], ["ratio", "staff"]).fit(frame, y).woe_["industry"]
    assert woe["biotech"] > 0 > woe["next_gen_it"]


def test_encoder_round_trips_through_json_exactly() -> None:
    """The bundle's encoder.json rebuilds an encoder with bit-identical output."""
    frame, y = _frame()
    encoder = FeatureEncoder(["industry"], ["ratio", "staff"]).fit(frame, y)
    rebuilt = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert np.array_equal(encoder.transform(frame), rebuilt.transform(frame), equal_nan=True)
    assert encoder.transform(frame).dtype == np.float32


def test_encoder_maps_unseen_category_to_prior_and_missing_to_its_own_value() -> None:
    """A category never seen in train maps to 0 (the prior); missing is its own category."""
    frame, y = _frame()
    encoder = FeatureEncoder(["industry"], ["ratio", "staff"]).fit(frame, y)
    new = pd.DataFrame({"industry": ["quantum", None], "ratio": [0.1, 0.2], "staff": [5, 6]})
    out = encoder.transform(new)
    assert out[0, 0] == 0.0
    assert out[1, 0] == np.float32(encoder.woe_["industry"]["__missing__"])


def test_encoder_fills_missing_only_where_train_had_none() -> None:
    """A column complete in train gets its median for a missing value; one with gaps keeps NaN."""
    frame, y = _frame()
    encoder = FeatureEncoder([], ["ratio", "staff"]).fit(frame, y)
    out = encoder.transform(pd.DataFrame({"ratio": [np.nan], "staff": [np.nan]}))
    assert np.isnan(out[0, 0])
    assert out[0, 1] == np.float32(np.median(frame["staff"]))


def test_encoder_fit_transform_uses_out_of_fold_woe_for_train_rows() -> None:
    """Train rows get out-of-fold values, so they differ from the full-train mapping."""
    frame, y = _frame()
    encoder = FeatureEncoder(["industry"], ["ratio"], folds=5, seed=1)
    oof = encoder.fit_transform(frame, y)
    assert not np.array_equal(oof[:, 0], encoder.transform(frame)[:, 0])
