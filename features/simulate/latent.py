"""The hidden process: long-run quality q, monthly health h_t and the default hazard.

Health is an AR(1) deviation x_t around a mean set by quality, stage and industry, minus
a stress component s_t. Stress builds up over a few months from an underlying problem
p_t (a lost customer, a failed product) that arrives as an occasional shock and fades:

    h_t = w*q + stage(age_t) + industry + x_t - s_t
    x_t = phi*x_{t-1} + sigma*e_t            (sigma larger for startups)
    p_t = decay*p_{t-1} + J_t*M_t            J_t ~ Bernoulli(p*exp(slope*q)), M_t ~ Exp(mean)
    s_t = onset*s_{t-1} + (1 - onset)*p_t    (stress peaks 2-3 months after the shock)

The monthly hazard is logistic with a cliff below a health threshold, quality that
protects young firms more, and leverage that amplifies stress. The same ``step`` and
``hazard`` serve the realised paths and the oracle's Monte Carlo, so the oracle is exact
up to Monte Carlo error.
"""

from dataclasses import dataclass
from typing import Self

import numpy as np

from features.simulate.calendar import Floats, Ints, Timeline
from features.simulate.config import HazardConfig, HealthConfig, SimulationConfig
from features.simulate.population import Bools, Firms

_STARTUP_YEARS = 3.0
_MATURE_YEARS = 10.0
_DAYS_PER_YEAR = 365.25
NO_MONTH = -1


@dataclass(frozen=True)
class LatentParams:
    """Per-firm constants of the process (a subset can be taken for the oracle)."""

    quality: Floats
    leverage: Floats
    founding: Ints
    offset: Floats
    """Quality and industry part of the health mean."""
    stress_prob: Floats

    def take(self, index: Ints) -> Self:
        """Return the parameters of the firms at ``index`` (repeats allowed)."""
        return type(self)(
            quality=self.quality[index],
            leverage=self.leverage[index],
            founding=self.founding[index],
            offset=self.offset[index],
            stress_prob=self.stress_prob[index],
        )


def latent_params(firms: Firms, cfg: SimulationConfig) -> LatentParams:
    """Derive the process constants of a chunk's firms."""
    industry_offset = np.array([ind.health_offset for ind in cfg.industries.values()])
    hc = cfg.health
    return LatentParams(
        quality=firms.quality,
        leverage=firms.leverage,
        founding=firms.founding,
        offset=hc.quality_weight * firms.quality + industry_offset[firms.industry],
        stress_prob=np.clip(hc.stress_prob * np.exp(hc.stress_quality_slope * firms.quality), 0, 1),
    )


def month_start_day(timeline: Timeline, window_month: Ints | int) -> Ints:
    """Days since epoch of the first day of a window month (any index, also past the window)."""
    months = timeline.first_month + np.asarray(window_month, dtype=np.int64)
    return np.asarray(months.astype("datetime64[D]").astype(np.int64))


def stage_terms(age_years: Floats, hc: HealthConfig) -> tuple[Floats, Floats, Bools]:
    """Return the stage's health offset, volatility factor and the young flag for each age."""
    young = age_years < _STARTUP_YEARS
    stages = hc.stage_offsets
    offset = np.where(
        young,
        stages["startup"],
        np.where(age_years < _MATURE_YEARS, stages["growth"], stages["mature"]),
    )
    sigma_factor = np.where(young, hc.startup_sigma_factor, 1.0)
    return offset, sigma_factor, young


@dataclass(frozen=True)
class State:
    """The moving part of the process at one month: deviation, problem and stress."""

    x: Floats
    pressure: Floats
    stress: Floats


def step(
    state: State,
    sigma_factor: Floats,
    stress_prob: Floats,
    rng: np.random.Generator,
    hc: HealthConfig,
) -> State:
    """Advance the AR(1) deviation, the underlying problem and the stress by one month."""
    x = state.x
    x_next = hc.phi * x + hc.sigma * sigma_factor * rng.standard_normal(x.shape)
    shock = np.zeros(x.shape)
    hit = np.flatnonzero(rng.random(x.shape) < stress_prob)  # rare: draw sizes for hits only
    shock.flat[hit] = rng.exponential(hc.stress_mean, len(hit))
    pressure = hc.stress_decay * state.pressure + shock
    stress = hc.stress_onset * state.stress + (1 - hc.stress_onset) * pressure
    return State(x=x_next, pressure=pressure, stress=stress)


def hazard(
    h: Floats, s: Floats, quality: Floats, leverage: Floats, young: Bools, hz: HazardConfig
) -> Floats:
    """Monthly probability of default given the state (non-linear, with interactions)."""
    k = hz.cliff_sharpness
    cliff = np.logaddexp(0.0, k * (hz.cliff_threshold - h)) / k  # smooth hinge below threshold
    z = (
        hz.intercept
        - hz.health_slope * h
        + hz.cliff_slope * cliff
        - hz.quality_slope * quality * (1 + hz.young_quality_boost * young)
        + hz.young_offset * young
        + hz.leverage_stress_slope * leverage * s
    )
    return np.minimum(1.0 / (1.0 + np.exp(-z)), hz.max_monthly)


@dataclass(frozen=True)
class Paths:
    """Realised latent paths of a chunk and the defaults they produced.

    Arrays over months have ``burn_in + n_months`` columns; column ``burn_in + t`` is
    window month t.
    """

    x: Floats
    pressure: Floats
    stress: Floats
    health: Floats
    default_month: Ints
    """Window month of default, or -1."""
    default_day: Ints
    """Default date as days since epoch, or -1."""
    exit_month: Ints
    """Last window month with any alternative data (n_months - 1 when the firm goes on)."""


def simulate_paths(
    firms: Firms,
    params: LatentParams,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Paths:
    """Run the process month by month (vectorised over firms) and draw the defaults."""
    hc, n, burn = cfg.health, firms.n, timeline.burn_in
    total = timeline.n_total
    starts = month_start_day(timeline, np.arange(-burn, timeline.n_months))
    x = np.empty((n, total))
    p = np.empty((n, total))
    s = np.empty((n, total))
    h = np.empty((n, total))
    founding_month = firms.founding_month(timeline)
    default_month = np.full(n, NO_MONTH, dtype=np.int64)
    default_day = np.full(n, NO_MONTH, dtype=np.int64)
    zero = np.zeros(n)
    state = State(
        x=rng.standard_normal(n) * hc.sigma / np.sqrt(1 - hc.phi**2), pressure=zero, stress=zero
    )
    for j in range(total):
        age = (starts[j] - params.founding) / _DAYS_PER_YEAR
        stage_offset, sigma_factor, young = stage_terms(age, hc)
        state = step(state, sigma_factor, params.stress_prob, rng, hc)
        x[:, j], p[:, j], s[:, j] = state.x, state.pressure, state.stress
        h[:, j] = params.offset + stage_offset + state.x - state.stress
        t = j - burn
        u = rng.random(n)
        if t < 0:
            continue
        lam = hazard(h[:, j], state.stress, params.quality, params.leverage, young, cfg.hazard)
        at_risk = (default_month == NO_MONTH) & (founding_month < t)
        hit = at_risk & (u < lam)
        default_month[hit] = t
        default_day[hit] = starts[j] + np.floor(
            rng.random(int(hit.sum())) * timeline.days_in_month[t]
        ).astype(np.int64)
    lo, hi = cfg.population.exit_months_after_default
    exit_after = rng.integers(lo, hi + 1, n)
    exit_month = np.where(
        default_month == NO_MONTH,
        timeline.n_months - 1,
        np.minimum(default_month + exit_after, timeline.n_months - 1),
    )
    return Paths(
        x=x,
        pressure=p,
        stress=s,
        health=h,
        default_month=default_month,
        default_day=default_day,
        exit_month=exit_month.astype(np.int64),
    )


def window(paths_array: Floats, timeline: Timeline) -> Floats:
    """Return the window months of a (firm, month) latent array, without burn-in."""
    return paths_array[:, timeline.burn_in :]


def post_default_factor(paths: Paths, timeline: Timeline, decay: float) -> Floats:
    """Activity multiplier per (firm, window month): 1 before default, decaying after."""
    t = np.arange(timeline.n_months)[None, :]
    since = t - paths.default_month[:, None]
    defaulted = (paths.default_month[:, None] != NO_MONTH) & (since >= 0)
    return np.where(defaulted, decay ** (since + 0.5), 1.0)


def active_months(firms: Firms, paths: Paths, timeline: Timeline) -> Bools:
    """Mask of (firm, window month) with alternative data: founded, not exited, has data."""
    t = np.arange(timeline.n_months)[None, :]
    founded = t >= firms.founding_month(timeline)[:, None]
    return founded & (t <= paths.exit_month[:, None]) & ~firms.no_alt_data[:, None]
