"""Reporting lapses: the months in which a firm in trouble stops reporting.

Data go missing the way they do in life, not at random: a firm whose health falls short
stops filing its tax returns (it files them late when it recovers, or never), its staff
stop checking in, its power readings often stop with them, and an annual filing due in
a lapse comes late or not at all. A lapse starts with a monthly probability logistic in
the health shortfall (stress - x, the negative of the deviation every signal reads) and
ends with a fixed monthly chance, so it outlasts a short dip.

The lapse depends on the firm's past and present state only and never feeds back into
the hazard, so the true PD of the oracle is unchanged; the missing months show a bank
exactly what it would see: gaps, late filings and stale reports.
"""

import numpy as np

from features.simulate.activity import Activity
from features.simulate.calendar import Ints, Timeline
from features.simulate.config import SimulationConfig
from features.simulate.latent import Paths
from features.simulate.population import Bools


def reporting_lapses(
    activity: Activity,
    paths: Paths,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Bools:
    """Mask of (firm, window month) in which the firm reports nothing.

    The chain runs through the burn-in too, so the window opens with lapses in progress.
    A firm that has exited after its default never reports again.
    """
    md = cfg.missing_data
    shortfall = -activity.deviation
    start = 1.0 / (1.0 + np.exp(-(md.lapse_intercept + md.lapse_shortfall_slope * shortfall)))
    u = rng.random(shortfall.shape)
    lapsed = np.empty(shortfall.shape, dtype=bool)
    state = np.zeros(shortfall.shape[0], dtype=bool)
    for j in range(shortfall.shape[1]):
        state = np.where(state, u[:, j] >= md.lapse_resume_prob, u[:, j] < start[:, j])
        lapsed[:, j] = state
    exited = np.arange(timeline.n_months)[None, :] > paths.exit_month[:, None]
    return lapsed[:, timeline.burn_in :] | exited


def next_reporting_month(lapsed: Bools) -> Ints:
    """For each (firm, window month), the first month from then on without a lapse.

    ``lapsed.shape[1]`` (one past the window) when the firm is still lapsed at the end.
    """
    n_months = lapsed.shape[1]
    month = np.where(lapsed, n_months, np.arange(n_months)[None, :])
    return np.asarray(np.minimum.accumulate(month[:, ::-1], axis=1)[:, ::-1], dtype=np.int64)
