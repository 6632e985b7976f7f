"""Monitoring fixtures: a tiny trained bundle and audit logs of scored traffic on SQLite.

Traffic is scored with the bundle's own ONNX chain and sealed into the real audit store,
record by record, as ``/v1/score`` writes it: the values the model read, PD and grade.
"""

import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from serving.core.config import SqliteTarget
from serving.core.db import open_store
from serving.schemas import DecisionDraft
from training.bundle import Bundle, load_bundle
from training.pipeline import TrainRequest, train
from training.synthetic import make_loan_book

SPEC = Path(__file__).parents[1] / "training" / "fixtures" / "byod_spec.yaml"
CONFIG = {
    "tuning": {"n_trials": 1, "max_boost_rounds": 60, "early_stopping_rounds": 10},
    "parity": {"min_rows": 2000},
}


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A BYOD bundle (60 trees at most, one trial) with its reference distributions."""
    work = tmp_path_factory.mktemp("monitor-train")
    dataset, spec, config = work / "loans.csv", work / "spec.yaml", work / "config.yaml"
    make_loan_book(3000, seed=11).to_csv(dataset, index=False)
    spec.write_text(SPEC.read_text(encoding="utf-8"), encoding="utf-8")
    config.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    result = train(TrainRequest(dataset, spec, work / "models", config_path=config, n_trials=1))
    return load_bundle(result.bundle_path)


def _json(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def drafts_for(
    bundle: Bundle, frame: pd.DataFrame, model_version: str | None = None
) -> list[DecisionDraft]:
    """Score ``frame`` with the bundle and lay each row out as an audit record draft."""
    scored = bundle.scorer().score(frame)
    names = [*bundle.encoder.feature_names, "points_total"]
    version = model_version or f"{bundle.name}/{bundle.version}"
    drafts = []
    for (_, row), (_, out) in zip(frame.iterrows(), scored.iterrows(), strict=True):
        drafts.append(
            DecisionDraft(
                decision_id=f"dec_{uuid.uuid4().hex}",
                caller_key_id="a1b2c3d4e5f6",
                model_version=version,
                catalogue_version="national-2024-trial",
                feature_as_of={},
                inputs={
                    "request": {"request_id": str(row["application_id"])},
                    "values": {n: _json(row[n]) for n in names},
                },
                outputs={
                    "decision": "approve",
                    "pd": float(out["pd"]),
                    "grade": {"grade": str(out["grade"]), "scale_version": "jifen-ms-2026.1"},
                },
                explanation={},
            )
        )
    return drafts


@dataclass(frozen=True)
class AuditLog:
    """An audit database holding scored traffic, and the rows that were scored."""

    path: Path
    frame: pd.DataFrame

    @property
    def dsn(self) -> str:
        return f"sqlite:///{self.path}"


def write_log(path: Path, bundle: Bundle, frame: pd.DataFrame, others: int = 0) -> AuditLog:
    """Seal the traffic of ``frame`` (plus ``others`` records of another model version)."""
    store = open_store(SqliteTarget(path))
    try:
        store.append_many(drafts_for(bundle, frame))
        if others:
            store.append_many(drafts_for(bundle, frame.head(others), "older-model/v0"))
    finally:
        store.close()
    return AuditLog(path, frame)


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    """The same firms, more indebted and shrinking: the kind of shift monitoring must flag."""
    out = frame.copy()
    out["debt_ratio"] = (out["debt_ratio"] + 0.3).clip(upper=0.99)
    out["revenue_growth"] = out["revenue_growth"] - 0.3
    return out
