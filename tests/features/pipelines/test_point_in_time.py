"""Hand-checked feature values on tiny tables, and the point-in-time rules behind them."""

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from features.pipelines.training import point_in_time_features
from tests.features.pipelines.factory import FIRM_A, FIRM_B, TinyData, month

AS_OF = date(2024, 1, 15)  # idx 0 = December 2023


def features_of(data: TinyData, root: Path, as_of: date = AS_OF, stage: str = "clean") -> dict:
    layout = data.write(root, stage=stage)
    spine = pa.table({"credit_code": [FIRM_A], "as_of": [as_of]})
    rows = point_in_time_features(layout, spine, stage=stage).to_pylist()  # type: ignore[arg-type]
    assert len(rows) == 1
    return rows[0]


def base() -> TinyData:
    return TinyData().enterprise(FIRM_A).enterprise(FIRM_B)


def test_electricity_trend_matches_hand_computation(tmp_path: Path) -> None:
    """Nine months at 100 then three at 50: trend 3m/12m = 50 / 87.5, yoy vs 100."""
    data = base().electricity(FIRM_A, month(2022, 1), [100.0] * 12 + [100.0] * 9 + [50.0] * 3)
    f = features_of(data, tmp_path)
    assert f["elec_kwh_last"] == 50.0
    assert f["elec_kwh_mean_3m"] == 50.0
    assert f["elec_kwh_mean_12m"] == pytest.approx(87.5)
    assert f["elec_trend_3m_vs_12m"] == pytest.approx(50.0 / 87.5)
    assert f["elec_yoy_3m"] == pytest.approx(-0.5)
    assert f["elec_months_missing_12m"] == 0
    assert f["elec_low_month_share_12m"] == 0.0  # 50 is not below half of the median 100
    assert f["elec_slope_12m"] < 0


def test_unit_error_is_multiplied_back_and_counted(tmp_path: Path) -> None:
    """A month at 0.1 kWh beside a median of 100 kWh is MWh reported as kWh: x1000."""
    readings = [100.0] * 20 + [0.1] + [100.0] * 2 + [0.1]
    f = features_of(base().electricity(FIRM_A, month(2022, 1), readings), tmp_path)
    assert f["elec_unit_corrections_12m"] == 2  # one inside the series, one the latest month
    assert f["elec_kwh_last"] == pytest.approx(100.0)
    assert f["elec_cv_12m"] == pytest.approx(0.0, abs=1e-9)


def test_plant_winding_down_is_not_corrected_as_unit_error(tmp_path: Path) -> None:
    """6000 kWh falling month by month to 4 kWh is distress, not MWh reported as kWh."""
    readings = [6000.0] * 16 + [2300.0, 1000.0, 700.0, 320.0, 42.0, 7.0, 4.0, 4.0]
    f = features_of(base().electricity(FIRM_A, month(2022, 1), readings), tmp_path)
    assert f["elec_unit_corrections_12m"] == 0
    assert f["elec_kwh_last"] == 4.0
    assert f["elec_trend_3m_vs_12m"] < 0.01


def test_zero_kwh_is_not_a_unit_error(tmp_path: Path) -> None:
    """A stopped plant reads zero in any unit: counted as a zero month, never corrected."""
    readings = [100.0] * 23 + [0.0]
    f = features_of(base().electricity(FIRM_A, month(2022, 1), readings), tmp_path)
    assert f["elec_unit_corrections_12m"] == 0
    assert f["elec_zero_months_12m"] == 1
    assert f["elec_low_month_share_12m"] == pytest.approx(1 / 12)


def test_reading_published_after_as_of_is_not_seen(tmp_path: Path) -> None:
    """December 2023 published on 20 January 2024 is unknown on 15 January."""
    data = base().electricity(FIRM_A, month(2023, 1), [100.0] * 12, lag_days=20)
    f = features_of(data, tmp_path)
    assert f["elec_months_missing_12m"] == 1
    assert f["elec_months_since_last"] == 2


def test_zero_filing_counts_match_hand_count(tmp_path: Path) -> None:
    """Pattern 5,5,0,5,0,0 repeated: three zero filings per six months; streak of two."""
    f = features_of(
        base().tax(FIRM_A, month(2022, 1), [5.0, 5.0, 0.0, 5.0, 0.0, 0.0] * 4), tmp_path
    )
    assert f["tax_zero_filings_6m"] == 3
    assert f["tax_zero_filings_12m"] == 6
    assert f["tax_zero_filing_streak"] == 2
    assert f["tax_vat_sum_12m"] == pytest.approx(30.0)
    assert f["tax_income_tax_12m"] == pytest.approx(12.0)


def test_months_since_last_overdue_counts_calendar_months(tmp_path: Path) -> None:
    """Overdue dated 10 March 2023, as of 15 January 2024: ten months."""
    data = base().event(FIRM_A, "e1", "overdue", date(2023, 3, 10), amount=20.0)
    data.event(FIRM_A, "e0", "overdue", date(2021, 6, 1), amount=5.0)
    f = features_of(data, tmp_path)
    assert f["credit_months_since_overdue"] == 10
    assert f["credit_overdue_count_12m"] == 1
    assert f["credit_overdue_count_36m"] == 2
    assert f["credit_overdue_amount_12m"] == pytest.approx(20.0)
    assert f["credit_months_since_court_judgment"] is None


def test_event_published_after_as_of_is_not_seen(tmp_path: Path) -> None:
    """A December judgment published in February is unknown in January."""
    data = base().event(
        FIRM_A, "j1", "court_judgment", date(2023, 12, 1), 9.0, published=date(2024, 2, 1)
    )
    f = features_of(data, tmp_path)
    assert f["credit_court_judgment_count_12m"] == 0
    assert f["credit_judgment_amount_36m"] == 0.0


def test_dishonest_listing_is_active_until_repaired(tmp_path: Path) -> None:
    """Listed in 2022 and repaired in 2023: not active; listed again later: active."""
    data = base().event(FIRM_A, "d1", "dishonest_listing", date(2022, 5, 1))
    data.event(FIRM_A, "r1", "credit_repair", date(2023, 2, 1))
    assert features_of(data, tmp_path / "a")["credit_dishonest_active"] is False
    data.event(FIRM_A, "d2", "dishonest_listing", date(2023, 9, 1))
    assert features_of(data, tmp_path / "b")["credit_dishonest_active"] is True


def test_highest_revision_published_by_as_of_is_used(tmp_path: Path) -> None:
    """Revision 1 published before as-of wins; revision 2 published after is ignored."""
    data = base().filing(FIRM_A, 2022, date(2023, 4, 30), revision=0, revenue_wan=1000.0)
    data.filing(FIRM_A, 2022, date(2023, 6, 30), revision=1, revenue_wan=1200.0)
    data.filing(FIRM_A, 2022, date(2024, 3, 1), revision=2, revenue_wan=9999.0)
    data.filing(FIRM_A, 2021, date(2022, 4, 30), revenue_wan=1000.0)
    f = features_of(data, tmp_path)
    assert f["inno_revision"] == 1
    assert f["inno_revenue_wan"] == 1200.0
    assert f["inno_revenue_growth"] == pytest.approx(0.2)
    assert f["inno_rd_intensity"] == pytest.approx(80.0 / 1200.0)


def test_ratios_with_zero_denominator_are_null(tmp_path: Path) -> None:
    """Zero revenue, zero staff and negative equity give NULL ratios, not errors or 0."""
    data = base().filing(
        FIRM_A, 2022, date(2023, 4, 30), revenue_wan=0.0, staff_total=0, rd_staff=0,
        net_assets_wan=-10.0,
    )  # fmt: skip
    f = features_of(data, tmp_path)
    assert f["inno_rd_intensity"] is None
    assert f["inno_rd_staff_share"] is None
    assert f["inno_roe"] is None
    assert f["inno_net_margin"] is None


def test_firm_off_the_platform_has_null_checkins_not_zero(tmp_path: Path) -> None:
    """No check-in records: ck_on_platform false and the check-in features NULL."""
    f = features_of(base().checkins(FIRM_B, date(2023, 6, 1), [5] * 100), tmp_path)
    assert f["ck_on_platform"] is False
    assert f["ck_staff_mean_30d"] is None
    assert f["ck_zero_days_30d"] is None
    assert f["elec_kwh_mean_12m"] is None
    assert f["elec_months_missing_12m"] == 12  # defined fill: all twelve months are missing


def test_checkin_drop_and_attendance_match_hand_computation(tmp_path: Path) -> None:
    """Twenty staff for 300 days then ten for the last 30 known days (the as-of day unseen)."""
    start = date(2023, 1, 1)
    counts = [20] * (AS_OF - start).days
    counts[-30:] = [10] * 30
    counts.append(99)  # the as-of day itself is only known tomorrow
    f = features_of(base().checkins(FIRM_A, start, counts), tmp_path)
    assert f["ck_staff_mean_30d"] == 10.0
    assert f["ck_drop_30d"] == pytest.approx(0.5)
    assert f["ck_headcount_proxy_12m"] == 20
    assert f["ck_attendance_rate_30d"] == pytest.approx(0.5)
    assert f["ck_days_since_last"] == 1


def test_exact_duplicate_rows_collapse(tmp_path: Path) -> None:
    """A raw export that repeats every row gives the same features as one copy."""
    data = base().tax(FIRM_A, month(2023, 1), [5.0] * 12)
    once = features_of(data, tmp_path / "once", stage="raw")
    data.rows["tax_monthly"] *= 2
    twice = features_of(data, tmp_path / "twice", stage="raw")
    assert twice == once
    assert twice["tax_vat_sum_12m"] == pytest.approx(60.0)


def test_qualification_counts_only_from_certificate_date(tmp_path: Path) -> None:
    """A certificate dated after the as-of date is not yet held."""
    data = TinyData().enterprise(
        FIRM_A, hightech_cert_date=date(2020, 1, 1), srdi_cert_date=date(2024, 6, 1)
    )
    f: dict[str, Any] = features_of(data, tmp_path)
    assert f["firm_hightech_certified"] is True
    assert f["firm_srdi_certified"] is False
    assert f["firm_qualifications"] == 1
