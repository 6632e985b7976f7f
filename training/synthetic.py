"""A small, real-world-shaped "bring your own data" loan book, for tests, bench and demos.

It looks like a bank's extract, not like the simulator's output: text labels ("bad" /
"good"), categorical industry and zone, ratios with missing values, immature recent
applications, a gentle drift of the default rate over time and an innovation-points column.
The true PD of each row is returned as ``oracle_pd`` so evaluation can report the gap.
"""

from typing import Any

import numpy as np
import pandas as pd

INDUSTRY_RISK = {
    "next_gen_it": -0.1,
    "high_end_equipment": 0.0,
    "new_materials": 0.1,
    "biotech": 0.35,
    "new_energy_vehicles": 0.2,
    "new_energy": 0.05,
    "energy_saving_environment": 0.0,
    "digital_creative": 0.3,
    "related_services": 0.15,
}
ZONE_RISK = {
    "zhongguancun": -0.2,
    "zhangjiang": -0.1,
    "shenzhen_hitech": 0.0,
    "wuhan_optics_valley": 0.1,
    "hefei_hitech": 0.15,
    "xian_hitech": 0.25,
}
SNAPSHOT = pd.Timestamp("2025-06-30")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def make_loan_book(n: int, seed: int = 7, base_logit: float = -3.1) -> pd.DataFrame:
    """Return ``n`` SME loan applications from 2021 to mid-2025 with 12-month outcomes.

    Args:
        n: number of applications.
        seed: seed of the generator; the same seed gives the same frame.
        base_logit: intercept of the true default model (about 6 % defaults by default).

    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2021-01-01")
    days = rng.integers(0, (SNAPSHOT - start).days, size=n)
    dates = (start + pd.to_timedelta(np.sort(days), unit="D")).normalize()
    industry = rng.choice(list(INDUSTRY_RISK), size=n)
    zone = rng.choice(list(ZONE_RISK), size=n, p=[0.25, 0.2, 0.2, 0.15, 0.1, 0.1])
    quality = rng.normal(size=n)
    age = np.clip(rng.gamma(2.5, 2.5, size=n), 0.3, 30)
    staff = np.round(np.exp(rng.normal(3.2 + 0.3 * quality, 0.8))).clip(3, 3000)
    rd_share = _sigmoid(rng.normal(-1.2 + 0.5 * quality, 0.5))
    patents = rng.poisson(np.exp(0.6 + 0.7 * quality).clip(0, 40))
    debt_ratio = _sigmoid(rng.normal(0.0 - 0.5 * quality, 0.7))
    current_ratio = np.exp(rng.normal(0.3 + 0.25 * quality, 0.5))
    revenue_growth = rng.normal(0.08 + 0.1 * quality, 0.25)
    elec_change = rng.normal(0.0, 0.15, size=n) - 0.25 * (rng.random(n) < 0.08)
    overdue = rng.poisson(np.exp(-1.6 - 0.5 * quality))
    points = np.clip(60 + 12 * quality + 4 * np.log1p(patents) + rng.normal(0, 6, n), 0, 100)
    amount = np.round(np.exp(rng.normal(6.0 + 0.3 * quality, 0.6)), 1).clip(10, 3000)
    term = rng.choice([6, 12, 24, 36], size=n, p=[0.15, 0.5, 0.25, 0.1])
    years = ((dates - start).days / 365.25).to_numpy()
    logit = (
        base_logit
        - 0.55 * quality
        + 1.6 * (debt_ratio - 0.5)
        - 0.35 * np.log(current_ratio)
        - 0.8 * revenue_growth
        - 3.0 * np.minimum(elec_change, 0.0)
        + 0.45 * overdue
        - 0.15 * np.log1p(age)
        + np.vectorize(INDUSTRY_RISK.get)(industry)
        + np.vectorize(ZONE_RISK.get)(zone)
        + 0.08 * years
    )
    pd_true = _sigmoid(logit)
    defaulted = rng.random(n) < pd_true
    frame = pd.DataFrame(
        {
            "application_id": [f"APP{i:07d}" for i in range(n)],
            "application_date": dates.strftime("%Y-%m-%d"),
            "industry": industry,
            "zone": zone,
            "firm_age_years": np.round(age, 2),
            "staff_count": staff.astype(int),
            "rd_staff_share": np.round(rd_share, 4),
            "invention_patents": patents.astype(int),
            "debt_ratio": np.round(debt_ratio, 4),
            "current_ratio": np.round(current_ratio, 3),
            "revenue_growth": np.round(revenue_growth, 4),
            "elec_kwh_change_3m": np.round(elec_change, 4),
            "overdue_count_24m": overdue.astype(int),
            "amount_wan": amount,
            "term_months": term,
            "points_total": np.round(points, 1),
            "loan_status": np.where(defaulted, "bad", "good"),
            "outcome_status": "matured",
            "oracle_pd": np.round(pd_true, 6),
        }
    )
    _add_gaps(frame, rng, dates)
    return frame


def _add_gaps(frame: pd.DataFrame, rng: np.random.Generator, dates: pd.DatetimeIndex) -> None:
    """Blank values the way extracts do: missing ratios, immature recent outcomes."""
    for column, share in (
        ("revenue_growth", 0.08),
        ("current_ratio", 0.05),
        ("elec_kwh_change_3m", 0.15),
    ):
        frame.loc[rng.random(len(frame)) < share, column] = np.nan
    immature = (SNAPSHOT - dates).days < 365
    frame.loc[immature, "outcome_status"] = "immature"
    frame.loc[immature, "loan_status"] = None


def demo_spec(**overrides: Any) -> dict[str, Any]:
    """Return the spec (as a mapping) that describes ``make_loan_book``'s frame."""
    spec: dict[str, Any] = {
        "spec_version": 1,
        "name": "sme-byod-demo",
        "target": "loan_status",
        "positive_label": "bad",
        "id_column": "application_id",
        "time_column": "application_date",
        "categorical": ["industry", "zone"],
        "numeric": [
            "firm_age_years",
            "staff_count",
            "rd_staff_share",
            "invention_patents",
            "debt_ratio",
            "current_ratio",
            "revenue_growth",
            "elec_kwh_change_3m",
            "overdue_count_24m",
            "amount_wan",
            "term_months",
        ],
        "drop": [],
        "monotone": {"debt_ratio": 1, "overdue_count_24m": 1, "current_ratio": -1},
        "points_column": "points_total",
        "segments": ["industry", "zone"],
        "oracle_column": "oracle_pd",
    }
    spec.update(overrides)
    return spec
