"""Calibration on the validation vintage: it improves the Brier score of a skewed model."""

import json
from typing import Literal

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from training.calibrate import Calibrator
from training.errors import TrainingError

Method = Literal["platt", "isotonic"]


def _skewed_model_scores() -> tuple[np.ndarray, np.ndarray]:
    """Validation probabilities of a model trained with scale_pos_weight=8 (inflated PDs)."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(4000, 3)).astype(np.float32)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(x[:, 0] - 2.8)))).astype(int)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "scale_pos_weight": 8}
    booster = lgb.train(params, lgb.Dataset(x[:3000], y[:3000]), num_boost_round=80)
    return np.asarray(booster.predict(x[3000:])), y[3000:]


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_improves_brier_over_raw_on_validation(method: Method) -> None:
    """Both calibrators bring inflated probabilities back to the observed default rate."""
    p_raw, y = _skewed_model_scores()
    calibrated = Calibrator(method).fit(p_raw, y).predict(p_raw)
    assert brier_score_loss(y, calibrated) < 0.9 * brier_score_loss(y, p_raw)
    assert calibrated.mean() == pytest.approx(y.mean(), abs=0.01)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrator_round_trips_through_json(method: Method) -> None:
    """calibrator.json rebuilds the same function; PDs respect the floor."""
    p_raw, y = _skewed_model_scores()
    calibrator = Calibrator(method, pd_floor=0.0003).fit(p_raw, y)
    rebuilt = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert np.array_equal(calibrator.predict(p_raw), rebuilt.predict(p_raw))
    assert rebuilt.predict(np.array([1e-9])).min() >= 0.0003


def test_platt_fails_when_model_ranks_validation_backwards() -> None:
    """A negative Platt slope means the model is anti-predictive: training stops."""
    p_raw, y = _skewed_model_scores()
    with pytest.raises(TrainingError, match=r"Platt slope is -\d"):
        Calibrator("platt").fit(1 - p_raw, y)
