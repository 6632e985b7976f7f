"""Point-in-time: only what was published on or before as_of is scored."""

import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.points import compute_points
from tests.features.points.builders import enterprise, filing, tables

NATIONAL = load_catalogue("national-2024-trial")


def _firm_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    filings = [
        filing("A", 2023, "2024-04-30", rd_expense_wan=500),
        filing("A", 2024, "2025-04-30", rd_expense_wan=600),
        # Revision of FY2024 published in August: 1200 replaces 600 from then on.
        filing("A", 2024, "2025-08-01", revision=1, rd_expense_wan=1200),
        # Revision of FY2023 published in July: the growth base drops to 400.
        filing("A", 2023, "2025-07-01", revision=1, rd_expense_wan=400),
    ]
    return tables(filings, [enterprise("A", "2015-01-01")])


def _row(as_of: str, indicator: str = "rd_expense") -> pd.Series:
    trace = compute_points(*_firm_tables(), NATIONAL, as_of).trace
    return trace[trace["indicator_id"] == indicator].iloc[0]


def test_filing_published_after_as_of_is_not_used() -> None:
    """The FY2024 filing (published 2025-04-30) is invisible on 2025-04-29."""
    before = _row("2025-04-29")
    assert (before["fiscal_year"], before["filing_id"], before["value"]) == (2023, "A-2023-r0", 500)
    after = _row("2025-04-30")
    assert (after["fiscal_year"], after["filing_id"], after["value"]) == (2024, "A-2024-r0", 600)


def test_later_revision_replaces_earlier_only_once_published() -> None:
    """Revision 1 of FY2024 wins from its filing date on, not before."""
    assert _row("2025-07-31")[["filing_id", "value"]].tolist() == ["A-2024-r0", 600]
    assert _row("2025-08-01")[["filing_id", "value"]].tolist() == ["A-2024-r1", 1200]


def test_prior_year_for_growth_is_also_point_in_time() -> None:
    """Growth uses the prior-year revision known on as_of: 600/500 before July, 600/400 after."""
    june = _row("2025-06-30", "rd_expense_growth")
    assert (june["input_a"], june["input_b"], june["value"]) == (600, 500, pytest.approx(20.0))
    assert june["prior_filing_id"] == "A-2023-r0"
    july = _row("2025-07-15", "rd_expense_growth")
    assert (july["input_b"], july["value"]) == (400, pytest.approx(50.0))
    assert july["prior_filing_id"] == "A-2023-r1"


def test_firm_founded_after_as_of_is_not_scored() -> None:
    """A firm not yet founded on as_of is not part of the population."""
    filings, enterprises, events = _firm_tables()
    late = pd.DataFrame([enterprise("Z", "2026-01-01")]).astype(enterprises.dtypes.to_dict())
    enterprises = pd.concat([enterprises, late], ignore_index=True)
    summary = compute_points(filings, enterprises, events, NATIONAL, "2025-06-30").summary
    assert summary["credit_code"].tolist() == ["A"]


def test_credit_events_count_only_once_published() -> None:
    """An overdue published after as_of does not yet cost credit-record points."""
    filings, enterprises, _ = _firm_tables()
    events = pd.DataFrame(
        {
            "credit_code": ["A"],
            "event_type": ["overdue"],
            "published_date": pd.to_datetime(["2025-07-01"]),
        }
    )
    before = compute_points(filings, enterprises, events, NATIONAL, "2025-06-30").trace
    after = compute_points(filings, enterprises, events, NATIONAL, "2025-07-01").trace
    pick = before["indicator_id"] == "credit_record"
    assert before.loc[pick, "value"].item() == 0
    assert after.loc[after["indicator_id"] == "credit_record", "value"].item() == 1
