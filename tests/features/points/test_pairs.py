"""Points for (credit_code, as_of) pairs, as the training pipeline will ask for them."""

import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.points import compute_points, compute_points_for_pairs
from features.points.pairs import score_dates
from tests.features.points.builders import three_firms

NATIONAL = load_catalogue("national-2024-trial")


def _pairs(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"credit_code": [r[0] for r in rows], "as_of": pd.to_datetime([r[1] for r in rows])}
    )


def test_month_snap_never_moves_a_date_forward() -> None:
    """Each date maps to the last month end on or before it; month ends stay put."""
    dates = pd.Series(pd.to_datetime(["2025-05-15", "2025-04-30", "2025-03-01"]))
    snapped = score_dates(dates, "month").dt.strftime("%Y-%m-%d").tolist()
    assert snapped == ["2025-04-30", "2025-04-30", "2025-02-28"]
    assert (score_dates(dates, "exact") == dates).all()


def test_pairs_equal_population_scores_at_their_own_dates() -> None:
    """Each pair gets exactly what scoring the population at its date gives that firm."""
    pairs = _pairs(
        ("A", "2025-06-30"), ("C", "2025-03-31"), ("A", "2025-03-31"), ("X", "2025-06-30")
    )
    result = compute_points_for_pairs(pairs, *three_firms(), NATIONAL, snap="exact")
    summary = result.summary
    assert summary["credit_code"].tolist() == ["A", "C", "A", "X"]  # order of the pairs
    for date in ("2025-06-30", "2025-03-31"):
        population = compute_points(*three_firms(), NATIONAL, date).summary
        expected = population.set_index("credit_code")["total_points"]
        for _, row in summary[summary["score_date"] == pd.Timestamp(date)].iterrows():
            if row["credit_code"] in expected:
                assert row["total_points"] == pytest.approx(expected[row["credit_code"]])
    assert summary["scored"].tolist() == [True, True, True, False]  # X is unknown
    assert summary.loc[2, "fiscal_year"] == 2023  # A's FY2024 was filed 2025-04-30


def test_pairs_with_month_snap_use_only_what_was_known_at_month_end() -> None:
    """A pair on 2025-05-15 is scored at 2025-04-30, when A's FY2024 was just filed."""
    result = compute_points_for_pairs(_pairs(("A", "2025-05-15")), *three_firms(), NATIONAL)
    row = result.summary.iloc[0]
    assert row["score_date"] == pd.Timestamp("2025-04-30")
    assert row["fiscal_year"] == 2024
    assert result.missing_report["firms"].unique().tolist() == [1]
