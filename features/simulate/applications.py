"""The ``applications`` table: loan applications and their 12-month outcome.

Firms apply for a new loan at a monthly rate once they have 12 months of history, more
often under stress (they need cash), never while in default, and at least
``min_gap_months`` apart; a borrower applies to renew its loan when it falls due, as
Chinese SME working-capital loans are rolled over year after year. Some firms already
hold a loan when the window opens; it falls due within the first year of applications.
The outcome is observed over the 12 months after the application date. When that window
ends after the snapshot the outcome is "immature": default_flag and default_date stay
null even if a default is already known, so every labelled row has a complete window
and early defaults are not over-represented among the labels.
"""

from dataclasses import dataclass

import numpy as np

from features.contracts.tables import PRODUCTS
from features.simulate.activity import Activity
from features.simulate.calendar import Floats, Ints, Timeline
from features.simulate.config import SimulationConfig
from features.simulate.latent import NO_MONTH, Paths
from features.simulate.population import Bools, Firms, Strings
from features.simulate.writer import Frame

_HISTORY_MONTHS = 12
_IP_MIN_INVENTION_RATE = 0.02


@dataclass(frozen=True)
class Applications:
    """Applications of a chunk; ``firm`` indexes the chunk's firms."""

    firm: Ints
    month: Ints
    """Window month of the application."""
    day: Ints
    """Application date, days since epoch."""
    window_end: Ints
    """Same calendar day twelve months later (month-end clipped)."""
    product: Ints
    amount_wan: Floats
    term_months: Ints
    purpose: Ints
    matured: Bools
    defaulted: Bools
    """Default observed in (day, window_end]; meaningful only when matured."""
    default_day: Ints
    """The firm's default date (days since epoch) or -1."""


def add_months(days: Ints, months: int) -> Ints:
    """Shift dates (days since epoch) by whole months, clipping to the month's last day."""
    as_day = days.astype("datetime64[D]")
    month = as_day.astype("datetime64[M]")
    day_of_month = (as_day - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    return np.asarray(
        target.astype("datetime64[D]").astype(np.int64) + np.minimum(day_of_month, length - 1)
    )


@dataclass
class _Book:
    """Per firm: its last application month, its current loan's amount and due month."""

    last_app: Ints
    amount: Floats
    due: Ints


def _opening_book(
    firms: Firms,
    activity: Activity,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> _Book:
    """Loans taken before the window: they fall due within the first year of applications."""
    ac, n = cfg.applications, firms.n
    borrower = rng.random(n) < ac.initial_borrower_share
    need = (
        12 * activity.revenue_wan[:, timeline.burn_in + _HISTORY_MONTHS] * ac.amount_revenue_share
    )
    amount = need * np.exp(rng.normal(0, ac.amount_log_sd, n))
    due = _HISTORY_MONTHS + rng.integers(0, 12, n)
    return _Book(
        last_app=np.full(n, NO_MONTH, dtype=np.int64),
        amount=np.where(borrower, np.round(amount / 10) * 10, 0.0),
        due=np.where(borrower, due, NO_MONTH).astype(np.int64),
    )


def _new_products(
    firms: Firms, idx: Ints, invention: Floats, cfg: SimulationConfig, rng: np.random.Generator
) -> Ints:
    """Product of a new loan: stronger firms lean to points loans, inventors to IP pledges."""
    weights = np.stack(
        [
            np.exp(cfg.applications.points_quality_slope * firms.quality[idx]),
            np.ones(len(idx)),
            np.where(invention[idx] > _IP_MIN_INVENTION_RATE, 0.6, 0.05),
        ],
        axis=1,
    )
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    pick = (rng.random(len(idx))[:, None] > cum).sum(axis=1)
    return np.asarray(np.minimum(pick, 2), dtype=np.int64)


def _terms(product: Ints, cfg: SimulationConfig, rng: np.random.Generator) -> Ints:
    """Term in months of each application, drawn from its product's term mix."""
    terms = np.empty(len(product), dtype=np.int64)
    for k, name in enumerate(PRODUCTS):
        rows = np.flatnonzero(product == k)
        p = cfg.applications.products[name]
        w = np.array(p.term_weights)
        terms[rows] = np.array(p.terms)[rng.choice(len(w), size=len(rows), p=w / w.sum())]
    return terms


def draw_applications(
    firms: Firms,
    paths: Paths,
    activity: Activity,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Applications:
    """Draw applications month by month (vectorised over firms).

    A borrower applies to renew when its loan falls due (``renewal_prob``); any firm may
    apply for a new loan at a monthly rate that rises with stress (it needs cash).
    """
    ac = cfg.applications
    burn, n = timeline.burn_in, firms.n
    founding_month = firms.founding_month(timeline)
    book = _opening_book(firms, activity, timeline, cfg, rng)
    starts = timeline.month_starts.astype(np.int64)
    products = [ac.products[p] for p in PRODUCTS]
    invention = np.array([i.invention_rate for i in cfg.industries.values()])[firms.industry]
    picks: list[tuple[Ints, Ints, Ints, Ints, Floats, Ints]] = []
    for t in range(_HISTORY_MONTHS, timeline.n_months):
        alive = (paths.default_month == NO_MONTH) | (paths.default_month >= t)
        seasoned = alive & (t - founding_month >= _HISTORY_MONTHS)
        renews = seasoned & (book.due == t) & (rng.random(n) < ac.renewal_prob)
        rate = ac.monthly_rate * np.exp(ac.stress_need_slope * paths.stress[:, burn + t])
        new = (
            seasoned
            & (t - book.last_app >= ac.min_gap_months)
            & (rng.random(n) < np.minimum(rate, 1.0))
        )
        day = starts[t] + np.floor(rng.random(n) * timeline.days_in_month[t]).astype(np.int64)
        applies = (renews | new) & ~((paths.default_month == t) & (paths.default_day <= day))
        idx = np.flatnonzero(applies)
        renew = renews[idx]
        product = np.where(
            renew, PRODUCTS.index("renewal"), _new_products(firms, idx, invention, cfg, rng)
        )
        need = 12 * activity.revenue_wan[idx, burn + t] * ac.amount_revenue_share
        amount = need * np.exp(rng.normal(0, ac.amount_log_sd, len(idx)))
        amount = np.where(renew, book.amount[idx] * rng.uniform(0.8, 1.2, len(idx)), amount)
        lo = np.array([p.amount_min_wan for p in products])[product]
        hi = np.array([p.amount_max_wan for p in products])[product]
        amount = np.clip(np.round(amount / 10) * 10, lo, hi)
        terms = _terms(product, cfg, rng)
        book.last_app[idx] = t
        book.amount[idx] = amount
        book.due[idx] = t + np.maximum(terms, ac.min_gap_months)
        picks.append((idx, np.full(len(idx), t), day[idx], product, amount, terms))
    if not picks:
        empty = np.zeros(0, dtype=np.int64)
        picks.append((empty, empty, empty, empty, np.zeros(0), empty))
    columns = [np.concatenate(column) for column in zip(*picks, strict=True)]
    firm, month, day, product, amount, terms = columns
    order = np.lexsort((month, firm))
    firm, month, day = firm[order], month[order].astype(np.int64), day[order]
    product, amount, terms = product[order].astype(np.int64), amount[order], terms[order]
    purpose_w = np.array(list(ac.purposes.values()))
    purpose = rng.choice(len(purpose_w), size=len(firm), p=purpose_w / purpose_w.sum())
    window_end = add_months(day, 12)
    default_day = paths.default_day[firm]
    return Applications(
        firm=firm,
        month=month,
        day=day,
        window_end=window_end,
        product=product,
        amount_wan=amount,
        term_months=terms.astype(np.int64),
        purpose=purpose.astype(np.int64),
        matured=window_end <= timeline.snapshot.astype(np.int64),
        defaulted=(paths.default_month[firm] != NO_MONTH)
        & (default_day > day)
        & (default_day <= window_end),
        default_day=default_day,
    )


def application_ids(apps: Applications, firm_offset: int, timeline: Timeline) -> Strings:
    """Stable identifiers: portfolio firm number and application month."""
    months = (timeline.first_month + apps.month).astype(str)
    return np.array(
        [
            f"AP{firm_offset + f:08d}-{m.replace('-', '')}"
            for f, m in zip(apps.firm, months, strict=True)
        ],
        dtype=object,
    )


def applications_frame(
    apps: Applications,
    ids: Strings,
    firms: Firms,
    cfg: SimulationConfig,
) -> Frame:
    """Build the chunk's ``applications`` rows."""
    known = apps.matured & apps.defaulted
    default_date = apps.default_day.astype("datetime64[D]")
    default_date[~known] = np.datetime64("NaT")
    return {
        "application_id": ids,
        "credit_code": firms.codes[apps.firm],
        "application_date": apps.day.astype("datetime64[D]"),
        "product": np.array(PRODUCTS, dtype=object)[apps.product],
        "amount_wan": apps.amount_wan,
        "term_months": apps.term_months,
        "declared_purpose": np.array(list(cfg.applications.purposes), dtype=object)[apps.purpose],
        "outcome_status": np.where(apps.matured, "matured", "immature").astype(object),
        "default_flag": np.where(apps.matured, apps.defaulted.astype(np.float64), np.nan),
        "default_date": default_date,
    }
