"""The ``tax_monthly`` table: VAT every month, income tax prepaid each quarter.

VAT follows the month's revenue. Corporate income tax is prepaid in January, April, July
and October for the previous quarter's profit (15 % for certified high-tech enterprises,
5 % effective for small low-profit firms, else 25 %). Zero filings become common under
stress and after a default. Returns are filed by the 15th of the next month (about 2 %
late, before the 28th). A return due while the firm lapses (see ``missingness``) is filed
when the firm reports again, or never; until then it is missing.
"""

import numpy as np

from features.simulate.activity import Activity
from features.simulate.calendar import Floats, Ints, Timeline
from features.simulate.config import SimulationConfig
from features.simulate.enterprises import NO_DAY, Certificates
from features.simulate.latent import Paths, active_months, month_start_day, post_default_factor
from features.simulate.missingness import next_reporting_month
from features.simulate.population import Bools, Firms
from features.simulate.writer import Coded, Frame

_SMALL_PROFIT_LIMIT_WAN = 300.0
"""Annual taxable profit below which the small low-profit enterprise rate applies."""


def _sigmoid(z: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-z))


def tax_frame(
    firms: Firms,
    activity: Activity,
    paths: Paths,
    certs: Certificates,
    lapsed: Bools,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Frame:
    """Build the chunk's tax rows, ordered by firm and month."""
    burn, n_months = timeline.burn_in, timeline.n_months
    shape = (firms.n, n_months)
    ind = list(cfg.industries.values())
    vat_rate = np.array([i.vat_rate for i in ind])[firms.industry]
    margin = np.array([i.margin for i in ind])[firms.industry] + 0.04 * firms.quality
    revenue = activity.revenue_wan  # with burn-in: the quarter before the window is needed
    dev = activity.deviation
    vat = revenue[:, burn:] * vat_rate[:, None] * np.exp(rng.normal(0, 0.1, shape))
    profit = revenue * (margin[:, None] + 0.12 * dev)
    # Quarterly prepayment in months 1/4/7/10 covers the three months before.
    quarter_profit = profit[:, burn - 3 : -3] + profit[:, burn - 2 : -2] + profit[:, burn - 1 : -1]
    month_no = (timeline.first_month + np.arange(n_months)).astype(np.int64) % 12
    pays = np.isin(month_no, (0, 3, 6, 9))[None, :]
    starts = timeline.month_starts.astype(np.int64)
    certified = (certs.hightech[:, None] != NO_DAY) & (certs.hightech[:, None] <= starts[None, :])
    annual = 4 * quarter_profit
    rate = np.where(certified, 0.15, np.where(annual < _SMALL_PROFIT_LIMIT_WAN, 0.05, 0.25))
    income = np.where(pays, np.maximum(quarter_profit, 0) * rate, 0.0)
    decay = post_default_factor(paths, timeline, cfg.population.post_default_decay)
    sig = cfg.signals
    z = (
        sig.zero_filing_intercept
        + sig.zero_filing_health_slope * dev[:, burn:]
        + sig.zero_filing_after_default * (decay < 1)
    )
    zero = rng.random(shape) < _sigmoid(z)
    vat = np.where(zero, 0.0, vat).round(4)
    income = np.where(zero, 0.0, income).round(4)
    late = rng.random(shape) < sig.late_tax_filing_rate
    day = np.where(late, rng.integers(15, 28, shape), rng.integers(0, 15, shape))
    filed = _filing_days(lapsed, day, timeline, rng)
    keep = (
        active_months(firms, paths, timeline)
        & (rng.random(shape) >= cfg.messiness.missing_month_rate)
        & (filed <= timeline.snapshot.astype(np.int64))
    )
    firm_idx, month_idx = np.nonzero(keep)
    return {
        "credit_code": Coded(firms.codes, firm_idx),
        "month": timeline.month_starts[month_idx],
        "vat_paid_wan": vat[keep],
        "income_tax_paid_wan": income[keep],
        "zero_filing": zero[keep],
        "filing_date": filed[keep].astype("datetime64[D]"),
    }


def _filing_days(lapsed: Bools, day: Ints, timeline: Timeline, rng: np.random.Generator) -> Ints:
    """Filing date of each month's return: next month by its deadline, or when caught up.

    A return falls due in the month after its own. When the firm lapses then, it is filed
    in the first month it reports again (days 1-28), or after the snapshot (never seen).
    """
    n_months = timeline.n_months
    due = np.arange(1, n_months + 1)
    starts = month_start_day(timeline, np.arange(n_months + 1))
    # One past the window is never lapsed: filed after the snapshot in any case.
    lapsed_due = np.concatenate([lapsed[:, 1:], np.zeros((lapsed.shape[0], 1), bool)], axis=1)
    catch_up = next_reporting_month(lapsed)
    catch_up = np.concatenate([catch_up[:, 1:], np.full((lapsed.shape[0], 1), n_months)], axis=1)
    on_time = starts[due][None, :] + day
    caught_up = starts[catch_up] + rng.integers(0, 28, lapsed.shape)
    return np.asarray(np.where(lapsed_due, caught_up, on_time), dtype=np.int64)
