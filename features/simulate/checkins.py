"""The ``checkins_daily`` table: staff checked in per working day, digital-park firms only.

Registered staff follow headcount; attendance falls under stress, on Fridays and before
long holidays, and collapses after a default. While a firm lapses (see ``missingness``)
its staff stop checking in and the platform has no rows for it. Fully vectorised over
(firm, working day).
"""

import numpy as np

from features.simulate.activity import Activity
from features.simulate.calendar import Timeline
from features.simulate.config import SimulationConfig
from features.simulate.latent import Paths, active_months, post_default_factor
from features.simulate.population import Bools, Firms
from features.simulate.writer import Coded, Frame


def checkins_frame(
    firms: Firms,
    activity: Activity,
    paths: Paths,
    lapsed: Bools,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Frame:
    """Build the chunk's check-in rows, ordered by firm and date."""
    members = np.flatnonzero(firms.digital)
    work = timeline.working
    burn = timeline.burn_in
    lo, hi = cfg.population.platform_registered_share
    registered_share = rng.uniform(lo, hi, len(members))
    decay = post_default_factor(paths, timeline, cfg.population.post_default_decay)[members]
    headcount = np.round(
        activity.staff[members, burn:] * registered_share[:, None] * np.sqrt(decay)
    ).astype(np.int64)
    sig = cfg.signals
    z = sig.attendance_base + sig.attendance_health * activity.deviation[members, burn:]
    attendance = decay / (1.0 + np.exp(-z))
    active = active_months(firms, paths, timeline)[members] & ~lapsed[members]
    weekday = np.array(sig.weekday_attendance)[work.weekday]
    day_factor = weekday * np.where(work.before_holiday, sig.before_holiday_attendance, 1.0)
    month = work.month_index
    n_days = len(work.days)
    day_number = work.days.astype(np.int64)[None, :]
    keep = (
        active[:, month]
        & (headcount[:, month] > 0)
        & (day_number >= firms.founding[members, None])
        & (rng.random((len(members), n_days)) >= cfg.messiness.checkin_missing_day_rate)
    )
    firm_idx, day_idx = np.nonzero(keep)
    m = month[day_idx]
    p = np.clip(attendance[firm_idx, m] * day_factor[day_idx], 0.0, 1.0)
    checked = rng.binomial(headcount[firm_idx, m], p)
    return {
        "credit_code": Coded(firms.codes, members[firm_idx]),
        "date": work.days[day_idx],
        "staff_checked_in": checked.astype(np.int64),
    }
