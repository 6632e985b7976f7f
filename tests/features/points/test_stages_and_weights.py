"""Stages come from the stage rules, and each stage's weights change points as declared."""

import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.points import compute_points
from tests.features.points.builders import FIRM_A_2024, enterprise, filing, tables

NATIONAL = load_catalogue("national-2024-trial")
AS_OF = "2025-06-30"


def _single_firm(founded: str, revenue: float = 8000) -> pd.DataFrame:
    filings = [
        filing("A", 2023, "2024-04-30", revenue_wan=6250, rd_expense_wan=500),
        filing("A", 2024, "2025-04-30", **(FIRM_A_2024 | {"revenue_wan": revenue})),
    ]
    ent = [enterprise("A", founded, hightech_cert_date="2020-01-01")]
    return compute_points(*tables(filings, ent), NATIONAL, AS_OF).trace


@pytest.mark.parametrize(
    ("founded", "revenue", "stage"),
    [
        ("2023-01-01", 8000, "startup"),  # 2.5 years old
        ("2015-01-01", 1999, "startup"),  # revenue below 2000
        ("2015-01-01", 8000, "growth"),
        ("2016-01-01", 20000, "growth"),  # 9.5 years: mature needs >= 10 years as well
        ("2015-01-01", 20000, "mature"),  # 10.5 years and revenue 20000
    ],
)
def test_stage_follows_age_and_revenue_rules(founded: str, revenue: float, stage: str) -> None:
    """Startup if < 3 years or revenue < 2000; mature if >= 10 years and >= 20000; else growth."""
    trace = _single_firm(founded, revenue)
    assert set(trace["stage"].astype(str)) == {stage}


def test_same_firm_in_another_stage_differs_by_the_declared_weights() -> None:
    """Only the founding date changes (growth -> startup); points move by sum(raw/10 * dw)."""
    growth = _single_firm("2015-01-01")
    startup = _single_firm("2023-01-01")
    assert (growth["raw_points"].to_numpy() == startup["raw_points"].to_numpy()).all()
    by_catalogue = sum(
        raw
        / 10
        * (NATIONAL.indicator(ind).weight("startup") - NATIONAL.indicator(ind).weight("growth"))
        for ind, raw in zip(growth["indicator_id"].astype(str), growth["raw_points"], strict=True)
    )
    # By hand (startup - growth weight) x raw/10: +0.6 (R&D growth) -0.6 (contracts)
    # +2.0 (R&D staff) +0.6 (patents) +0.6 (other IP) +1.0 (platforms) -1.6 (high-tech
    # revenue) -3.0 (ROE) -0.6 (revenue growth) -3.0 (margin) -1.6 (taxes) +0.4 (graduates)
    # +0.4 (talent) +0.5 (qualifications) +1.0 (credit record) = -3.3
    difference = startup["weighted_points"].sum() - growth["weighted_points"].sum()
    assert difference == pytest.approx(-3.3)
    assert difference == pytest.approx(by_catalogue)


def test_full_raw_points_reach_the_part_totals_in_every_stage() -> None:
    """Weights are normalised: all-maximum raw points give 100 (national) in each stage."""
    for stage in NATIONAL.stage_ids():
        assert sum(i.weight(stage) for i in NATIONAL.indicators) == pytest.approx(100)
    v2 = load_catalogue("v2.0-2025")
    assert v2.max_total == 130
    for stage in v2.stage_ids():
        core = sum(i.weight(stage) for i in v2.indicators if i.part == "core")
        bonus = sum(i.weight(stage) for i in v2.indicators if i.part == "bonus")
        assert (core, bonus) == (pytest.approx(100), pytest.approx(30))
