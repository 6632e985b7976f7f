"""The ``enterprises`` table: registration, status at the snapshot and qualifications."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from features.contracts.tables import OPERATING_STATUSES, PREMISES
from features.simulate.calendar import Floats, Ints, Timeline
from features.simulate.config import SimulationConfig
from features.simulate.latent import NO_MONTH, Paths
from features.simulate.population import Firms, Strings
from features.simulate.writer import Frame

_BRAND_CHARS = np.array(
    list(
        "华中科创新信达联迈瑞博思远智恒泰汇宇星云天海明德源盛锐凯睿峰捷宏诺安康启航微光辰卓越合众兴弘领芯"
    )
)
_SUFFIXES = np.array(
    ["科技有限公司", "科技有限公司", "科技有限公司", "技术有限公司", "科技股份有限公司"]
)
_DAYS_PER_YEAR = 365.25
_FIRST_SRDI = np.datetime64("2019-01-01").astype(np.int64)
"""Specialised-and-innovative (专精特新) lists as used here start in 2019."""
_FIRST_LITTLE_GIANT = np.datetime64("2019-06-01").astype(np.int64)
NO_DAY = -1


@dataclass(frozen=True)
class Certificates:
    """Qualification dates as days since epoch, -1 when the firm has none."""

    hightech: Ints
    srdi: Ints
    little_giant: Ints


def _sigmoid(z: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-z))


def _date_between(rng: np.random.Generator, lo: Ints, hi: Ints) -> Ints:
    span = np.maximum(hi - lo, 0)
    out: Ints = lo + np.floor(rng.random(len(lo)) * (span + 1)).astype(np.int64)
    return out


def draw_certificates(firms: Firms, timeline: Timeline, rng: np.random.Generator) -> Certificates:
    """High-tech, SRDI and little-giant qualifications, more likely for high-quality firms."""
    snap = int(timeline.snapshot.astype(np.int64))
    age = firms.age_years(np.int64(snap))
    size = np.log(firms.staff_snapshot / 20)
    p_hightech = _sigmoid(-0.3 + 1.2 * firms.quality + 0.4 * size) * (age >= 1)
    p_srdi = _sigmoid(-2.6 + 1.4 * firms.quality + 0.5 * size) * (age >= 2)
    has_ht = rng.random(firms.n) < p_hightech
    has_srdi = rng.random(firms.n) < p_srdi
    has_lg = has_srdi & (rng.random(firms.n) < _sigmoid(-2.0 + 1.5 * firms.quality))
    one_year = round(_DAYS_PER_YEAR)
    ht = _date_between(rng, firms.founding + one_year, np.full(firms.n, snap - 1))
    srdi = _date_between(
        rng, np.maximum(firms.founding + 2 * one_year, _FIRST_SRDI), np.full(firms.n, snap - 1)
    )
    lg = _date_between(
        rng, np.maximum(srdi + one_year // 2, _FIRST_LITTLE_GIANT), np.full(firms.n, snap - 1)
    )
    has_srdi &= srdi < snap
    has_lg &= has_srdi & (lg < snap)
    return Certificates(
        hightech=np.where(has_ht, ht, NO_DAY),
        srdi=np.where(has_srdi, srdi, NO_DAY),
        little_giant=np.where(has_lg, lg, NO_DAY),
    )


def _names(firms: Firms, cfg: SimulationConfig, rng: np.random.Generator) -> Strings:
    cities = [z.city for z in cfg.zones]
    words = [ind.words for ind in cfg.industries.values()]
    brand = _BRAND_CHARS[rng.integers(0, len(_BRAND_CHARS), (firms.n, 2))]
    word_pick = rng.random(firms.n)
    suffix = _SUFFIXES[rng.integers(0, len(_SUFFIXES), firms.n)]
    names = [
        f"{cities[z]}{b[0]}{b[1]}{words[i][int(w * len(words[i]))]}{sfx}"
        for z, b, i, w, sfx in zip(
            firms.zone, brand, firms.industry, word_pick, suffix, strict=True
        )
    ]
    return np.array(names, dtype=object)


def _status(
    firms: Firms, paths: Paths, cfg: SimulationConfig, rng: np.random.Generator
) -> tuple[Strings, Strings]:
    """Operating status and premises at the snapshot; defaults and a few others fail."""
    pop = cfg.population
    status = np.full(firms.n, OPERATING_STATUSES[0], dtype=object)
    defaulted = paths.default_month != NO_MONTH
    inactive = defaulted & (rng.random(firms.n) < pop.defaulted_inactive_prob)
    random_fail = rng.random(firms.n) < pop.five_standards_failure_rate
    bad_kind = rng.choice(
        np.array(OPERATING_STATUSES[1:], dtype=object), size=firms.n, p=[0.5, 0.3, 0.2]
    )
    status = np.where(inactive | (random_fail & (rng.random(firms.n) < 0.6)), bad_kind, status)
    small = firms.staff_snapshot < 30
    premises_p = np.where(small[:, None], [[0.03, 0.52, 0.45]], [[0.2, 0.7, 0.1]])
    u = rng.random(firms.n)[:, None]
    pick = (u > np.cumsum(premises_p, axis=1)).sum(axis=1)
    premises = np.array(PREMISES[:3], dtype=object)[np.minimum(pick, 2)]
    no_premises = (random_fail & (status == OPERATING_STATUSES[0])) | (
        inactive & (rng.random(firms.n) < 0.3)
    )
    premises = np.where(no_premises, PREMISES[3], premises)
    return status, premises


def enterprises_frame(
    firms: Firms,
    paths: Paths,
    certs: Certificates,
    timeline: Timeline,
    cfg: SimulationConfig,
    rng: np.random.Generator,
) -> Frame:
    """Build the chunk's ``enterprises`` rows."""
    zones = cfg.zones
    status, premises = _status(firms, paths, cfg, rng)

    def as_date(days: Ints) -> npt.NDArray[np.datetime64]:
        out = days.astype("datetime64[D]")
        out[days == NO_DAY] = np.datetime64("NaT")
        return out

    return {
        "credit_code": firms.codes,
        "name": _names(firms, cfg, rng),
        "industry": np.array(list(cfg.industries), dtype=object)[firms.industry],
        "zone_id": np.array([z.id for z in zones], dtype=object)[firms.zone],
        "region": np.array([z.region for z in zones], dtype=object)[firms.zone],
        "founding_date": firms.founding.astype("datetime64[D]"),
        "registered_capital_wan": firms.registered_capital,
        "operating_status": status,
        "premises": premises,
        "in_digital_park": firms.digital,
        "hightech_cert_date": as_date(certs.hightech),
        "srdi_cert_date": as_date(certs.srdi),
        "little_giant_date": as_date(certs.little_giant),
        "snapshot_date": np.full(firms.n, timeline.snapshot),
    }
