"""What a simulation run produced: row counts, bad rate, oracle sanity figures, cost."""

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from rich.table import Table


def auc(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN without both classes."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _figure(value: float, template: str) -> str:
    return "n/a" if np.isnan(value) else template.format(value)


@dataclass
class SimulationSummary:
    """Figures of one run, shown by ``jifen simulate`` and used by tests."""

    rows: dict[str, int]
    parts: int
    n_firms: int
    matured: int = 0
    defaults: int = 0
    mean_true_pd: float = float("nan")
    oracle_auc: float = float("nan")
    defaulted_firms: int = 0
    injected: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def bad_rate(self) -> float:
        """Share of matured applications that defaulted within 12 months."""
        return self.defaults / self.matured if self.matured else float("nan")

    def as_table(self) -> Table:
        """Return a rich table: rows per table, then outcome, oracle and cost figures."""
        table = Table(title=f"Simulated portfolio: {self.n_firms:,} firms, {self.parts} part(s)")
        table.add_column("item")
        table.add_column("value", justify="right")
        for name, count in self.rows.items():
            table.add_row(name, f"{count:,} rows")
        table.add_section()
        table.add_row("matured applications", f"{self.matured:,}")
        table.add_row("bad rate (12 m, matured)", _figure(self.bad_rate, "{:.2%}"))
        table.add_row("mean true PD (matured)", _figure(self.mean_true_pd, "{:.2%}"))
        table.add_row("oracle AUC (true PD vs flag)", _figure(self.oracle_auc, "{:.3f}"))
        table.add_row("firms in default by snapshot", f"{self.defaulted_firms:,}")
        table.add_row("injected contract breaks", f"{self.injected:,}")
        table.add_section()
        table.add_row("wall time", f"{self.seconds:.1f} s")
        table.add_row("peak memory (RSS)", f"{self.peak_rss_mb:,.0f} MB")
        return table
