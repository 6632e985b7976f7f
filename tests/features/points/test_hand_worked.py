"""Golden numbers: points of firms A, B, C (see builders.py) worked by hand per catalogue.

Every figure is ``raw / max_points * weight[stage]`` with max_points 10. Percentile rules
compare the firm with the firms that have a value (fewer than 5 peers, so the level falls
back to the whole population): percentile = 100 * (firms no better) / (firms valued).
"""

import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.points import compute_points
from tests.features.points.builders import AS_OF, three_firms

# national-2024-trial. A is in the growth stage, B startup, C mature.
NATIONAL = {
    "A": {
        "rd_expense": 6 / 10 * 8,  # 600 in [500, 1000) -> 6
        "rd_expense_growth": 6 / 10 * 7,  # (600-500)/500 = 20% in [20, 30) -> 6
        "tech_contract_turnover": 6 / 10 * 7,  # 250 in [200, 500) -> 6
        "rd_staff_share": 7.5 / 10 * 6,  # 30% vs {50%, 10%}: 2/3 = 66.7 -> 7.5
        "invention_patents": 6 / 10 * 8,  # 6 in [5, 10) -> 6
        "other_ip": 6 / 10 * 5,  # 3 + 1 + 4 + 0 = 8 in [6, 10) -> 6
        "rd_platforms": 10 / 10 * 4,  # 2*1 + 1 = 3 >= 3 -> 10
        "hightech_product_revenue": 8 / 10 * 7,  # 5000 in [5000, 10000) -> 8
        "roe": 10 / 10 * 6,  # 20% vs {5%} (C has negative equity): 2/2 -> 10
        "revenue_growth": 6 / 10 * 7,  # 8000/6250 - 1 = 28% -> 6
        "net_profit_margin": 10 / 10 * 5,  # 10% vs {3.3%, -2%}: 3/3 -> 10
        "taxes_paid": 8 / 10 * 5,  # 400 in [300, 1000) -> 8
        "new_graduates_hired": 4 / 10 * 5,  # 4 in [3, 5) -> 4
        "vc_financing": 0.0,  # 0 < 1 -> 0
        "high_level_talent": 4 / 10 * 5,  # 2 in [2, 3) -> 4
        "st_awards": 6 / 10 * 3,  # 1 -> 6
        "qualifications": 5 / 10 * 3,  # high-tech 2020 only (SRDI dated 2026) -> 1 -> 5
        "credit_record": 10 / 10 * 3,  # overdue repaired, judgment outside 3y -> 0 -> 10
    },
    "B": {
        "rd_expense": 2 / 10 * 8,  # 150 in [50, 200) -> 2
        "rd_expense_growth": 0.0,  # no prior filing: missing
        "tech_contract_turnover": 0.0,
        "rd_staff_share": 10 / 10 * 8,  # 50% is the best of 3 -> 10
        "invention_patents": 2 / 10 * 9,  # 1 -> 2
        "other_ip": 2 / 10 * 6,  # 2 software copyrights -> 2
        "rd_platforms": 0.0,
        "hightech_product_revenue": 6 / 10 * 5,  # 1200 in [1000, 5000) -> 6
        "roe": 5 / 10 * 3,  # 5% vs {20%}: 1/2 = 50 -> 5
        "revenue_growth": 0.0,  # missing
        "net_profit_margin": 7.5 / 10 * 2,  # 3.3%: 2/3 = 66.7 -> 7.5
        "taxes_paid": 2 / 10 * 3,  # 20 in [10, 50) -> 2
        "new_graduates_hired": 4 / 10 * 6,  # 3 -> 4
        "vc_financing": 6 / 10 * 8,  # 1200 in [1000, 3000) -> 6
        "high_level_talent": 0.0,
        "st_awards": 0.0,
        "qualifications": 0.0,
        "credit_record": 4 / 10 * 4,  # one overdue in 3y, not repaired -> 4
    },
    "C": {
        "rd_expense": 8 / 10 * 8,  # 1200 in [1000, 3000) -> 8 (the 9999 revision is unpublished)
        "rd_expense_growth": 6 / 10 * 5,  # 1200/1000 - 1 = 20% -> 6
        "tech_contract_turnover": 10 / 10 * 7,  # 1000 -> 10
        "rd_staff_share": 2.5 / 10 * 5,  # 10% is the worst of 3: 1/3 = 33.3 -> 2.5
        "invention_patents": 10 / 10 * 7,  # 20 -> 10
        "other_ip": 0.0,
        "rd_platforms": 5 / 10 * 4,  # one provincial -> 1 -> 5
        "hightech_product_revenue": 10 / 10 * 9,  # 12000 -> 10
        "roe": 0.0,  # net assets -100 <= 0: missing
        "revenue_growth": 6 / 10 * 6,  # 25000/20000 - 1 = 25% -> 6
        "net_profit_margin": 2.5 / 10 * 8,  # -2% is the worst of 3 -> 2.5
        "taxes_paid": 10 / 10 * 8,  # 1500 -> 10
        "new_graduates_hired": 10 / 10 * 5,  # 25 -> 10
        "vc_financing": 0.0,
        "high_level_talent": 10 / 10 * 4,  # 10 -> 10
        "st_awards": 10 / 10 * 3,  # 3 -> 10
        "qualifications": 10 / 10 * 2,  # all three -> 10
        "credit_record": 0.0,  # dishonest listing + judgment in 3y = 2 -> 0
    },
}
NATIONAL_TOTALS = {"A": 64.6, "B": 28.0, "C": 63.25}

# v2.0-2025: the same weights in every stage; 9 core indicators (100) + 3 bonus (30).
V2 = {
    "A": {
        "rd_expense": 6 / 10 * 12,  # 600 -> 6
        "rd_intensity": 4 / 10 * 12,  # 600/8000 = 7.5% in [5, 8) -> 4
        "rd_staff_share": 6 / 10 * 10,  # 30% in [30, 40) -> 6
        "invention_patents": 6 / 10 * 12,
        "tech_contract_turnover": 6 / 10 * 10,
        "revenue_growth": 10 / 10 * 12,  # 28% vs {25%} (B missing): 2/2 -> 10
        "hightech_product_revenue_share": 6 / 10 * 10,  # 5000/8000 = 62.5% -> 6
        "taxes_paid": 8 / 10 * 12,
        "new_graduates_hired": 4 / 10 * 10,
        "rd_platforms": 10 / 10 * 10,  # bonus: 3 -> 10
        "awards_and_standards": 8 / 10 * 10,  # bonus: 1 award + 1 standard = 2 -> 8
        "qualifications": 5 / 10 * 10,  # bonus: 1 -> 5
    },
    "B": {
        "rd_expense": 2 / 10 * 12,
        "rd_intensity": 6 / 10 * 12,  # 150/1500 = 10% in [8, 12) -> 6
        "rd_staff_share": 8 / 10 * 10,  # 50% in [40, 60) -> 8
        "invention_patents": 2 / 10 * 12,
        "tech_contract_turnover": 0.0,
        "revenue_growth": 0.0,  # missing
        "hightech_product_revenue_share": 10 / 10 * 10,  # 1200/1500 = 80% -> 10
        "taxes_paid": 2 / 10 * 12,
        "new_graduates_hired": 4 / 10 * 10,
        "rd_platforms": 0.0,
        "awards_and_standards": 0.0,
        "qualifications": 0.0,
    },
    "C": {
        "rd_expense": 8 / 10 * 12,
        "rd_intensity": 2 / 10 * 12,  # 1200/25000 = 4.8% in [3, 5) -> 2
        "rd_staff_share": 2 / 10 * 10,  # 10% in [10, 20) -> 2
        "invention_patents": 10 / 10 * 12,
        "tech_contract_turnover": 10 / 10 * 10,
        "revenue_growth": 5 / 10 * 12,  # 25% vs {28%}: 1/2 = 50 -> 5
        "hightech_product_revenue_share": 2 / 10 * 10,  # 12000/25000 = 48% in [30, 50) -> 2
        "taxes_paid": 10 / 10 * 12,
        "new_graduates_hired": 10 / 10 * 10,
        "rd_platforms": 5 / 10 * 10,  # bonus: 1 -> 5
        "awards_and_standards": 10 / 10 * 10,  # bonus: 3 + 2 = 5 >= 4 -> 10
        "qualifications": 10 / 10 * 10,  # bonus: 3 -> 10
    },
}
V2_TOTALS = {"A": 62.8 + 23.0, "B": 36.4 + 0.0, "C": 66.0 + 25.0}

# regional-2024-zone-ext: national weights x 0.7 (70 points) + 9 local indicators (30).
REGIONAL_LOCAL = {
    "A": {  # growth-stage local weights
        "talent_program_members": 5 / 10 * 4,  # 1 -> 5
        "rd_staff_count": 6 / 10 * 3,  # 30 in [20, 50) -> 6
        "national_platforms": 8 / 10 * 3,  # 1 -> 8
        "pct_applications": 0.0,
        "standards_drafted": 5 / 10 * 3,  # 1 -> 5
        "little_giant": 0.0,
        "competition_awards": 0.0,
        "no_recent_overdue": 10 / 10 * 3,  # the overdue is older than 1 year -> 10
        "court_judgments": 10 / 10 * 3,  # the judgment is older than 3 years -> 10
    },
    "B": {  # startup local weights
        "talent_program_members": 0.0,
        "rd_staff_count": 4 / 10 * 3,  # 10 in [10, 20) -> 4
        "national_platforms": 0.0,
        "pct_applications": 0.0,
        "standards_drafted": 0.0,
        "little_giant": 0.0,
        "competition_awards": 8 / 10 * 6,  # 2 -> 8
        "no_recent_overdue": 0.0,  # overdue published 2025-01-15, within 1 year -> 0
        "court_judgments": 10 / 10 * 3,
    },
}
REGIONAL_TOTALS = {"A": 64.6 * 0.7 + 13.7, "B": 28.0 * 0.7 + 9.0}


def _score(version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    result = compute_points(*three_firms(), load_catalogue(version), AS_OF)
    return result.summary.set_index("credit_code"), result.trace


def _weighted(trace: pd.DataFrame, code: str) -> dict[str, float]:
    rows = trace[trace["credit_code"] == code]
    return dict(zip(rows["indicator_id"].astype(str), rows["weighted_points"], strict=True))


def test_national_points_equal_hand_computed_values_for_three_firms() -> None:
    """Pins the national catalogue's bins, percentiles, stage weights and totals."""
    summary, trace = _score("national-2024-trial")
    assert summary["stage"].astype(str).to_dict() == {"A": "growth", "B": "startup", "C": "mature"}
    for code, expected in NATIONAL.items():
        assert _weighted(trace, code) == pytest.approx(expected), code
        assert summary.loc[code, "total_points"] == pytest.approx(NATIONAL_TOTALS[code])
        assert sum(expected.values()) == pytest.approx(NATIONAL_TOTALS[code])
    assert summary.loc["A", "class_tech_innovation"] == pytest.approx(29.5)
    assert summary.loc["A", "class_growth_operations"] == pytest.approx(26.8)
    assert summary.loc["A", "class_auxiliary"] == pytest.approx(8.3)
    assert summary["rank_zone"].to_dict() == {"A": 1, "C": 2, "B": 3}


def test_v2_points_equal_hand_computed_values_for_three_firms() -> None:
    """Pins version 2.0: core (100) and bonus (30) parts, uniform stage weights."""
    summary, trace = _score("v2.0-2025")
    for code, expected in V2.items():
        assert _weighted(trace, code) == pytest.approx(expected), code
    assert summary.loc["A", "part_core"] == pytest.approx(62.8)
    assert summary.loc["A", "part_bonus"] == pytest.approx(23.0)
    for code, total in V2_TOTALS.items():
        assert summary.loc[code, "total_points"] == pytest.approx(total), code
        assert sum(V2[code].values()) == pytest.approx(total), code


def test_regional_points_scale_national_and_add_local_indicators() -> None:
    """Pins the extension: national weights x 0.7 plus the local part (A, B by hand)."""
    summary, trace = _score("regional-2024-zone-ext")
    for code, local in REGIONAL_LOCAL.items():
        weighted = _weighted(trace, code)
        assert {k: weighted[k] for k in local} == pytest.approx(local), code
        national = {k: weighted[k] for k in NATIONAL[code]}
        assert national == pytest.approx({k: v * 0.7 for k, v in NATIONAL[code].items()})
        assert summary.loc[code, "total_points"] == pytest.approx(REGIONAL_TOTALS[code])
    assert summary.loc["A", "part_local"] == pytest.approx(13.7)
    # 64.6 nationally, 58.92 with the zone's indicators: A drops off the white list.
    assert not summary.loc["A", "whitelist"]


# pilot-2020: five revenue stages; A (revenue 8000) is r4, B (1500) is r3; thresholds only.
PILOT = {
    "A": {  # r4_20_to_200m weights
        "rd_expense": 6 / 10 * 7,  # 600 -> 6
        "rd_intensity": 4 / 10 * 6,  # 7.5% in [5, 8) -> 4
        "rd_staff": 6 / 10 * 5,  # 30 in [20, 50) -> 6
        "rd_staff_share": 6 / 10 * 5,  # 30% in [30, 40) -> 6
        "invention_patents": 6 / 10 * 7,
        "other_ip": 6 / 10 * 5,
        "tech_contract_turnover": 6 / 10 * 6,
        "rd_platforms": 10 / 10 * 4,
        "revenue": 6 / 10 * 5,  # 8000 in [5000, 20000) -> 6
        "revenue_growth": 6 / 10 * 7,  # 28% -> 6
        "hightech_product_revenue": 8 / 10 * 6,
        "net_profit_margin": 6 / 10 * 5,  # 10% in [10, 15) -> 6
        "roe": 10 / 10 * 5,  # 20% >= 20 -> 10
        "taxes_paid": 8 / 10 * 5,
        "new_graduates_hired": 4 / 10 * 5,
        "vc_financing": 0.0,
        "high_level_talent": 4 / 10 * 4,
        "awards_and_standards": 8 / 10 * 3,  # 1 + 1 = 2 -> 8
        "qualifications": 5 / 10 * 3,
        "credit_record": 10 / 10 * 3,
    },
    "B": {  # r3_5_to_20m weights
        "rd_expense": 2 / 10 * 8,
        "rd_intensity": 6 / 10 * 6,  # 10% in [8, 12) -> 6
        "rd_staff": 4 / 10 * 5,  # 10 in [10, 20) -> 4
        "rd_staff_share": 8 / 10 * 6,  # 50% in [40, 60) -> 8
        "invention_patents": 2 / 10 * 8,
        "other_ip": 2 / 10 * 6,
        "tech_contract_turnover": 0.0,
        "rd_platforms": 0.0,
        "revenue": 2 / 10 * 4,  # 1500 in [500, 2000) -> 2
        "revenue_growth": 0.0,  # missing
        "hightech_product_revenue": 6 / 10 * 5,
        "net_profit_margin": 2 / 10 * 3,  # 3.3% in [0, 5) -> 2
        "roe": 4 / 10 * 3,  # 5% in [5, 10) -> 4
        "taxes_paid": 2 / 10 * 4,
        "new_graduates_hired": 4 / 10 * 5,
        "vc_financing": 6 / 10 * 6,
        "high_level_talent": 0.0,
        "awards_and_standards": 0.0,
        "qualifications": 0.0,
        "credit_record": 4 / 10 * 3,  # one overdue -> 4
    },
}
PILOT_TOTALS = {"A": 27.4 + 26.0 + 8.5, "B": 14.8 + 8.4 + 4.8}


def test_pilot_points_equal_hand_computed_values_with_revenue_stages() -> None:
    """Pins the 2020 pilot: five revenue stages pick the weights; thresholds only."""
    summary, trace = _score("pilot-2020")
    assert summary["stage"].astype(str).to_dict() == {
        "A": "r4_20_to_200m",
        "B": "r3_5_to_20m",
        "C": "r5_200m_plus",
    }
    for code, expected in PILOT.items():
        assert _weighted(trace, code) == pytest.approx(expected), code
        assert sum(expected.values()) == pytest.approx(PILOT_TOTALS[code]), code
        assert summary.loc[code, "total_points"] == pytest.approx(PILOT_TOTALS[code]), code
