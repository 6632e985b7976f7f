"""Every raw table meets its contract and shows the behaviour the brief asks for."""

import pandas as pd
import pytest

from features.contracts.tables import CONTRACTS
from tests.features.simulate.conftest import Run


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_table_conforms_to_its_contract_without_injection(small_run: Run, table: str) -> None:
    """With injection rate 0, every row of every table passes its pandera contract."""
    frame = small_run.raw(table)
    assert len(frame) > 0
    CONTRACTS[table].schema.validate(frame, lazy=True)


def test_each_chunk_writes_one_part_per_table(small_run: Run) -> None:
    """Firms are written chunk by chunk: 200 firms in chunks of 120 give two parts per table."""
    for table in CONTRACTS:
        names = sorted(p.name for p in small_run.layout.raw(table).glob("*.parquet"))
        assert names == ["part-00000.parquet", "part-00001.parquet"], table


def test_row_counts_in_summary_match_files(small_run: Run) -> None:
    """The summary reports the rows actually written."""
    for table in CONTRACTS:
        assert small_run.summary.rows[table] == len(small_run.raw(table))


def test_oracle_is_written_outside_raw(small_run: Run) -> None:
    """The hidden truth lives under oracle/, never among the raw tables."""
    names = {p.name for p in small_run.layout.oracle.iterdir()}
    assert names == {"applications_truth.parquet", "firms_truth.parquet", "injected_errors.parquet"}
    assert not list((small_run.layout.root / "raw").rglob("*truth*"))


def test_checkins_absent_for_firms_outside_digital_parks(small_run: Run) -> None:
    """Only firms on a digital park platform have check-in rows."""
    firms = small_run.raw("enterprises")
    checkins = small_run.raw("checkins_daily")
    outside = set(firms.loc[~firms["in_digital_park"], "credit_code"])
    assert outside
    assert not outside & set(checkins["credit_code"])


def test_checkins_fall_on_working_days_only(small_run: Run) -> None:
    """No check-ins on weekends or on the National Day week."""
    dates = small_run.raw("checkins_daily")["date"]
    assert (dates.dt.dayofweek < 5).all()
    national_day = (dates.dt.month == 10) & (dates.dt.day <= 7)
    assert not national_day.any()


def test_immature_applications_have_null_outcomes(small_run: Run) -> None:
    """An application whose 12-month window ends after the snapshot carries no flag or date."""
    apps = small_run.raw("applications")
    immature = apps[apps["outcome_status"] == "immature"]
    assert len(immature) > 0
    assert immature["default_flag"].isna().all()
    assert immature["default_date"].isna().all()
    snapshot = pd.Timestamp(small_run.cfg.snapshot_date)
    assert (immature["application_date"] + pd.DateOffset(months=12) > snapshot).all()


def test_applications_start_after_twelve_months_of_history(small_run: Run) -> None:
    """No application is dated in the first 12 months of the alternative-data window."""
    apps = small_run.raw("applications")
    first = pd.Timestamp(small_run.cfg.snapshot_date) - pd.DateOffset(
        years=small_run.cfg.history_years
    )
    assert (apps["application_date"] > first + pd.DateOffset(months=12)).all()


def test_firms_in_default_do_not_apply(moderate_run: Run) -> None:
    """No application is made on or after the firm's default date."""
    apps = moderate_run.raw("applications")
    truth = moderate_run.oracle("firms_truth.parquet")
    firm_default = truth[["credit_code", "default_date"]].rename(
        columns={"default_date": "firm_default_date"}
    )
    merged = apps.merge(firm_default, on="credit_code")
    assert merged["firm_default_date"].notna().any()
    assert not (merged["application_date"] >= merged["firm_default_date"]).any()


def test_filings_arrive_after_their_fiscal_year(small_run: Run) -> None:
    """Filings are dated in a later year than their fiscal year, mostly March to June."""
    filings = small_run.raw("innovation_filings")
    originals = filings[filings["revision"] == 0]
    assert (originals["filing_date"].dt.year == originals["fiscal_year"] + 1).all()
    assert originals["filing_date"].dt.month.between(3, 6).mean() > 0.85
