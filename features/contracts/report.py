"""What validation found, per table: counts, rules broken, and whether the table passed."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from rich.console import Group
from rich.table import Table

Status = Literal["ok", "quarantined", "failed", "missing", "rejected"]


@dataclass
class TableResult:
    """Validation outcome of one raw table."""

    table: str
    rows: int = 0
    clean: int = 0
    status: Status = "ok"
    message: str = ""
    rules: Counter[str] = field(default_factory=Counter)

    @property
    def quarantined(self) -> int:
        """Rows sent to quarantine (every row read is either clean or quarantined)."""
        return self.rows - self.clean

    def add(self, rows: int, clean: int, violations: pd.DataFrame) -> None:
        """Count one validated chunk."""
        self.rows += rows
        self.clean += clean
        self.rules.update(
            f"{c}: {r}" for c, r in zip(violations["column"], violations["rule"], strict=True)
        )
        if self.quarantined and self.status == "ok":
            self.status = "quarantined"

    def check_share(self, max_share: float) -> None:
        """Fail the table when too large a share of it was quarantined."""
        if self.rows and self.quarantined / self.rows > max_share and self.status == "quarantined":
            self.status = "failed"
            self.message = (
                f"{self.quarantined / self.rows:.1%} of rows quarantined; "
                f"the limit is {max_share:.1%}"
            )

    def mark_missing(self, message: str) -> None:
        """Record that the table has no files."""
        self.status, self.message = "missing", message

    def mark_rejected(self, message: str) -> None:
        """Record that the table as a whole broke its schema; nothing was loaded."""
        self.status, self.message, self.clean = "rejected", message, 0


@dataclass
class ValidationReport:
    """Validation outcome of every table, printable and serialisable."""

    results: list[TableResult]
    violations_path: Path

    @property
    def ok(self) -> bool:
        """True when every table loaded, within its quarantine limit."""
        return all(r.status in {"ok", "quarantined"} for r in self.results)

    def result(self, table: str) -> TableResult:
        """Return the outcome of one table."""
        return next(r for r in self.results if r.table == table)

    def as_dict(self) -> dict[str, object]:
        """Return the report as plain data (written to reports/validation.json)."""
        return {
            "ok": self.ok,
            "violations_file": str(self.violations_path),
            "tables": [
                {
                    "table": r.table,
                    "status": r.status,
                    "rows": r.rows,
                    "clean": r.clean,
                    "quarantined": r.quarantined,
                    "message": r.message,
                    "violations_by_rule": dict(r.rules.most_common()),
                }
                for r in self.results
            ],
        }

    def as_table(self) -> Group:
        """Return the summary as rich tables: one line per table, then the rules broken."""
        summary = Table(title="Data contract validation")
        for column in ("table", "status", "rows", "clean", "quarantined", "share"):
            summary.add_column(column, justify="left" if column in {"table", "status"} else "right")
        colours = {"ok": "green", "quarantined": "yellow"}
        for r in self.results:
            share = f"{r.quarantined / r.rows:.2%}" if r.rows else "-"
            status = f"[{colours.get(r.status, 'red')}]{r.status}[/]"
            summary.add_row(
                r.table, status, f"{r.rows:,}", f"{r.clean:,}", f"{r.quarantined:,}", share
            )
        rules = Table(title="Violations by rule", caption=f"each violation: {self.violations_path}")
        for column in ("table", "column: rule", "violations"):
            rules.add_column(column, justify="right" if column == "violations" else "left")
        for r in self.results:
            if r.message:
                rules.add_row(r.table, f"[red]{r.message}[/]", "")
            for rule, count in r.rules.most_common():
                rules.add_row(r.table, rule, f"{count:,}")
        return Group(summary, rules)
