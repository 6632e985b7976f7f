"""Missing data are no good news: weak and stressed firms are the ones whose data go missing."""

import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.pipelines.training import build_training_set
from features.simulate.missingness import next_reporting_month
from tests.features.simulate.conftest import Run

KEY_FIELDS = (
    "tax_income_tax_12m",
    "tax_vat_sum_3m",
    "elec_kwh_mean_3m",
    "ck_staff_mean_30d",
    "inno_revenue_wan",
)
"""A key field of each alternative-data source and of the annual filings."""
MIN_MISSING_ROWS = 50


def _month_number(dates: pd.Series) -> pd.Series:
    return dates.dt.year * 12 + dates.dt.month


@pytest.fixture(scope="module")
def matured_rows(moderate_run: Run) -> pd.DataFrame:
    """Matured applications of the moderate run with their point-in-time features."""
    built = build_training_set(moderate_run.layout, moderate_run.cfg.snapshot_date, stage="raw")
    rows = pq.read_table(built.path).to_pandas()
    return rows[rows["label_outcome_status"] == "matured"]


@pytest.mark.slow
@pytest.mark.parametrize("field", KEY_FIELDS)
def test_rows_missing_a_key_field_default_at_least_as_often_as_the_rest(
    matured_rows: pd.DataFrame, field: str
) -> None:
    """Rows without the field default at least as often as rows with it.

    Tolerance: one standard error of a group of that size at the rate of the other rows,
    so sampling noise alone does not fail the test (the seeded run clears it by far).
    """
    missing = matured_rows[field].isna()
    flags = matured_rows["label_default_flag"]
    assert missing.sum() >= MIN_MISSING_ROWS
    present_rate = flags[~missing].mean()
    tolerance = math.sqrt(present_rate * (1 - present_rate) / missing.sum())
    assert flags[missing].mean() >= present_rate - tolerance


def test_firms_without_alternative_data_are_weaker(moderate_run: Run) -> None:
    """Thin files lean to weak firms: their mean quality is well below the others'."""
    firms = moderate_run.oracle("firms_truth.parquet")
    thin = firms["no_alt_data"]
    assert thin.sum() >= 30
    gap = firms.loc[~thin, "quality"].mean() - firms.loc[thin, "quality"].mean()
    assert gap > 0.25


def test_firms_on_a_digital_park_platform_are_stronger(moderate_run: Run) -> None:
    """Parks admit stronger tenants: firms off the platform have lower mean quality."""
    firms = moderate_run.raw("enterprises").merge(
        moderate_run.oracle("firms_truth.parquet"), on="credit_code"
    )
    on_platform = firms["in_digital_park"]
    gap = firms.loc[on_platform, "quality"].mean() - firms.loc[~on_platform, "quality"].mean()
    assert gap > 0.15


def test_tax_returns_come_late_in_the_months_before_a_default(moderate_run: Run) -> None:
    """A firm in trouble stops filing and catches up later: late returns cluster before default.

    A return is late when it is filed after the month following its due month; the share
    of late returns for the three months before a default is over three times the share
    among firms that never default.
    """
    tax = moderate_run.raw("tax_monthly").drop_duplicates(["credit_code", "month"])
    truth = moderate_run.oracle("firms_truth.parquet")[["credit_code", "default_month"]]
    tax = tax.merge(truth, on="credit_code")
    late = _month_number(tax["filing_date"]) >= _month_number(tax["month"]) + 2
    lead = _month_number(tax["default_month"]) - _month_number(tax["month"])
    before_default = lead.between(1, 3)
    never_default = tax["default_month"].isna()
    assert before_default.sum() >= 500
    assert late[before_default].mean() > 3 * late[never_default].mean()


def test_annual_filings_due_in_a_lapse_come_late_in_the_same_year_or_never(
    moderate_run: Run,
) -> None:
    """Every original filing is still made in the year after its fiscal year."""
    filings = moderate_run.raw("innovation_filings")
    originals = filings[filings["revision"] == 0]
    assert (originals["filing_date"].dt.year == originals["fiscal_year"] + 1).all()


def test_next_reporting_month_skips_lapsed_months() -> None:
    """The catch-up month is the first month from then on without a lapse, or one past the end."""
    lapsed = np.array([[False, True, True, False, True], [True, False, False, True, True]])
    expected = np.array([[0, 3, 3, 3, 5], [1, 1, 2, 5, 5]])
    assert np.array_equal(next_reporting_month(lapsed), expected)


def test_firm_count_of_the_config_is_honoured(small_run: Run) -> None:
    """The run simulates exactly the configured number of firms, each with one code."""
    firms = small_run.raw("enterprises")
    assert small_run.summary.n_firms == small_run.cfg.n_firms
    assert firms["credit_code"].nunique() == len(firms) == small_run.cfg.n_firms


def test_loans_taken_before_the_window_are_renewed_in_its_first_months(
    moderate_run: Run,
) -> None:
    """Firms already borrowing when the window opens roll their loans over at once.

    No loan applied for inside the window can fall due within ``min_gap_months`` of the
    first application month, so renewals there come from the opening book.
    """
    cfg = moderate_run.cfg
    apps = moderate_run.raw("applications")
    first_month = pd.Timestamp(cfg.snapshot_date).to_period("M") - 12 * cfg.history_years + 1
    opening = (first_month + 12).to_timestamp()
    early = apps["application_date"] < opening + pd.DateOffset(
        months=cfg.applications.min_gap_months
    )
    assert (apps["application_date"] >= opening).all()
    renewals = apps.loc[early, "product"] == "renewal"
    assert renewals.sum() > 0.2 * early.sum()
