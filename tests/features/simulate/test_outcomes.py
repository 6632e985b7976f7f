"""Outcomes behave like a credit portfolio, and the oracle's true PD is learnable and calibrated."""

import numpy as np
import pandas as pd

from features.simulate.summary import auc
from tests.features.simulate.conftest import Run


def _matured(run: Run) -> pd.DataFrame:
    apps = run.raw("applications")
    truth = run.oracle("applications_truth.parquet")
    matured = apps[apps["outcome_status"] == "matured"]
    return matured.merge(truth, on="application_id", validate="one_to_one")


def test_bad_rate_within_three_to_eight_percent_on_moderate_run(moderate_run: Run) -> None:
    """About 3-8 % of matured applications default within 12 months."""
    matured = _matured(moderate_run)
    assert len(matured) > 1000
    assert 0.03 <= matured["default_flag"].mean() <= 0.08
    assert moderate_run.summary.bad_rate == matured["default_flag"].mean()


def test_oracle_auc_clearly_above_075_on_matured_applications(moderate_run: Run) -> None:
    """The true PD ranks the observed defaults well: the hazard is learnable."""
    matured = _matured(moderate_run)
    score = auc(matured["true_pd_12m"].to_numpy(), matured["default_flag"].to_numpy() == 1)
    assert score > 0.77
    assert moderate_run.summary.oracle_auc == score


def test_mean_true_pd_close_to_observed_bad_rate(moderate_run: Run) -> None:
    """The true PD is calibrated: its mean is within sampling error of the bad rate."""
    matured = _matured(moderate_run)
    n, observed = len(matured), matured["default_flag"].mean()
    expected = matured["true_pd_12m"].mean()
    tolerance = 3 * np.sqrt(expected * (1 - expected) / n)
    assert abs(observed - expected) < tolerance


def test_true_pd_is_a_probability_for_every_application(moderate_run: Run) -> None:
    """Every application, matured or not, has a true PD in (0, 1)."""
    apps = moderate_run.raw("applications")
    truth = moderate_run.oracle("applications_truth.parquet")
    assert set(truth["application_id"]) == set(apps["application_id"])
    assert truth["true_pd_12m"].between(0, 1, inclusive="neither").all()


def test_electricity_drops_in_the_months_before_default(moderate_run: Run) -> None:
    """Stress shows in power use before the default: the 3 months before are below 12 before."""
    truth = moderate_run.oracle("firms_truth.parquet").dropna(subset=["default_month"])
    power = moderate_run.raw("electricity_monthly")
    monthly = power.groupby(["credit_code", "month"], as_index=False)["kwh"].sum()
    monthly = monthly.merge(truth[["credit_code", "default_month"]], on="credit_code")
    lead = (monthly["default_month"].dt.year - monthly["month"].dt.year) * 12 + (
        monthly["default_month"].dt.month - monthly["month"].dt.month
    )
    per_firm = pd.DataFrame(
        {
            "before_12": monthly["kwh"].where(lead == 12).groupby(monthly["credit_code"]).mean(),
            "before_3": monthly["kwh"]
            .where(lead.between(1, 3))
            .groupby(monthly["credit_code"])
            .mean(),
        }
    ).dropna()
    assert len(per_firm) > 50
    assert (per_firm["before_3"] / per_firm["before_12"]).median() < 0.9


def test_activity_degrades_after_default(moderate_run: Run) -> None:
    """After a default, VAT filings are mostly zero filings."""
    truth = moderate_run.oracle("firms_truth.parquet").dropna(subset=["default_month"])
    tax = moderate_run.raw("tax_monthly").merge(
        truth[["credit_code", "default_month"]], on="credit_code"
    )
    after = tax[tax["month"] > tax["default_month"]]
    before = tax[tax["month"] < tax["default_month"]]
    assert after["zero_filing"].mean() > 0.5 > before["zero_filing"].mean()


def test_defaults_leave_a_trace_in_credit_events(moderate_run: Run) -> None:
    """Each default known at the snapshot long enough to be published has an overdue event."""
    truth = moderate_run.oracle("firms_truth.parquet").dropna(subset=["default_date"])
    settled = truth[
        truth["default_date"] < pd.Timestamp(moderate_run.cfg.snapshot_date) - pd.Timedelta(days=45)
    ]
    events = moderate_run.raw("credit_events")
    overdue = events[events["event_type"] == "overdue"]
    assert set(settled["credit_code"]) <= set(overdue["credit_code"])
    listings = events[events["event_type"] == "dishonest_listing"]
    judged = set(events.loc[events["event_type"] == "court_judgment", "credit_code"])
    assert set(listings["credit_code"]) <= judged
