"""The default hazard has the non-linear shape and the interactions the model should find."""

import numpy as np

from features.simulate import load_simulation_config
from features.simulate.latent import State, hazard, step


def _hazard(
    h: float, stress: float = 0.0, quality: float = 0.0, leverage: float = 0.4, young: bool = False
) -> float:
    hz = load_simulation_config().hazard
    return float(
        hazard(
            np.array([h]),
            np.array([stress]),
            np.array([quality]),
            np.array([leverage]),
            np.array([young]),
            hz,
        )[0]
    )


def test_hazard_rises_sharply_below_the_health_threshold() -> None:
    """A unit of health lost below the threshold costs far more than one lost above it."""
    threshold = load_simulation_config().hazard.cliff_threshold
    above = _hazard(threshold + 1.0) / _hazard(threshold + 2.0)
    below = _hazard(threshold - 1.0) / _hazard(threshold)
    assert below > 3 * above


def test_quality_protects_young_firms_more() -> None:
    """Raising quality cuts the hazard of a startup by more than that of an older firm."""
    young = _hazard(0.0, quality=0.0, young=True) / _hazard(0.0, quality=1.0, young=True)
    older = _hazard(0.0, quality=0.0) / _hazard(0.0, quality=1.0)
    assert young > older > 1


def test_heavy_leverage_amplifies_stress() -> None:
    """The same stress raises the hazard more for a heavily indebted firm."""
    light = _hazard(-0.5, stress=1.0, leverage=0.1) / _hazard(-0.5, stress=0.0, leverage=0.1)
    heavy = _hazard(-0.5, stress=1.0, leverage=0.9) / _hazard(-0.5, stress=0.0, leverage=0.9)
    assert heavy > light


def test_stress_builds_up_for_months_after_a_shock() -> None:
    """A single shock drags health down most two to three months later, not at once."""
    hc = load_simulation_config().health
    state = State(x=np.zeros(1), pressure=np.array([hc.stress_mean]), stress=np.zeros(1))
    no_shock = np.zeros(1)
    path = []
    rng = np.random.default_rng(0)
    for _ in range(8):
        state = step(state, np.zeros(1), no_shock, rng, hc)
        path.append(float(state.stress[0]))
    peak = int(np.argmax(path))
    assert 1 <= peak <= 4
    assert path[-1] < path[peak]
