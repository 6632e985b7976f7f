"""Injected contract breaks are recorded, present in the raw tables and caught by the contract."""

import pandas as pd
import pandera.errors as pa_errors
import pytest

from features.contracts.tables import CONTRACTS
from features.simulate.injection import UNIQUE_KEY
from tests.features.simulate.conftest import Run


def _keys(frame: pd.DataFrame, table: str) -> pd.Series:
    parts = []
    for column in CONTRACTS[table].key:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            parts.append(values.dt.strftime("%Y-%m-%d"))
        else:
            parts.append(values.astype(str))
    key = parts[0]
    for more in parts[1:]:
        key = key + "|" + more
    return key


def test_no_errors_are_listed_when_injection_rate_is_zero(small_run: Run) -> None:
    """Rate 0 injects nothing and the error list is empty (but present)."""
    assert small_run.oracle("injected_errors.parquet").empty
    assert small_run.summary.injected == 0


def test_injected_rows_listed_in_injected_errors_exist_in_raw_tables(injected_run: Run) -> None:
    """Every recorded row key is found in its raw table."""
    errors = injected_run.oracle("injected_errors.parquet")
    assert len(errors) > 20
    assert set(errors["table"]) == set(CONTRACTS)
    for table, listed in errors.groupby("table"):
        keys = set(_keys(injected_run.raw(table), table))
        assert set(listed["row_key"]) <= keys, table


def test_duplicate_key_rows_appear_twice(injected_run: Run) -> None:
    """A unique_key break leaves the key on two rows with different values."""
    errors = injected_run.oracle("injected_errors.parquet")
    duplicates = errors[errors["rule"] == UNIQUE_KEY]
    assert len(duplicates) > 0
    for table, listed in duplicates.groupby("table"):
        counts = _keys(injected_run.raw(table), table).value_counts()
        assert (counts[listed["row_key"]] >= 2).all()


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_injected_rows_break_the_contract(injected_run: Run, table: str) -> None:
    """Each recorded break (other than duplicate keys) makes its row fail pandera validation."""
    errors = injected_run.oracle("injected_errors.parquet")
    listed = errors[(errors["table"] == table) & (errors["rule"] != UNIQUE_KEY)]
    frame = injected_run.raw(table)
    with pytest.raises(pa_errors.SchemaErrors) as caught:
        CONTRACTS[table].schema.validate(frame, lazy=True)
    failing_rows = caught.value.failure_cases["index"].dropna().astype(int).unique()
    failing_keys = set(_keys(frame.loc[failing_rows], table))
    assert set(listed["row_key"]) <= failing_keys
