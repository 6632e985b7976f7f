"""Every point is traceable, and ranks compare firms within zone and zone x industry."""

import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.points import compute_points
from tests.features.points.builders import AS_OF, enterprise, filing, tables, three_firms

NATIONAL = load_catalogue("national-2024-trial")


def test_trace_has_one_row_per_firm_and_indicator_that_adds_up_to_the_summary() -> None:
    """The trace is firm-major, complete, and its weighted points sum to the totals."""
    result = compute_points(*three_firms(), NATIONAL, AS_OF)
    trace, summary = result.trace, result.summary.set_index("credit_code")
    assert len(trace) == 3 * 18
    assert trace["credit_code"].tolist()[:18] == [trace["credit_code"].iloc[0]] * 18
    sums = trace.groupby("credit_code")["weighted_points"].sum()
    assert sums.to_dict() == pytest.approx(summary["total_points"].to_dict())
    recomputed = trace["raw_points"] / trace["max_points"] * trace["weight_applied"]
    assert recomputed.to_numpy() == pytest.approx(trace["weighted_points"].to_numpy())


def test_trace_names_inputs_filing_rule_bin_and_percentile() -> None:
    """A's R&D staff share row shows 30 / 100 from filing A-2024-r0, percentile 66.67, bin 3."""
    trace = compute_points(*three_firms(), NATIONAL, AS_OF).trace
    row = trace[(trace["credit_code"] == "A") & (trace["indicator_id"] == "rd_staff_share")]
    row = row.iloc[0]
    assert row["inputs"] == "rd_staff / staff_total"
    assert (row["input_a"], row["input_b"], row["value"]) == (30, 100, 30)
    assert (row["filing_id"], row["fiscal_year"]) == ("A-2024-r0", 2024)
    assert row["rule"] == "percentile" and row["peer_group"] == "all"  # 3 < min_peers 5
    assert row["percentile"] == pytest.approx(200 / 3) and row["bin"] == 3
    assert (row["raw_points"], row["weight"], row["weighted_points"]) == (7.5, 6, 4.5)
    thresholds = trace[(trace["credit_code"] == "A") & (trace["indicator_id"] == "rd_expense")]
    assert thresholds.iloc[0][["rule", "bin", "raw_points"]].tolist() == ["thresholds", 3, 6]


def _zone_population() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Six firms: five biotech in z1 with R&D staff 10..50%, one IT firm in z1."""
    filings, firms = [], []
    for i, share in enumerate([10, 20, 30, 40, 50]):
        code = f"P{i}"
        filings.append(filing(code, 2024, "2025-04-30", staff_total=100, rd_staff=share))
        firms.append(enterprise(code, "2015-01-01"))
    filings.append(filing("Q", 2024, "2025-04-30", staff_total=100, rd_staff=5))
    firms.append(enterprise("Q", "2015-01-01") | {"industry": "next_gen_it"})
    return tables(filings, firms)


def test_percentile_uses_zone_industry_peers_when_there_are_enough() -> None:
    """Five biotech peers suffice (min_peers 5); the lone IT firm falls back to its zone."""
    trace = compute_points(*_zone_population(), NATIONAL, AS_OF).trace
    share = trace[trace["indicator_id"] == "rd_staff_share"].set_index("credit_code")
    assert share.loc["P0", "peer_group"] == "zone_id*industry"
    assert share.loc["P0", "percentile"] == pytest.approx(20.0)  # 1 of 5 biotech peers
    assert share.loc["Q", "peer_group"] == "zone_id"
    assert share.loc["Q", "percentile"] == pytest.approx(100 / 6)  # lowest of 6 in z1


def test_ranks_are_within_zone_and_within_zone_industry() -> None:
    """Rank 1 is the best total; the IT firm is first among its industry of one."""
    summary = compute_points(*_zone_population(), NATIONAL, AS_OF).summary
    summary = summary.set_index("credit_code")
    assert summary.loc["P4", "rank_zone"] == 1 and summary.loc["P4", "zone_firms"] == 6
    assert summary.loc["Q", "rank_zone_industry"] == 1
    assert summary.loc["Q", "zone_industry_firms"] == 1
    assert summary.loc["Q", "pct_zone_industry"] == 100.0
    assert summary["total_points"].is_monotonic_decreasing  # the summary is ranked
