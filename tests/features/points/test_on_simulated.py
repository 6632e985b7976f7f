"""Data tier: the engine on a small simulated, validated portfolio keeps its invariants."""

import numpy as np
import pandas as pd
import pytest

from features.catalogue import list_catalogues, load_catalogue
from features.contracts.validate import validate_tables
from features.layout import DataLayout
from features.points import score_points_from_layout
from features.points.io import read_clean_table
from features.simulate import load_simulation_config
from features.simulate.run import run_simulation

AS_OF = "2025-06-30"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> DataLayout:
    small = {"n_firms": 300, "history_years": 2, "chunk_size": 150, "seed": 5}
    data = load_simulation_config().model_dump() | small
    cfg = type(load_simulation_config()).model_validate(data)
    layout = DataLayout(tmp_path_factory.mktemp("simulated"))
    run_simulation(cfg, layout)
    validate_tables(layout, tables=["enterprises", "innovation_filings", "credit_events"])
    return layout


@pytest.mark.parametrize("version", list_catalogues())
def test_points_on_simulated_data_stay_within_bounds_and_add_up(
    layout: DataLayout, version: str
) -> None:
    """Totals lie in [0, max], the trace adds up to them, and white list = total >= 60."""
    catalogue = load_catalogue(version)
    result = score_points_from_layout(layout, AS_OF, catalogue)
    summary, trace = result.summary, result.trace
    assert len(summary) > 0 and summary["credit_code"].is_unique
    assert summary["total_points"].between(0, catalogue.max_total).all()
    sums = trace.groupby("credit_code")["weighted_points"].sum()
    totals = summary.set_index("credit_code")["total_points"]
    assert np.allclose(sums.reindex(totals.index).to_numpy(), totals.to_numpy(), atol=1e-6)
    assert (summary["whitelist"] == (summary["total_points"] >= 60)).all()
    assert len(trace) == len(summary) * len(catalogue.indicators)


def test_no_filing_published_after_as_of_is_used(layout: DataLayout) -> None:
    """Every filing the summary names was published on or before as_of, latest year first."""
    result = score_points_from_layout(layout, AS_OF, load_catalogue("national-2024-trial"))
    filings = read_clean_table(layout, "innovation_filings")
    filings["filing_date"] = pd.to_datetime(filings["filing_date"])
    used = result.summary.dropna(subset=["filing_id"]).merge(
        filings[["filing_id", "filing_date"]], on="filing_id"
    )
    assert (used["filing_date"] <= pd.Timestamp(AS_OF)).all()
    known = filings[filings["filing_date"] <= pd.Timestamp(AS_OF)]
    latest = known.groupby("credit_code")["fiscal_year"].max()
    assert (
        used.set_index("credit_code")["fiscal_year"] == latest.reindex(used["credit_code"])
    ).all()
