"""Simulated portfolios meet their contracts, and every injected fault is caught by name."""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.contracts.tables import CONTRACTS
from features.contracts.validate import validate_tables
from features.layout import DataLayout
from features.simulate import load_simulation_config
from features.simulate.run import run_simulation

SMALL = {"n_firms": 250, "history_years": 2, "chunk_size": 150, "seed": 11}


def _simulate(root: Path, injection_rate: float) -> DataLayout:
    data = load_simulation_config().model_dump() | SMALL | {"injection_rate": injection_rate}
    cfg = type(load_simulation_config()).model_validate(data)
    layout = DataLayout(root)
    run_simulation(cfg, layout)
    return layout


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> DataLayout:
    layout = _simulate(tmp_path_factory.mktemp("faulty"), injection_rate=0.01)
    validate_tables(layout)
    return layout


def test_clean_simulation_passes_every_contract(tmp_path: Path) -> None:
    """With no injected faults, the only quarantined rows are exact repeats of loaded rows.

    The simulator files some innovation filings twice on purpose (realistic mess); the
    second copy breaks the unique key and is quarantined while the first loads.
    """
    layout = _simulate(tmp_path, injection_rate=0.0)
    report = validate_tables(layout)
    assert report.ok
    assert all(r.rows > 0 for r in report.results)
    violations = pq.read_table(layout.reports / "violations.parquet").to_pandas()
    assert set(violations["check"]) <= {"unique_key"}
    assert set(violations["table"]) <= {"innovation_filings"}
    clean = pq.read_table(layout.clean("innovation_filings")).to_pandas()
    repeats = pq.read_table(layout.quarantine("innovation_filings")).to_pandas()
    numbers = ["revenue_wan", "rd_expense_wan", "staff_total", "invention_patents"]
    for row in repeats.itertuples(index=False):
        original = clean[clean["filing_id"] == row.row_key]
        assert len(original) == 1
        record = json.loads(row.record)
        for column in numbers:
            kept = original[column].iloc[0]
            if pd.isna(kept):
                assert record[column] is None, column
            else:
                assert record[column] == pytest.approx(float(kept)), column


def test_every_injected_fault_is_quarantined_under_its_check(faulty: DataLayout) -> None:
    """Each row the simulator broke on purpose is reported with the check it broke."""
    injected = pq.read_table(faulty.oracle / "injected_errors.parquet").to_pandas()
    violations = pq.read_table(faulty.reports / "violations.parquet").to_pandas()
    assert len(injected) > 0
    reported = set(
        zip(violations["table"], violations["row_key"], violations["check"], strict=True)
    )
    missed = [
        (row.table, row.row_key, row.rule)
        for row in injected.itertuples(index=False)
        if (row.table, row.row_key, row.rule) not in reported
    ]
    assert missed == []


def test_quarantine_counts_match_the_violations(faulty: DataLayout) -> None:
    """Each table's quarantine holds exactly the distinct rows named in the violation report."""
    violations = pq.read_table(faulty.reports / "violations.parquet").to_pandas()
    for table in CONTRACTS:
        quarantined = pq.read_table(faulty.quarantine(table)).to_pandas()
        named = violations[violations["table"] == table][["source_file", "row_number"]]
        assert len(quarantined) == len(named.drop_duplicates()), table


def test_no_row_is_lost(faulty: DataLayout) -> None:
    """Rows read from raw equal clean rows plus quarantined rows, table by table."""
    injected = pq.read_table(faulty.oracle / "injected_errors.parquet").to_pandas()
    for table in CONTRACTS:
        raw = pq.read_table(faulty.raw(table)).num_rows
        clean = pq.read_table(faulty.clean(table)).num_rows
        quarantined = pq.read_table(faulty.quarantine(table)).num_rows
        assert raw == clean + quarantined, table
        broken = injected.loc[injected["table"] == table, "row_key"].nunique()
        assert quarantined >= broken, table
    assert len(injected) > 20


def test_clean_tables_keep_contract_types(faulty: DataLayout) -> None:
    """Clean tables re-validate against their contract and carry dates as dates."""
    for name, contract in CONTRACTS.items():
        frame = pq.read_table(faulty.clean(name)).to_pandas(date_as_object=False)
        contract.schema.validate(frame, lazy=True)
        assert not frame.duplicated(list(contract.key)).any(), name
    clean = pq.read_table(faulty.clean("applications"))
    assert str(clean.schema.field("application_date").type) == "date32[day]"
    assert pd.api.types.is_integer_dtype(clean.schema.field("term_months").type.to_pandas_dtype())
