"""The ``electricity_monthly`` table: kWh per meter and month.

Usage follows headcount, industry intensity, the working calendar (Spring Festival dip,
National Day week), summer cooling, and the firm's health with a one-month lag mixed in.
Some months are missing, more often while the firm lapses (see ``missingness``: a firm
that stopped reporting has often stopped paying its power bill, and the utility's feed
carries no reading for it), a few are reported in MWh instead of kWh, and rows published
after the snapshot are not known yet.
"""

import numpy as np

from features.simulate.activity import Activity
from features.simulate.calendar import Timeline
from features.simulate.config import SimulationConfig
from features.simulate.latent import Paths, active_months, post_default_factor
from features.simulate.population import Bools, Firms
from features.simulate.writer import Coded, Frame

_UNIT_ERROR = 1000.0
"""A reading sent in MWh where kWh is expected."""
_MAX_METERS = 3


def electricity_frame(
    firms: Firms,
    activity: Activity,
    paths: Paths,
    lapsed: Bools,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Frame:
    """Build the chunk's electricity rows, ordered by firm, meter and month."""
    burn, n_months, sig = timeline.burn_in, timeline.n_months, cfg.signals
    dev = activity.deviation
    lag = sig.electricity_lag_weight
    signal = (1 - lag) * dev[:, burn:] + lag * dev[:, burn - 1 : -1]
    intensity = np.array([ind.kwh_per_staff for ind in cfg.industries.values()])[firms.industry]
    decay = post_default_factor(paths, timeline, cfg.population.post_default_decay)
    firm_kwh = (
        activity.staff[:, burn:]
        * intensity[:, None]
        * timeline.activity_factor[None, :]
        * np.exp(sig.electricity_health * signal)
        * np.maximum(decay, 0.08)  # standby load remains until the meter is closed
    )
    shares = rng.dirichlet(np.full(_MAX_METERS, 2.0), firms.n)
    shares = np.where(np.arange(_MAX_METERS)[None, :] < firms.meters[:, None], shares, 0.0)
    shares /= shares.sum(axis=1, keepdims=True)
    noise = np.exp(rng.normal(0, sig.electricity_noise_sd, (firms.n, _MAX_METERS, n_months)))
    kwh = np.round(firm_kwh[:, None, :] * shares[:, :, None] * noise)
    unit_error = rng.random(kwh.shape) < cfg.messiness.electricity_unit_error_rate
    kwh = np.where(unit_error, kwh / _UNIT_ERROR, kwh)
    month_end = timeline.month_starts.astype(np.int64) + timeline.days_in_month
    lo, hi = sig.electricity_publish_lag_days
    published = (month_end - 1)[None, None, :] + rng.integers(lo, hi + 1, kwh.shape)
    no_feed = lapsed & (rng.random(lapsed.shape) < cfg.missing_data.lapse_electricity_missing)
    keep = (
        (active_months(firms, paths, timeline) & ~no_feed)[:, None, :]
        & (np.arange(_MAX_METERS)[None, :, None] < firms.meters[:, None, None])
        & (rng.random(kwh.shape) >= cfg.messiness.missing_month_rate)
        & (published <= timeline.snapshot.astype(np.int64))
    )
    firm_idx, meter_idx, month_idx = np.nonzero(keep)
    meter_names = np.array(
        [f"{code}-E{k + 1}" for code in firms.codes for k in range(_MAX_METERS)], dtype=object
    )
    return {
        "meter_id": Coded(meter_names, firm_idx * _MAX_METERS + meter_idx),
        "credit_code": Coded(firms.codes, firm_idx),
        "month": timeline.month_starts[month_idx],
        "kwh": kwh[keep],
        "published_date": published[keep].astype("datetime64[D]"),
    }
