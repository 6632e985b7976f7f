"""Realistic mess is present at its default rates, yet every row still meets the contract."""

import numpy as np
import pandas as pd

from features.contracts.tables import CONTRACTS
from tests.features.simulate.conftest import Run


def test_filings_carry_revisions_duplicates_gaps_and_late_filings(moderate_run: Run) -> None:
    """Some filings are revised, duplicated exactly, incomplete, or filed after June."""
    filings = moderate_run.raw("innovation_filings")
    originals = filings[filings["revision"] == 0]
    assert (filings["revision"] > 0).any()
    assert filings.duplicated().any()
    assert originals["rd_expense_wan"].isna().mean() > 0.002
    late = originals["filing_date"].dt.month.between(7, 12)
    assert 0.01 < late.mean() < 0.15


def test_revenue_typos_are_corrected_by_a_revision(moderate_run: Run) -> None:
    """A revenue far above the firm's other years comes with a later revision that fixes it."""
    filings = moderate_run.raw("innovation_filings").drop_duplicates()
    by_year = filings.pivot_table(
        index=["credit_code", "fiscal_year"], columns="revision", values="revenue_wan"
    )
    revised = by_year.dropna(subset=[1])
    ratio = revised[0] / revised[1]
    assert (ratio > 50).any()


def test_electricity_has_unit_errors_and_missing_months(moderate_run: Run) -> None:
    """A few readings are a thousand times too small; some meter-months are absent."""
    power = moderate_run.raw("electricity_monthly")
    median = power.groupby("meter_id")["kwh"].transform("median")
    tiny = power["kwh"] < median / 300
    assert 0 < tiny.mean() < 0.01
    months = power.groupby("meter_id")["month"].agg(["min", "max", "count"])
    span = (
        (months["max"].dt.year - months["min"].dt.year) * 12
        + (months["max"].dt.month - months["min"].dt.month)
        + 1
    )
    assert (months["count"] < span).any()


def test_some_firms_have_no_alternative_data_at_all(moderate_run: Run) -> None:
    """About 2 % of firms appear in no electricity, tax or check-in table."""
    codes = set(moderate_run.raw("enterprises")["credit_code"])
    seen = set()
    for table in ("electricity_monthly", "tax_monthly", "checkins_daily"):
        seen |= set(moderate_run.raw(table)["credit_code"])
    share = len(codes - seen) / len(codes)
    assert 0.005 < share < 0.06


def test_default_flags_agree_with_the_firms_true_default_dates(moderate_run: Run) -> None:
    """A matured application is flagged exactly when its firm defaults within 12 months."""
    apps = moderate_run.raw("applications")
    truth = moderate_run.oracle("firms_truth.parquet")[["credit_code", "default_date"]]
    merged = apps.merge(truth.rename(columns={"default_date": "true_date"}), on="credit_code")
    matured = merged[merged["outcome_status"] == "matured"]
    end = matured["application_date"] + pd.DateOffset(months=12)
    expected = (matured["true_date"] > matured["application_date"]) & (matured["true_date"] <= end)
    assert np.array_equal(matured["default_flag"].to_numpy() == 1, expected.to_numpy())
    flagged = matured[matured["default_flag"] == 1]
    assert (flagged["default_date"] == flagged["true_date"]).all()


def test_moderate_run_conforms_to_every_contract(moderate_run: Run) -> None:
    """All the mess above stays within the contracts (no injected breaks at rate 0)."""
    for table, contract in CONTRACTS.items():
        contract.schema.validate(moderate_run.raw(table), lazy=True)
