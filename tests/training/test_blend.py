"""The points blend: an explicit logistic stack that never lets more points raise the PD."""

import numpy as np

from training.blend import PointsBlend
from training.calibrate import sigmoid


def _sample(points_effect: float, n: int = 20_000, seed: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    model_logit = rng.normal(-3.0, 1.0, n)
    points = rng.uniform(0, 100, n)
    y = rng.random(n) < sigmoid(model_logit + points_effect * (points - 50))
    return sigmoid(model_logit), points, y.astype(int)


def test_blend_learns_a_protective_points_weight_when_points_protect() -> None:
    """Where higher points truly lower default, the fitted weight is negative and free."""
    p_model, points, y = _sample(points_effect=-0.02)
    blend = PointsBlend("points_total").fit(p_model, points, y)
    assert blend.w_points_ < 0
    assert not blend.points_constrained_
    assert abs(blend.w_points_ - (-0.02)) < 0.006


def test_blend_holds_the_points_weight_at_zero_against_the_declared_direction() -> None:
    """Where the free fit would let more points raise the PD, the weight is held at 0."""
    p_model, points, y = _sample(points_effect=+0.02)
    blend = PointsBlend("points_total").fit(p_model, points, y)
    assert blend.points_constrained_
    assert blend.unconstrained_w_points_ > 0
    assert blend.w_points_ == 0.0
    low, high = blend.predict(p_model[:5], np.zeros(5)), blend.predict(p_model[:5], np.full(5, 99))
    np.testing.assert_array_equal(low, high)
    assert "held at 0" in blend.describe()


def test_blend_round_trips_through_its_json_form() -> None:
    """The bundle's blend.json rebuilds a blend that predicts the same PDs."""
    p_model, points, y = _sample(points_effect=+0.02)
    blend = PointsBlend("points_total").fit(p_model, points, y)
    again = PointsBlend.from_dict(blend.to_dict())
    assert again.points_constrained_ == blend.points_constrained_
    np.testing.assert_array_equal(again.predict(p_model, points), blend.predict(p_model, points))
