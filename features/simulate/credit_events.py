"""The ``credit_events`` table: overdue episodes, judgments, dishonest listings, repairs.

A default is recorded as an overdue event on its date; some defaults lead to a court
judgment, some unpaid judgments to a dishonest-debtor listing, some listings to a credit
repair. Short overdue episodes also occur while health is low (a function of the current
state only, so they never reveal a future default the oracle does not know), and a few
commercial judgments hit any firm. Events not yet published at the snapshot are left out.
"""

import numpy as np

from features.contracts.tables import EVENT_TYPES
from features.simulate.activity import Activity
from features.simulate.applications import Applications
from features.simulate.calendar import Floats, Ints, Timeline
from features.simulate.config import SimulationConfig
from features.simulate.latent import NO_MONTH, Paths, window
from features.simulate.population import Firms
from features.simulate.writer import Frame


def _between(rng: np.random.Generator, bounds: tuple[int, int], n: int) -> Ints:
    return rng.integers(bounds[0], bounds[1] + 1, n).astype(np.int64)


def _outstanding(
    firms: Firms, apps: Applications, activity: Activity, timeline: Timeline
) -> Floats:
    """Amount owed at default: the last application's amount, else a tenth of revenue."""
    owed: Floats = 1.2 * activity.revenue_wan[:, timeline.burn_in :].mean(axis=1)
    owed[apps.firm] = apps.amount_wan  # applications are in firm-month order: last one wins
    return np.maximum(owed.round(2), 1.0)


def credit_events_frame(
    firms: Firms,
    paths: Paths,
    activity: Activity,
    apps: Applications,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Frame:
    """Build the chunk's credit events, ordered by firm and event date."""
    ev = cfg.events
    firm_parts: list[Ints] = []
    type_parts: list[Ints] = []
    day_parts: list[Ints] = []
    amount_parts: list[Floats] = []

    def add(firm: Ints, kind: str, day: Ints, amount: Floats) -> None:
        firm_parts.append(firm)
        type_parts.append(np.full(len(firm), EVENT_TYPES.index(kind), dtype=np.int64))
        day_parts.append(day)
        amount_parts.append(amount)

    owed = _outstanding(firms, apps, activity, timeline)
    defaulted = np.flatnonzero(paths.default_month != NO_MONTH)
    add(defaulted, "overdue", paths.default_day[defaulted], owed[defaulted])
    judged = defaulted[rng.random(len(defaulted)) < ev.judgment_prob]
    judged_day = paths.default_day[judged] + _between(rng, ev.judgment_lag_days, len(judged))
    judged_amount = (owed[judged] * rng.uniform(0.8, 1.3, len(judged))).round(2)
    add(judged, "court_judgment", judged_day, judged_amount)
    listed_mask = rng.random(len(judged)) < ev.listing_prob
    listed = judged[listed_mask]
    listed_day = judged_day[listed_mask] + _between(rng, ev.listing_lag_days, len(listed))
    add(listed, "dishonest_listing", listed_day, judged_amount[listed_mask])
    repaired_mask = rng.random(len(listed)) < ev.repair_prob
    repaired = listed[repaired_mask]
    repair_day = listed_day[repaired_mask] + _between(rng, ev.repair_lag_days, len(repaired))
    add(repaired, "credit_repair", repair_day, np.full(len(repaired), np.nan))
    # Short overdue episodes while health is low, before any default.
    health = window(paths.health, timeline)
    z = ev.minor_overdue_intercept - ev.minor_overdue_health_slope * health
    t = np.arange(timeline.n_months)[None, :]
    before_default = (paths.default_month[:, None] == NO_MONTH) | (t < paths.default_month[:, None])
    live = (t >= firms.founding_month(timeline)[:, None]) & (t <= paths.exit_month[:, None])
    minor = (rng.random(health.shape) < 1 / (1 + np.exp(-z))) & before_default & live
    minor_firm, minor_month = np.nonzero(minor)
    minor_day = timeline.month_starts.astype(np.int64)[minor_month] + np.floor(
        rng.random(len(minor_firm)) * timeline.days_in_month[minor_month]
    ).astype(np.int64)
    add(
        minor_firm,
        "overdue",
        minor_day,
        (owed[minor_firm] * rng.uniform(0.02, 0.2, len(minor_firm))).round(2),
    )
    # Commercial disputes unrelated to health.
    dispute = rng.random(health.shape) < ev.background_judgment_prob
    dispute &= t >= firms.founding_month(timeline)[:, None]
    d_firm, d_month = np.nonzero(dispute)
    d_day = timeline.month_starts.astype(np.int64)[d_month] + rng.integers(0, 28, len(d_firm))
    add(d_firm, "court_judgment", d_day, np.exp(rng.normal(np.log(30), 1.0, len(d_firm))).round(2))
    firm = np.concatenate(firm_parts)
    kind = np.concatenate(type_parts)
    day = np.concatenate(day_parts)
    amount = np.concatenate(amount_parts)
    lag = np.empty(len(firm), dtype=np.int64)
    for k, name in enumerate(EVENT_TYPES):
        rows = np.flatnonzero(kind == k)
        lag[rows] = _between(rng, ev.publish_lag_days[name], len(rows))
    published = day + lag
    known = np.flatnonzero(published <= timeline.snapshot.astype(np.int64))
    order = known[np.lexsort((kind[known], day[known], firm[known]))]
    firm, kind, day, published = firm[order], kind[order], day[order], published[order]
    amount = amount[order]
    seq = np.arange(len(firm)) - np.searchsorted(firm, firm)  # number within the firm
    codes = firms.codes[firm]
    return {
        "event_id": np.array(
            [f"{c}-EV{s:03d}" for c, s in zip(codes, seq, strict=True)], dtype=object
        ),
        "credit_code": codes,
        "event_type": np.array(EVENT_TYPES, dtype=object)[kind],
        "event_date": day.astype("datetime64[D]"),
        "amount_wan": amount,
        "published_date": published.astype("datetime64[D]"),
    }
