"""Shared simulation runs: each is made once per test session, in a temporary folder."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from features.layout import DataLayout
from features.simulate import SimulationConfig, SimulationSummary, load_simulation_config
from features.simulate.run import run_simulation


def make_config(**changes: Any) -> SimulationConfig:
    """The default config with top-level fields replaced."""
    data = load_simulation_config().model_dump()
    data.update(changes)
    return SimulationConfig.model_validate(data)


@dataclass(frozen=True)
class Run:
    """A finished simulation: its config, where it wrote, and what it reported."""

    cfg: SimulationConfig
    layout: DataLayout
    summary: SimulationSummary

    def raw(self, table: str) -> pd.DataFrame:
        return (
            ds.dataset(self.layout.raw(table), format="parquet")
            .to_table()
            .to_pandas(date_as_object=False)
        )

    def oracle(self, name: str) -> pd.DataFrame:
        return pq.read_table(self.layout.oracle / name).to_pandas(date_as_object=False)


def simulate(root: Path, **changes: Any) -> Run:
    cfg = make_config(**changes)
    layout = DataLayout(root)
    return Run(cfg=cfg, layout=layout, summary=run_simulation(cfg, layout))


SMALL = {"n_firms": 200, "history_years": 2, "chunk_size": 120, "seed": 7}


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """200 firms, 2 years, two chunks, no injected errors."""
    return simulate(tmp_path_factory.mktemp("small"), injection_rate=0.0, **SMALL)


@pytest.fixture(scope="session")
def injected_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The small run with 5 % of rows made to break the contract (every table gets some)."""
    return simulate(tmp_path_factory.mktemp("injected"), injection_rate=0.05, **SMALL)


@pytest.fixture(scope="session")
def moderate_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """4,000 firms over 4 years: enough matured applications to measure outcomes."""
    return simulate(
        tmp_path_factory.mktemp("moderate"),
        n_firms=4000,
        history_years=4,
        chunk_size=2000,
        seed=11,
        injection_rate=0.0,
    )
