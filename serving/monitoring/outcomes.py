"""Outcomes that have arrived since the decisions: a file of id → default flag.

The file (CSV or Parquet) has a ``default_flag`` column (0/1 or true/false) and either a
``decision_id`` column (the audit log's id) or an ``application_id`` column (the bank's
own reference, sent as ``request_id`` when the application was scored). Decisions without
an outcome yet are left out of the tests, not counted as good.
"""

from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from serving.monitoring.errors import OutcomesFileError
from serving.monitoring.traffic import APPLICATION_ID, DECISION_ID, Traffic

FLAG: Final = "default_flag"
_TRUE: Final = frozenset({"1", "true", "yes", "default", "bad"})
_FALSE: Final = frozenset({"0", "false", "no", "good"})


def read_outcomes(path: Path) -> pd.DataFrame:
    """Read the outcomes file: its key column and ``default_flag`` as 0/1.

    Raises:
        OutcomesFileError: the file is missing or unreadable, lacks ``default_flag`` or
            both id columns, or holds a flag that is not 0/1 (the value is named).

    """
    if not path.is_file():
        raise OutcomesFileError(f"outcomes file {path} does not exist")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    except (OSError, ValueError) as exc:
        raise OutcomesFileError(f"outcomes file {path} cannot be read: {exc}") from exc
    key = DECISION_ID if DECISION_ID in frame.columns else APPLICATION_ID
    if FLAG not in frame.columns or key not in frame.columns:
        raise OutcomesFileError(
            f"outcomes file {path} must have columns {FLAG!r} and {DECISION_ID!r} or "
            f"{APPLICATION_ID!r}; got {list(frame.columns)}"
        )
    text = frame[FLAG].astype("string").str.strip().str.lower()
    bad = text[text.notna() & ~text.isin(_TRUE | _FALSE)]
    if len(bad):
        raise OutcomesFileError(
            f"outcomes file {path}: {FLAG} must be 0/1 or true/false; got {bad.iloc[0]!r} "
            f"(row {int(bad.index[0]) + 2})"
        )
    flags = text.map(lambda v: 1.0 if v in _TRUE else 0.0 if v in _FALSE else np.nan)
    out = pd.DataFrame({key: frame[key].astype("string"), FLAG: flags.astype(float)})
    return out.dropna().drop_duplicates(subset=key, keep="last")


def join_outcomes(traffic: Traffic, outcomes: pd.DataFrame) -> np.ndarray:
    """Default flag per traffic row (NaN where no outcome has arrived)."""
    key = DECISION_ID if DECISION_ID in outcomes.columns else APPLICATION_ID
    flags = outcomes.set_index(key)[FLAG]
    ids = traffic.frame[key].astype("string")
    return ids.map(flags).to_numpy(dtype=float, na_value=np.nan)
