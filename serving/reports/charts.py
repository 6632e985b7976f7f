"""The waterfall of a decision's reasons: base value + each line = the score's log-odds.

Bars run left to right on the log-odds axis, one row per line of the explanation,
largest first; small lines are summed into one row so the chart stays readable. Lines
that raise the risk are red, lines that lower it green. The PD of the base and of the
final log-odds are written at both ends.
"""

import math
from dataclasses import dataclass
from typing import Any, Final

from matplotlib.figure import Figure

from training.report.charts import cjk_family, png

RAISES: Final = "#c62828"
LOWERS: Final = "#2e7d32"


@dataclass(frozen=True)
class Line:
    """One line of the explanation: its label and its contribution to the log-odds."""

    label: str
    value: float


def _pd(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-logit))


def waterfall_png(base: float, lines: list[Line], final: float, shown: int = 10) -> bytes:
    """Draw base → lines (largest ``shown``, the rest summed) → final log-odds as a PNG."""
    ranked = sorted(lines, key=lambda line: -abs(line.value))
    keep = len(ranked) if len(ranked) <= shown + 2 else shown  # no "other" row for one or two
    rows, rest = ranked[:keep], ranked[keep:]
    if rest:
        rows.append(Line(f"其他 {len(rest)} 项 other lines", sum(r.value for r in rest)))
    family = cjk_family()
    font: dict[str, Any] = {"fontfamily": [family, "DejaVu Sans"]} if family else {}
    figure = Figure(figsize=(8.2, 0.42 * (len(rows) + 2) + 1.2))
    ax = figure.add_subplot()
    labels = ["基准值 base value", *(r.label for r in rows), "最终 final log-odds"]
    y = list(range(len(labels)))[::-1]
    ax.barh(y[0], base, color="#90a4ae")
    position = base
    ends = [base]
    for i, row in enumerate(rows, start=1):
        colour = RAISES if row.value > 0 else LOWERS
        ax.barh(y[i], row.value, left=position, color=colour)
        end = position + row.value
        ax.text(max(position, end), y[i], f" {row.value:+.3f}", va="center", fontsize=8)
        ax.plot([end, end], [y[i] - 0.4, y[i] - 0.6], color="grey", linewidth=0.6)
        position = end
        ends.append(end)
    ax.barh(y[-1], final, color="#1565c0")
    ax.text(final, y[-1], f"  {final:.3f} → PD {100 * _pd(final):.2f} %", va="center", fontsize=9)
    ax.text(base, y[0], f"  {base:.3f} → PD {100 * _pd(base):.2f} %", va="center", fontsize=9)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_yticks(y, labels, fontsize=8.5, **font)
    ax.set_xlabel("log-odds of default 违约对数几率", **font)
    ax.set_title("Reasons of this decision 决策原因（TreeSHAP 瀑布图）", **font)
    low, high = min(0.0, final, *ends), max(0.0, final, *ends)
    ax.set_xlim(low - 0.5, high + 0.35 * (high - low + 1.0))
    ax.grid(axis="x", linestyle=":", linewidth=0.5)
    return png(figure)
