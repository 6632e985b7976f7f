"""No future leaks into the training set: records dated after the as-of date change nothing.

A small simulated portfolio is built into a training set as of a cutoff. Then every raw
record dated after the cutoff gets other values and other (still later) dates, the tables
are validated again and the training set rebuilt: it must be identical, bit for bit.
"""

import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.contracts.validate import validate_tables
from features.definitions.model import Group, load_feature_set
from features.layout import DataLayout
from features.pipelines.training import build_training_set
from features.simulate import load_simulation_config, run_simulation

CUTOFF = date(2025, 7, 1)
LATER = date(2025, 12, 31)

# table -> (column that dates the record, columns whose values are scrambled, strictly after?)
DATED: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "electricity_monthly": ("published_date", ("kwh",), True),
    "tax_monthly": ("filing_date", ("vat_paid_wan", "income_tax_paid_wan"), True),
    # a day's check-ins are known the next day: the cutoff day itself is still unknown
    "checkins_daily": ("date", ("staff_checked_in",), False),
    "credit_events": ("published_date", ("amount_wan",), True),
    "innovation_filings": ("filing_date", ("revenue_wan", "rd_expense_wan", "staff_total"), True),
    "applications": ("application_date", ("amount_wan",), True),
}
MOVED_DATES = {"published_date", "filing_date", "application_date"}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> DataLayout:
    layout = DataLayout(tmp_path_factory.mktemp("sim"))
    cfg = load_simulation_config().with_overrides(seed=11, n_firms=150, history_years=2)
    run_simulation(cfg, layout)
    validate_tables(layout)
    return layout


def _first_application_dates(layout: DataLayout) -> dict[str, date]:
    apps = pd.concat(pq.read_table(p).to_pandas() for p in layout.clean("applications").glob("*"))
    first = apps.groupby("credit_code")["application_date"].min()
    return {code: pd.Timestamp(d).date() for code, d in first.items()}


def _future_mask(frame: pd.DataFrame, col: str, cutoff: pd.Series, strictly: bool) -> pd.Series:
    when = pd.to_datetime(frame[col])
    return (when > cutoff) if strictly else (when >= cutoff)


def _scramble_future(layout: DataLayout, cutoff: date, per_firm: dict[str, date]) -> int:
    """Change values and push dates of every raw record dated after its firm's cutoff.

    A firm's cutoff is its date in ``per_firm`` (e.g. its first application), else ``cutoff``.
    """
    changed = 0
    default = pd.Timestamp(cutoff)
    for table in (*DATED, "enterprises"):
        for part in sorted(layout.raw(table).glob("*.parquet")):
            original = pq.read_table(part)
            frame = original.to_pandas()
            firm_cutoff = pd.to_datetime(frame["credit_code"].map(per_firm)).fillna(default)
            if table == "enterprises":
                for col in ("hightech_cert_date", "srdi_cert_date", "little_giant_date"):
                    future = _future_mask(frame, col, firm_cutoff, strictly=True)
                    moved = pd.to_datetime(frame.loc[future, col]) + timedelta(days=40)
                    frame.loc[future, col] = moved.dt.date
                    changed += int(future.sum())
            else:
                date_col, value_cols, strictly = DATED[table]
                future = _future_mask(frame, date_col, firm_cutoff, strictly)
                for col in value_cols:
                    frame.loc[future, col] = frame.loc[future, col] * 3 + 7
                if date_col in MOVED_DATES:
                    moved = pd.to_datetime(frame.loc[future, date_col]) + timedelta(days=23)
                    frame.loc[future, date_col] = moved.dt.date
                changed += int(future.sum())
            pq.write_table(pa.Table.from_pandas(frame, schema=original.schema), part)
    return changed


def _scrambled_copy(layout: DataLayout, root: Path, per_firm: dict[str, date]) -> DataLayout:
    future = DataLayout(root)
    shutil.copytree(layout.root / "raw", future.root / "raw")
    assert _scramble_future(future, CUTOFF, per_firm) > 1000
    validate_tables(future)
    return future


def test_training_rows_ignore_records_dated_after_the_cutoff(
    simulated: DataLayout, tmp_path: Path
) -> None:
    """Scrambling the future (values and dates) leaves every training row identical."""
    before = pq.read_table(build_training_set(simulated, CUTOFF).path)
    assert before.num_rows >= 10
    future = _scrambled_copy(simulated, tmp_path / "scrambled", per_firm={})
    after = pq.read_table(build_training_set(future, CUTOFF).path)
    assert after.column_names == before.column_names
    assert after.equals(before)


def test_each_application_ignores_records_after_its_own_date(
    simulated: DataLayout, tmp_path: Path
) -> None:
    """Scramble each firm's records after its first application: that row stays identical.

    This probes the as-of date of every row (not only the build date): a join that let
    through a record published on the day after, or a check-in of the application day,
    changes the row. The innovation points are left out here: they rank a firm against
    its zone and industry peers on the same date, so they rightly move when a peer's
    records (published before that date, after the peer's own first application) change.
    The cutoff test above covers them.
    """
    first = _first_application_dates(simulated)
    plain = pq.read_table(build_training_set(simulated, LATER).path).to_pandas()
    future = _scrambled_copy(simulated, tmp_path / "scrambled", per_firm=first)
    scrambled = pq.read_table(build_training_set(future, LATER).path).to_pandas()

    peer_relative = [f.name for f in load_feature_set().by_group(Group.POINTS)]

    def firsts(frame: pd.DataFrame) -> pd.DataFrame:
        is_first = frame["application_date"] == frame["credit_code"].map(first)
        own = frame[is_first].drop(columns=peer_relative)
        return own.sort_values("application_id").reset_index(drop=True)

    assert len(firsts(plain)) >= 30
    pd.testing.assert_frame_equal(firsts(scrambled), firsts(plain), check_exact=True)
    later = ~plain["application_id"].isin(firsts(plain)["application_id"])
    assert later.any()  # the scramble did reach the firms' later applications:
    changed = plain[later].set_index("application_id").drop(columns="application_date")
    other = scrambled.set_index("application_id").reindex(changed.index)
    assert not changed.equals(other.drop(columns="application_date"))


def test_row_of_an_application_does_not_depend_on_the_build_date(simulated: DataLayout) -> None:
    """Features are as of each application date, so a later build repeats earlier rows."""
    early = pq.read_table(build_training_set(simulated, CUTOFF).path).to_pandas()
    late = pq.read_table(build_training_set(simulated, LATER).path).to_pandas()
    common = late[late["application_id"].isin(early["application_id"])].reset_index(drop=True)
    assert len(common) == len(early)
    pd.testing.assert_frame_equal(common, early, check_exact=True)


def test_label_columns_are_kept_apart_from_features(simulated: DataLayout) -> None:
    """Outcome columns carry the label_ prefix and no feature shares it."""
    table = pq.read_table(build_training_set(simulated, LATER).path)
    labels = [c for c in table.column_names if c.startswith("label_")]
    assert labels == ["label_default_flag", "label_outcome_status", "label_default_date"]
    assert "default_flag" not in table.column_names
    assert "outcome_status" not in table.column_names
