"""Scoring traffic read back from the audit log: one row per recorded decision.

Each audit record holds the values the model read (``inputs.values``), the final PD and
grade (``outputs``) and the caller's own reference (``inputs.request.request_id``, the
bank's application id). Records of other model versions are counted, not mixed in: a
score's distribution only means something for the model that produced it.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from serving.schemas import StoredRecord

DECISION_ID = "decision_id"
APPLICATION_ID = "application_id"
RECORDED_AT = "recorded_at"
PD = "pd"
GRADE = "grade"


@dataclass(frozen=True)
class Traffic:
    """Decisions of one model version since a time, as a frame."""

    model_version: str
    since: datetime
    frame: pd.DataFrame
    """Columns: decision_id, application_id, recorded_at, pd, grade, then one per input."""
    other_versions: dict[str, int] = field(default_factory=dict)
    """Decisions of other model versions in the same window, by version (not used)."""

    @property
    def n(self) -> int:
        """Number of decisions of this model version."""
        return len(self.frame)


def _grade(outputs: dict[str, Any]) -> str | None:
    grade = outputs.get("grade")
    if isinstance(grade, dict):
        name = grade.get("grade")
        return None if name is None else str(name)
    return None if grade is None else str(grade)


def _request_id(inputs: dict[str, Any]) -> str | None:
    request = inputs.get("request")
    found = request.get("request_id") if isinstance(request, dict) else None
    return None if found is None else str(found)


def collect(
    records: Iterable[StoredRecord], model_version: str, inputs: Iterable[str], since: datetime
) -> Traffic:
    """Keep the records of ``model_version`` and lay out their inputs and outputs.

    Args:
        records: audit records in time order (e.g. ``Store.iter_records(since=...)``).
        model_version: the ``name/version`` whose decisions are monitored.
        inputs: the input names to extract (missing ones become missing values).
        since: start of the window (for the report).

    """
    names = list(inputs)
    rows: list[dict[str, Any]] = []
    others: Counter[str] = Counter()
    for record in records:
        if record.model_version != model_version:
            others[record.model_version] += 1
            continue
        values = record.inputs.get("values")
        values = values if isinstance(values, dict) else {}
        row: dict[str, Any] = {
            DECISION_ID: record.decision_id,
            APPLICATION_ID: _request_id(record.inputs),
            RECORDED_AT: record.recorded_at,
            PD: record.outputs.get("pd"),
            GRADE: _grade(record.outputs),
        }
        row.update({name: values.get(name) for name in names})
        rows.append(row)
    columns = [DECISION_ID, APPLICATION_ID, RECORDED_AT, PD, GRADE, *names]
    frame = pd.DataFrame(rows, columns=columns)
    frame[PD] = pd.to_numeric(frame[PD], errors="coerce")
    return Traffic(model_version, since, frame, dict(others))
