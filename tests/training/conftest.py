"""Shared fixtures: a small BYOD loan book, its spec, and one end-to-end training run."""

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from training.pipeline import TrainRequest, TrainResult, train
from training.synthetic import make_loan_book

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = FIXTURES / "byod_spec.yaml"
N_ROWS = 4000
TRIALS = 6


@pytest.fixture(scope="session")
def loan_book() -> pd.DataFrame:
    """4,000 seeded applications, 2021 to mid-2025, about a quarter immature."""
    return make_loan_book(N_ROWS, seed=11)


@pytest.fixture(scope="session")
def spec_dict() -> dict[str, Any]:
    return dict(yaml.safe_load(SPEC.read_text(encoding="utf-8")))


def write_case(folder: Path, frame: pd.DataFrame, spec: dict[str, Any]) -> tuple[Path, Path]:
    """Write a dataset CSV and a spec YAML into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    dataset, spec_path = folder / "loans.csv", folder / "spec.yaml"
    frame.to_csv(dataset, index=False)
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return dataset, spec_path


@pytest.fixture(scope="session")
def byod_files(
    tmp_path_factory: pytest.TempPathFactory, loan_book: pd.DataFrame, spec_dict: dict[str, Any]
) -> tuple[Path, Path]:
    return write_case(tmp_path_factory.mktemp("byod"), loan_book, spec_dict)


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, byod_files: tuple[Path, Path]
) -> tuple[TrainResult, Path]:
    """One BYOD run without tracking, shared by the tests that only read its outputs."""
    dataset, spec_path = byod_files
    out = tmp_path_factory.mktemp("models")
    result = train(TrainRequest(dataset, spec_path, out, n_trials=TRIALS))
    return result, out
