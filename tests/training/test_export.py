"""ONNX export: exact to 1e-5 in PD over ≥ 10k rows, or refused."""

import lightgbm as lgb
import numpy as np
import pytest

from training.bundle import load_bundle
from training.errors import ExportParityError
from training.export import export_checked, float32_thresholds, to_onnx
from training.pipeline import TrainResult
from training.scorer import OnnxModel, Scorer, lightgbm_probability


def _two_decimal_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train on even hundredths; score odd hundredths, which sit on the split midpoints."""
    rng = np.random.default_rng(2)
    x = (rng.integers(0, 50, size=(5000, 3)) * 2 / 100).astype(np.float32)
    y = (rng.random(5000) < 1 / (1 + np.exp(-(4 * x[:, 0] - 2 * x[:, 1] - 1)))).astype(int)
    odd = ((rng.integers(0, 50, size=(20000, 3)) * 2 + 1) / 100).astype(np.float32)
    return x, y, odd


def _fit(x: np.ndarray, y: np.ndarray) -> lgb.Booster:
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "num_leaves": 31}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=100)


def test_naive_conversion_breaks_parity_on_values_at_split_midpoints() -> None:
    """Why thresholds are rewritten: double midpoints rounded to float32 flip some rows."""
    x, y, odd = _two_decimal_data()
    booster = _fit(x, y)
    naive = OnnxModel(to_onnx(booster)).probability(odd)
    assert np.abs(naive - lightgbm_probability(booster)(odd)).max() > 1e-3


def test_float32_thresholds_keep_predictions_and_make_onnx_exact() -> None:
    """Rounding thresholds down to float32 changes no float32 prediction; ONNX then agrees."""
    x, y, odd = _two_decimal_data()
    booster = _fit(x, y)
    safe = float32_thresholds(booster)
    trained = lightgbm_probability(booster)(odd)
    assert np.array_equal(lightgbm_probability(safe)(odd), trained)
    assert np.abs(OnnxModel(to_onnx(safe)).probability(odd) - trained).max() <= 1e-6


def test_byod_export_meets_parity_over_ten_thousand_rows(
    trained: tuple[TrainResult, object],
) -> None:
    """The BYOD run checked ≥ 10k rows (resampled) and PD(ONNX) is within 1e-5 of LightGBM."""
    parity = trained[0].parity
    assert parity.rows >= 10_000 and parity.resampled
    assert parity.max_abs_pd <= 1e-5
    assert parity.grade_mismatches == 0


def test_export_is_refused_when_parity_exceeds_tolerance(
    trained: tuple[TrainResult, object], loan_book: object
) -> None:
    """With a tolerance below float32 noise the same export is refused, with the numbers."""
    bundle = load_bundle(trained[0].bundle_path)
    booster = bundle.booster()
    reference = Scorer(
        bundle.encoder, lightgbm_probability(booster), bundle.calibrator, bundle.scale, bundle.blend
    )
    with pytest.raises(ExportParityError, match=r"max \|PD\(ONNX\) - PD\(LightGBM\)\| = .*refused"):
        export_checked(booster, reference, loan_book, min_rows=10_000, tolerance=1e-15, seed=0)  # type: ignore[arg-type]
