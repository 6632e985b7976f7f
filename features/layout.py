"""Where each kind of table lives under the data directory.

- ``raw/<table>/part-*.parquet``: as produced by the zone, the bank or the simulator;
- ``clean/<table>/part-*.parquet``: rows that passed their contract (features read these);
- ``quarantine/<table>.parquet``: rows that failed, each with its reasons;
- ``oracle/``: simulator truth, never read by feature code.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    """Paths of the raw, clean, quarantine and oracle tables under one root."""

    root: Path

    def raw(self, table: str) -> Path:
        """Folder of a raw table's Parquet parts."""
        return self.root / "raw" / table

    def clean(self, table: str) -> Path:
        """Folder of a validated table's Parquet parts."""
        return self.root / "clean" / table

    def quarantine(self, table: str) -> Path:
        """Parquet file of a table's rejected rows with their reasons."""
        return self.root / "quarantine" / f"{table}.parquet"

    @property
    def oracle(self) -> Path:
        """Folder of the simulator's hidden truth."""
        return self.root / "oracle"

    @property
    def reports(self) -> Path:
        """Folder of run reports (validation summaries and the like)."""
        return self.root / "reports"
