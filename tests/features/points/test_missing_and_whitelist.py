"""Missing inputs earn what the policy says and are reported; the white list threshold."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from features.catalogue import load_catalogue
from features.catalogue.loader import versions_dir
from features.points import compute_points
from tests.features.points.builders import (
    AS_OF,
    FIRM_A_2024,
    enterprise,
    filing,
    tables,
    three_firms,
)

NATIONAL = load_catalogue("national-2024-trial")


def _a_without_net_assets() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    filings = [
        filing("A", 2023, "2024-04-30", revenue_wan=6250, rd_expense_wan=500),
        filing("A", 2024, "2025-04-30", **(FIRM_A_2024 | {"net_assets_wan": None})),
    ]
    return tables(filings, [enterprise("A", "2015-01-01", hightech_cert_date="2020-01-01")])


def test_missing_input_gives_zero_points_and_is_flagged() -> None:
    """An empty net_assets makes ROE missing: 0 points, flagged, counted; no exception."""
    result = compute_points(*_a_without_net_assets(), NATIONAL, AS_OF)
    roe = result.trace[result.trace["indicator_id"] == "roe"].iloc[0]
    assert bool(roe["missing"]) and roe["missing_reason"] == "null_input"
    assert (roe["raw_points"], roe["weighted_points"], roe["bin"]) == (0, 0, -1)
    assert roe["weight"] == 6  # the growth-stage weight is kept under the zero policy
    assert result.summary["n_missing"].item() == 1
    report = result.missing_report.set_index("indicator_id")
    assert report.loc["roe", ["missing", "null_input", "firms"]].tolist() == [1, 1, 1]
    assert report["missing"].sum() == 1


def test_firm_without_any_filing_is_scored_on_flags_and_events_only() -> None:
    """No known filing: every filing indicator is missing (no_filing); flags still count."""
    _, enterprises, events = _a_without_net_assets()
    no_filings = pd.DataFrame(columns=_a_without_net_assets()[0].columns)
    result = compute_points(no_filings, enterprises, events, NATIONAL, AS_OF)
    trace = result.trace.set_index(result.trace["indicator_id"].astype(str))
    assert trace["missing"].sum() == 16  # all but qualifications and credit_record
    assert set(trace.loc[trace["missing"], "missing_reason"]) == {"no_filing"}
    # Founded 2015, no revenue known: growth stage. 1 qualification -> 5/10 * 3; clean record
    # -> 10/10 * 3.
    assert result.summary["total_points"].item() == pytest.approx(1.5 + 3.0)


def test_missing_reasons_distinguish_no_prior_year_and_nonpositive_base() -> None:
    """B lacks a prior filing; C has negative net assets: each reason is reported."""
    report = compute_points(*three_firms(), NATIONAL, AS_OF).missing_report
    report = report.set_index("indicator_id")
    assert report.loc["rd_expense_growth", "no_prior_filing"] == 1
    assert report.loc["revenue_growth", "no_prior_filing"] == 1
    assert report.loc["roe", "nonpositive_base"] == 1
    assert report.loc["roe", "missing_share"] == pytest.approx(1 / 3, abs=1e-4)


def test_renormalise_policy_spreads_the_part_over_present_indicators(tmp_path: Path) -> None:
    """With missing_policy renormalise, ROE's weight is spread so the core still reaches 100."""
    raw = yaml.safe_load((versions_dir() / "national-2024-trial.yaml").read_text())
    raw["version"] = "renormalised"
    raw["missing_policy"] = {"points": "renormalise"}
    path = tmp_path / "renormalised.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    catalogue = load_catalogue(path)
    zero = compute_points(*_a_without_net_assets(), NATIONAL, AS_OF)
    spread = compute_points(*_a_without_net_assets(), catalogue, AS_OF)
    # Growth-stage weights: ROE (6) missing leaves 94; each weight grows by 100/94.
    assert spread.summary["total_points"].item() == pytest.approx(
        zero.summary["total_points"].item() * 100 / 94
    )
    roe = spread.trace[spread.trace["indicator_id"] == "roe"].iloc[0]
    assert (roe["weight"], roe["weight_applied"]) == (6, 0)


@pytest.mark.parametrize(
    ("threshold", "listed"),
    [(None, {"A", "C"}), (63.25, {"A", "C"}), (63.26, {"A"}), (64.61, set())],
)
def test_whitelist_holds_firms_at_or_above_threshold(
    threshold: float | None, listed: set[str]
) -> None:
    """Totals A 64.6, B 28.0, C 63.25: the default threshold is 60 and the bound is inclusive."""
    summary = compute_points(*three_firms(), NATIONAL, AS_OF, whitelist_threshold=threshold).summary
    assert set(summary.loc[summary["whitelist"], "credit_code"]) == listed


def test_whitelist_threshold_comes_from_the_catalogue(tmp_path: Path) -> None:
    """A catalogue declaring whitelist.threshold 64 lists only A."""
    raw = yaml.safe_load((versions_dir() / "national-2024-trial.yaml").read_text())
    raw["whitelist"] = {"threshold": 64}
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    summary = compute_points(*three_firms(), load_catalogue(path), AS_OF).summary
    assert summary.loc[summary["whitelist"], "credit_code"].tolist() == ["A"]
