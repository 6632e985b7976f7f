"""Monthly operating quantities every alternative-data table reads: headcount and revenue.

Both follow the firm's growth and react to its health deviation (x - stress): headcount
slowly (a smoothed deviation), revenue at once. After a default both decay.
"""

from dataclasses import dataclass

import numpy as np

from features.simulate.calendar import Floats, Timeline
from features.simulate.config import SimulationConfig
from features.simulate.latent import NO_MONTH, Paths, month_start_day
from features.simulate.population import Bools, Firms

_Q4_REVENUE = 1.25
"""Chinese firms book more revenue in the fourth quarter (year-end acceptance of projects)."""


@dataclass(frozen=True)
class Activity:
    """Headcount and revenue per (firm, month) over burn-in plus window months."""

    staff: Floats
    revenue_wan: Floats
    deviation: Floats
    """Health deviation x - stress per month (the short-run signal)."""
    founded: Bools


def monthly_activity(
    firms: Firms, paths: Paths, timeline: Timeline, cfg: SimulationConfig
) -> Activity:
    """Derive headcount and revenue from size, growth, health and default."""
    burn, total, sig = timeline.burn_in, timeline.n_total, cfg.signals
    t = np.arange(-burn, timeline.n_months)
    deviation = paths.x - paths.stress
    smooth = np.empty_like(deviation)
    level = np.zeros(firms.n)
    for j in range(total):
        level = sig.staff_smoothing * level + (1 - sig.staff_smoothing) * deviation[:, j]
        smooth[:, j] = level
    years_to_snapshot = (t - (timeline.n_months - 1)) / 12
    trend = np.exp(firms.growth[:, None] * years_to_snapshot[None, :])
    since = t[None, :] - paths.default_month[:, None]
    defaulted = (paths.default_month[:, None] != NO_MONTH) & (since >= 0)
    decay = np.where(defaulted, cfg.population.post_default_decay ** (since + 0.5), 1.0)
    starts = month_start_day(timeline, t)
    founded = starts[None, :] + 31 > firms.founding[:, None]
    staff = np.where(
        founded,
        np.maximum(
            firms.staff_snapshot[:, None] * trend * np.exp(sig.staff_health * smooth) * decay**0.5,
            1.0,
        ),
        0.0,
    )
    per_staff = np.array([ind.revenue_per_staff_wan for ind in cfg.industries.values()])
    season = np.where((timeline.first_month + t).astype(np.int64) % 12 >= 9, _Q4_REVENUE, 0.92)
    revenue = (
        staff
        * (per_staff[firms.industry] / 12 * np.exp(sig.revenue_quality * firms.quality))[:, None]
        * season[None, :]
        * np.exp(sig.revenue_health * deviation)
        * decay
    )
    return Activity(staff=staff, revenue_wan=revenue, deviation=deviation, founded=founded)
