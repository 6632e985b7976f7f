"""Diagnostic plots for the tracking run: ROC curves and a calibration chart.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global state,
no display needed) and returned as PNG bytes.
"""

import io

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from training.grades import MasterScale


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def roc_png(y: np.ndarray, scores: dict[str, np.ndarray], title: str) -> bytes:
    """ROC curves of several scores on the same outcomes (e.g. points, model, blend)."""
    figure = Figure(figsize=(5, 5))
    ax = figure.add_subplot()
    for label, score in scores.items():
        fpr, tpr, _ = roc_curve(y, score)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    return _png(figure)


def calibration_png(y: np.ndarray, pd_: np.ndarray, scale: MasterScale, title: str) -> bytes:
    """Mean PD against observed default rate per grade, on log axes, with row counts."""
    figure = Figure(figsize=(6, 5))
    ax = figure.add_subplot()
    index = scale.index_of(pd_)
    xs, ys, ns = [], [], []
    for i in range(len(scale.grades)):
        mask = index == i
        if mask.sum() == 0:
            continue
        xs.append(float(pd_[mask].mean()))
        ys.append(max(float(y[mask].mean()), 1e-4))
        ns.append(int(mask.sum()))
    ax.scatter(xs, ys, s=[max(n, 10) for n in ns], alpha=0.6)
    for x, yy, n in zip(xs, ys, ns, strict=True):
        ax.annotate(str(n), (x, yy), fontsize=7)
    lims = [1e-4, 1.0]
    ax.plot(lims, lims, linestyle=":", color="grey")
    ax.set(xscale="log", yscale="log", xlim=lims, ylim=lims, title=title)
    ax.set(xlabel="mean PD of grade", ylabel="observed default rate (floored at 0.01 %)")
    return _png(figure)
