"""Validation moves every row to clean or quarantine, and names table, key, column, value, rule."""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.contracts.tables import CONTRACTS
from features.contracts.validate import DUPLICATE_KEY, UNKNOWN_ENTERPRISE, validate_tables
from features.layout import DataLayout

GOOD = ["914403001922038216", "91330100716105852F", "9144030071526726XG"]
BAD_CHECK = "91350100M000100Y44"


def _enterprises(codes: list[str]) -> pd.DataFrame:
    n = len(codes)
    return pd.DataFrame(
        {
            "credit_code": codes,
            "name": [f"深圳测试{i}科技有限公司" for i in range(n)],
            "industry": ["next_gen_it"] * n,
            "zone_id": ["SZ"] * n,
            "region": ["广东"] * n,
            "founding_date": pd.to_datetime(["2015-03-01"] * n),
            "registered_capital_wan": [500.0] * n,
            "operating_status": ["operating"] * n,
            "premises": ["leased"] * n,
            "in_digital_park": [True] * n,
            "hightech_cert_date": pd.to_datetime([None] * n),
            "srdi_cert_date": pd.to_datetime([None] * n),
            "little_giant_date": pd.to_datetime([None] * n),
            "snapshot_date": pd.to_datetime(["2025-12-31"] * n),
        }
    )


def _electricity(rows: list[tuple[str, str, str, object, str]]) -> pd.DataFrame:
    meter, code, month, kwh, published = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "meter_id": list(meter),
            "credit_code": list(code),
            "month": pd.to_datetime(list(month)),
            "kwh": list(kwh),
            "published_date": pd.to_datetime(list(published)),
        }
    )


def _write(layout: DataLayout, table: str, frame: pd.DataFrame, part: int = 0) -> None:
    folder = layout.raw(table)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / f"part-{part:05d}.parquet", index=False)


@pytest.fixture
def layout(tmp_path: Path) -> DataLayout:
    layout = DataLayout(tmp_path)
    _write(layout, "enterprises", _enterprises(GOOD))
    return layout


def _quarantine(layout: DataLayout, table: str) -> pd.DataFrame:
    return pq.read_table(layout.quarantine(table)).to_pandas()


def test_bad_check_character_is_quarantined_with_its_rule(layout: DataLayout) -> None:
    """A row whose code fails GB 32100 goes to quarantine; the others load clean."""
    _write(layout, "enterprises", _enterprises([*GOOD, BAD_CHECK]))
    report = validate_tables(layout, tables=["enterprises"])
    result = report.result("enterprises")
    assert (result.rows, result.clean, result.quarantined) == (4, 3, 1)
    bad = _quarantine(layout, "enterprises")
    assert bad["row_key"].tolist() == [BAD_CHECK]
    assert "GB 32100-2015" in bad["reasons"].iloc[0]
    assert json.loads(bad["record"].iloc[0])["credit_code"] == BAD_CHECK


def test_every_violation_of_a_row_is_reported_with_table_key_column_value(
    layout: DataLayout,
) -> None:
    """A row with several faults lists each; a text column of numbers is still checked."""
    rows = [
        ("m1", GOOD[0], "2024-01-01", "100.0", "2024-02-10"),
        ("m2", GOOD[1], "2024-01-02", "-5.0", "2024-02-10"),
        ("m3", GOOD[2], "2024-01-01", "lots", "2024-02-10"),
    ]
    _write(layout, "electricity_monthly", _electricity(rows))
    validate_tables(layout)
    violations = pq.read_table(layout.reports / "violations.parquet").to_pandas()
    electricity = violations[violations["table"] == "electricity_monthly"]
    found = set(
        zip(
            electricity["row_key"],
            electricity["column"],
            electricity["value"],
            electricity["rule"],
            strict=True,
        )
    )
    assert (
        "m2|2024-01-02",
        "month",
        "2024-01-02",
        "month must be the first day of a calendar month",
    ) in found
    assert ("m2|2024-01-02", "kwh", "-5.0", "must be >= 0") in found
    assert ("m3|2024-01-01", "kwh", "lots", "must be convertible to float64") in found


def test_rows_read_equal_clean_plus_quarantined(layout: DataLayout) -> None:
    """Nothing is dropped: every raw row is either in the clean table or in quarantine."""
    rows = [
        ("m1", GOOD[0], f"2024-{m:02d}-01", float(m) if m % 3 else -1.0, f"2024-{m + 1:02d}-05")
        for m in range(1, 12)
    ]
    _write(layout, "electricity_monthly", _electricity(rows))
    validate_tables(layout, tables=["enterprises", "electricity_monthly"])
    clean = pq.read_table(layout.clean("electricity_monthly")).num_rows
    quarantined = pq.read_table(layout.quarantine("electricity_monthly")).num_rows
    assert (clean, quarantined) == (8, 3)


def test_duplicate_key_keeps_the_first_row_and_quarantines_the_rest(layout: DataLayout) -> None:
    """Of rows sharing a key across parts, the first loads and later ones are quarantined."""
    first = [("m1", GOOD[0], "2024-01-01", 100.0, "2024-02-10")]
    again = [
        ("m1", GOOD[0], "2024-01-01", 120.0, "2024-02-12"),
        ("m1", GOOD[0], "2024-02-01", 90.0, "2024-03-10"),
    ]
    _write(layout, "electricity_monthly", _electricity(first), part=0)
    _write(layout, "electricity_monthly", _electricity(again), part=1)
    validate_tables(layout, tables=["enterprises", "electricity_monthly"])
    clean = pq.read_table(layout.clean("electricity_monthly")).to_pandas()
    assert clean["kwh"].tolist() == [100.0, 90.0]
    bad = _quarantine(layout, "electricity_monthly")
    assert bad["source_file"].tolist() == ["part-00001.parquet"]
    assert DUPLICATE_KEY in bad["reasons"].iloc[0]


def test_rows_of_unknown_enterprises_are_quarantined(layout: DataLayout) -> None:
    """A valid code that is not in enterprises cannot be joined, so it is quarantined."""
    stranger = "91110108551385082Q"
    rows = [
        ("m1", GOOD[0], "2024-01-01", 1.0, "2024-02-10"),
        ("m9", stranger, "2024-01-01", 1.0, "2024-02-10"),
    ]
    _write(layout, "electricity_monthly", _electricity(rows))
    report = validate_tables(layout, tables=["enterprises", "electricity_monthly"])
    assert report.result("electricity_monthly").rules == {f"credit_code: {UNKNOWN_ENTERPRISE}": 1}
    assert _quarantine(layout, "electricity_monthly")["row_key"].tolist() == ["m9|2024-01-01"]


def test_missing_column_rejects_the_table_and_names_the_column(layout: DataLayout) -> None:
    """A table without a contract column is refused as a whole, with the column named."""
    frame = _electricity([("m1", GOOD[0], "2024-01-01", 1.0, "2024-02-10")]).drop(columns=["kwh"])
    _write(layout, "electricity_monthly", frame)
    report = validate_tables(layout, tables=["enterprises", "electricity_monthly"])
    result = report.result("electricity_monthly")
    assert result.status == "rejected"
    assert "'kwh'" in result.message
    assert not report.ok
    assert not layout.clean("electricity_monthly").exists()


def test_quarantine_over_the_limit_fails_the_table(layout: DataLayout) -> None:
    """A table with more bad rows than allowed is marked failed: likely a broken export."""
    rows = [("m1", GOOD[0], f"2024-{m:02d}-01", -1.0, f"2024-{m + 1:02d}-05") for m in range(1, 5)]
    _write(layout, "electricity_monthly", _electricity(rows))
    report = validate_tables(
        layout, tables=["enterprises", "electricity_monthly"], max_quarantine_share=0.5
    )
    assert report.result("electricity_monthly").status == "failed"
    assert "100.0% of rows quarantined" in report.result("electricity_monthly").message


def test_unknown_table_name_is_refused(layout: DataLayout) -> None:
    """Asking for a table that has no contract fails with the known names."""
    with pytest.raises(ValueError, match="table 'electricty' is not a known raw table"):
        validate_tables(layout, tables=["electricty"])


def test_every_contract_declares_a_key_of_its_own_columns() -> None:
    """Keys used for duplicates and reports are real columns of each table."""
    for contract in CONTRACTS.values():
        assert set(contract.key) <= set(contract.schema.columns), contract.name
