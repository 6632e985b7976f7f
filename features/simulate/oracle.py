"""The hidden truth: the true 12-month PD of each application, and each firm's latent state.

The true PD conditions on everything true at the application date (quality, leverage,
age, this month's health and stress) and integrates over future health paths by
Rao-Blackwellised Monte Carlo: for each of K simulated paths the probability of
surviving the window is the product of (1 - monthly hazard), with the first and the
thirteenth month counted only for the days inside the window; the PD is one minus the
mean survival. No Bernoulli draw is involved, so the estimate has low variance.
"""

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from features.simulate.applications import Applications
from features.simulate.calendar import Floats, Ints, Timeline
from features.simulate.config import SimulationConfig
from features.simulate.latent import (
    NO_MONTH,
    LatentParams,
    Paths,
    State,
    hazard,
    month_start_day,
    stage_terms,
    step,
)
from features.simulate.population import Firms, Strings

_DAYS_PER_YEAR = 365.25
_WINDOW_MONTHS = 12

APPLICATIONS_TRUTH_SCHEMA = pa.schema(
    [
        ("application_id", pa.string()),
        ("credit_code", pa.string()),
        ("true_pd_12m", pa.float64()),
        ("quality", pa.float64()),
        ("health", pa.float64()),
        ("stress", pa.float64()),
        ("hazard_month", pa.float64()),
    ]
)
FIRMS_TRUTH_SCHEMA = pa.schema(
    [
        ("credit_code", pa.string()),
        ("quality", pa.float64()),
        ("leverage", pa.float64()),
        ("stress_prob", pa.float64()),
        ("no_alt_data", pa.bool_()),
        ("default_month", pa.date32()),
        ("default_date", pa.date32()),
        ("exit_month", pa.date32()),
    ]
)


def _days_in_month(timeline: Timeline, month: Ints) -> Ints:
    return month_start_day(timeline, month + 1) - month_start_day(timeline, month)


def true_pd(
    apps: Applications,
    params: LatentParams,
    paths: Paths,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> tuple[Floats, Floats]:
    """Return (true 12-month PD, hazard of the application month) for every application."""
    pd_out = np.empty(len(apps.firm))
    hazard_now = np.empty(len(apps.firm))
    size = cfg.oracle.batch_size
    for lo in range(0, len(apps.firm), size):
        rows = np.arange(lo, min(lo + size, len(apps.firm)))
        pd_out[rows], hazard_now[rows] = _batch(apps, rows, params, paths, timeline, cfg, rng)
    return pd_out, hazard_now


def _batch(
    apps: Applications,
    rows: Ints,
    params: LatentParams,
    paths: Paths,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> tuple[Floats, Floats]:
    hc, hz, k = cfg.health, cfg.hazard, cfg.oracle.paths
    firm, month = apps.firm[rows], apps.month[rows]
    col = timeline.burn_in + month
    p = params.take(firm)
    start = month_start_day(timeline, month)
    dim = _days_in_month(timeline, month)
    # Month of application: only the days after the application date are at risk.
    age = (start - p.founding) / _DAYS_PER_YEAR
    _, _, young = stage_terms(age, hc)
    lam0 = hazard(
        paths.health[firm, col], paths.stress[firm, col], p.quality, p.leverage, young, hz
    )
    at_or_before = (apps.day[rows] - start + 1) / dim
    log_surv0 = np.log1p(-lam0) - np.log1p(-lam0 * at_or_before)
    # Month 12 after: only the days up to the end of the window.
    last = month + _WINDOW_MONTHS
    last_fraction = (apps.window_end[rows] - month_start_day(timeline, last) + 1) / _days_in_month(
        timeline, last
    )
    state = State(
        x=np.repeat(paths.x[firm, col][:, None], k, axis=1),
        pressure=np.repeat(paths.pressure[firm, col][:, None], k, axis=1),
        stress=np.repeat(paths.stress[firm, col][:, None], k, axis=1),
    )
    log_surv = np.zeros_like(state.x)
    for m in range(1, _WINDOW_MONTHS + 1):
        age_m = ((month_start_day(timeline, month + m) - p.founding) / _DAYS_PER_YEAR)[:, None]
        stage_offset, sigma_factor, young_m = stage_terms(
            np.broadcast_to(age_m, log_surv.shape), hc
        )
        state = step(state, sigma_factor, p.stress_prob[:, None], rng, hc)
        h = p.offset[:, None] + stage_offset + state.x - state.stress
        lam = hazard(h, state.stress, p.quality[:, None], p.leverage[:, None], young_m, hz)
        if m == _WINDOW_MONTHS:
            lam = lam * last_fraction[:, None]
        log_surv += np.log1p(-lam)
    survival = np.exp(log_surv0) * np.exp(log_surv).mean(axis=1)
    return 1.0 - survival, lam0


def applications_truth(
    ids: Strings,
    firms: Firms,
    apps: Applications,
    paths: Paths,
    pd_true: Floats,
    hazard_now: Floats,
    timeline: Timeline,
) -> dict[str, npt.NDArray[Any]]:
    """Rows of ``applications_truth.parquet`` for one chunk."""
    col = timeline.burn_in + apps.month
    return {
        "application_id": ids,
        "credit_code": firms.codes[apps.firm],
        "true_pd_12m": pd_true,
        "quality": firms.quality[apps.firm],
        "health": paths.health[apps.firm, col],
        "stress": paths.stress[apps.firm, col],
        "hazard_month": hazard_now,
    }


def firms_truth(
    firms: Firms, params: LatentParams, paths: Paths, timeline: Timeline
) -> dict[str, npt.NDArray[Any]]:
    """Rows of ``firms_truth.parquet`` for one chunk: latent constants and default timing."""
    defaulted = paths.default_month != NO_MONTH

    def as_date(days: Ints) -> npt.NDArray[np.datetime64]:
        out = days.astype("datetime64[D]")
        out[~defaulted] = np.datetime64("NaT")
        return out

    return {
        "credit_code": firms.codes,
        "quality": params.quality,
        "leverage": params.leverage,
        "stress_prob": params.stress_prob,
        "no_alt_data": firms.no_alt_data,
        "default_month": as_date(month_start_day(timeline, paths.default_month)),
        "default_date": as_date(paths.default_day),
        "exit_month": as_date(month_start_day(timeline, paths.exit_month)),
    }
