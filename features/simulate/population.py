"""Static attributes of the firms of one chunk: quality, age, size, industry, leverage.

Codes and zones are drawn once for the whole portfolio (so codes are unique across
chunks); everything else is drawn per chunk from the chunk's own random stream.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from features.credit_code import generate_credit_codes
from features.simulate.calendar import Floats, Ints, Timeline
from features.simulate.config import SimulationConfig

Bools = npt.NDArray[np.bool_]
Strings = npt.NDArray[np.object_]
_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Registry:
    """Zone and credit code of every firm of the portfolio, in firm order."""

    zone: Ints
    codes: Strings


def draw_registry(cfg: SimulationConfig, rng: np.random.Generator) -> Registry:
    """Assign each firm a zone and a valid, unique credit code carrying the zone's division."""
    shares = np.array([z.share for z in cfg.zones])
    zone = rng.choice(len(cfg.zones), size=cfg.n_firms, p=shares / shares.sum())
    codes = np.empty(cfg.n_firms, dtype=object)
    for k, z in enumerate(cfg.zones):
        members = np.flatnonzero(zone == k)
        codes[members] = generate_credit_codes(rng, [z.division], len(members))
    return Registry(zone=zone.astype(np.int64), codes=codes)


@dataclass(frozen=True)
class Firms:
    """One chunk of firms; arrays share the firm order of the chunk."""

    codes: Strings
    zone: Ints
    industry: Ints
    quality: Floats
    leverage: Floats
    founding: Ints
    """Founding date as days since 1970-01-01."""
    staff_snapshot: Floats
    """Headcount the firm would have at the snapshot without stress."""
    growth: Floats
    """Yearly log growth of headcount and activity."""
    registered_capital: Floats
    digital: Bools
    no_alt_data: Bools
    meters: Ints

    @property
    def n(self) -> int:
        """Number of firms in the chunk."""
        return len(self.codes)

    def founding_month(self, timeline: Timeline) -> Ints:
        """Window month index of the founding month (negative before the window)."""
        months = self.founding.astype("datetime64[D]").astype("datetime64[M]")
        return (months - timeline.first_month).astype(np.int64)

    def age_years(self, day: Ints | np.int64) -> Floats:
        """Age in years on ``day`` (days since epoch), one per firm; broadcasts."""
        return (day - self.founding) / _DAYS_PER_YEAR


def tilted_share(share: Floats, slope: float, quality: Floats) -> Floats:
    """Probability whose odds are ``share``'s odds times exp(slope * quality).

    ``share`` is the probability at average quality (q = 0); written without a logit so
    shares of 0 and 1 stay exact.
    """
    odds = share * np.exp(slope * quality)
    return np.asarray(odds / (1.0 - share + odds))


def draw_firms(
    cfg: SimulationConfig,
    registry: Registry,
    start: int,
    stop: int,
    timeline: Timeline,
    rng: np.random.Generator,
) -> Firms:
    """Draw the static attributes of firms ``start:stop`` of the portfolio."""
    n = stop - start
    pop = cfg.population
    zone = registry.zone[start:stop]
    shares = np.array([ind.share for ind in cfg.industries.values()])
    industry = rng.choice(len(shares), size=n, p=shares / shares.sum()).astype(np.int64)
    quality = rng.standard_normal(n)
    age = np.clip(
        np.exp(rng.normal(pop.age_log_mean, pop.age_log_sd, n)),
        pop.age_years_min,
        pop.age_years_max,
    )
    snapshot_day = timeline.snapshot.astype(np.int64)
    founding = (snapshot_day - np.round(age * _DAYS_PER_YEAR)).astype(np.int64)
    log_staff = (
        pop.staff_log_base
        + pop.staff_age_slope * np.log1p(age)
        + pop.staff_quality_slope * quality
        + rng.normal(0, pop.staff_log_sd, n)
    )
    staff = np.clip(np.exp(log_staff), 3, pop.staff_max)
    growth = (
        pop.growth_mean
        + pop.growth_young_extra * (age < 3)
        + pop.growth_quality_slope * quality
        + rng.normal(0, pop.growth_sd, n)
    )
    a, b = pop.leverage_beta
    # Weaker firms carry more debt on average.
    leverage = np.clip(rng.beta(a, b, n) - 0.05 * quality, 0.02, 0.98)
    capital = np.clip(
        np.exp(rng.normal(pop.registered_capital_log_mean, pop.registered_capital_log_sd, n)),
        10,
        1e6,
    ).round(0)
    # Thin files and platform membership lean on quality: parks admit stronger tenants,
    # weaker firms more often share no data at all.
    md = cfg.missing_data
    digital_share = np.array([z.digital_park_share for z in cfg.zones])[zone]
    digital = rng.random(n) < tilted_share(digital_share, md.digital_park_quality_slope, quality)
    no_alt = rng.random(n) < tilted_share(
        np.full(n, cfg.messiness.no_alt_data_rate), md.thin_file_quality_slope, quality
    )
    probs = np.array(pop.meter_count_probs)
    meters = 1 + rng.choice(len(probs), size=n, p=probs / probs.sum())
    meters = np.where(staff > 200, np.maximum(meters, 2), meters).astype(np.int64)
    return Firms(
        codes=registry.codes[start:stop],
        zone=zone,
        industry=industry,
        quality=quality,
        leverage=leverage,
        founding=founding,
        staff_snapshot=staff,
        growth=growth,
        registered_capital=capital,
        digital=digital & ~no_alt,
        no_alt_data=no_alt,
        meters=meters,
    )
