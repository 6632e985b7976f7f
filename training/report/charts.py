"""Charts of the validation report, drawn with ``matplotlib.figure.Figure`` as PNG bytes.

No pyplot and no global style: each function builds its own figure, so charts can be
drawn from threads and in tests without a display. Chinese labels need a CJK font;
``cjk_family`` registers the Noto Sans CJK collection with matplotlib once, if the
system has it (``make system-deps`` installs ``fonts-noto-cjk``).
"""

import io
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from training.report.config import Level, PsiThresholds

CJK_FAMILY: Final = "Noto Sans CJK SC"
_CJK_FILES: Final = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf")
_FONT_DIRS: Final = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
LEVEL_COLOURS: Final = {Level.GREEN: "#2e7d32", Level.AMBER: "#f9a825", Level.RED: "#c62828"}
_DPI: Final = 110


@lru_cache(maxsize=1)
def cjk_family() -> str | None:
    """Register the system's Noto Sans CJK font with matplotlib; its family name, or None."""
    for root in _FONT_DIRS:
        if not root.is_dir():
            continue
        for name in _CJK_FILES:
            for path in sorted(root.rglob(name)):
                font_manager.fontManager.addfont(str(path))
                return CJK_FAMILY
    return None


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height))


def _font() -> dict[str, Any]:
    """Keyword arguments of a text that may hold Chinese."""
    family = cjk_family()
    return {"fontfamily": [family, "DejaVu Sans"]} if family else {}


def _legend_font() -> font_manager.FontProperties:
    family = cjk_family()
    return font_manager.FontProperties(family=[family, "DejaVu Sans"] if family else None, size=8)


def png(figure: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return buffer.getvalue()


def roc_png(y: np.ndarray, scores: dict[str, np.ndarray]) -> bytes:
    """ROC curves of several PDs on the same outcomes."""
    figure = _figure(5.2, 4.6)
    ax = figure.add_subplot()
    for label, score in scores.items():
        fpr, tpr, _ = roc_curve(y, score)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="random")
    ax.set_xlabel("false positive rate 误拒率", **_font())
    ax.set_ylabel("true positive rate 违约识别率", **_font())
    ax.set_title("ROC, test vintage 测试期", **_font())
    ax.legend(loc="lower right", prop=_legend_font())
    return png(figure)


def cap_png(y: np.ndarray, scores: dict[str, np.ndarray]) -> bytes:
    """Cumulative accuracy profiles: share of defaults caught in the riskiest x % of firms."""
    y = np.asarray(y, dtype=float)
    n, d = len(y), y.sum()
    figure = _figure(5.2, 4.6)
    ax = figure.add_subplot()
    share = np.arange(0, n + 1) / n
    for label, score in scores.items():
        order = np.argsort(-np.asarray(score), kind="stable")
        caught = np.concatenate([[0.0], np.cumsum(y[order]) / d])
        ax.plot(share, caught, label=label)
    ax.plot([0, d / n, 1], [0, 1, 1], linestyle="--", color="black", label="perfect")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="random")
    ax.set_xlabel("share of firms, riskiest first 按风险排序的企业占比", **_font())
    ax.set_ylabel("share of defaults caught 捕获的违约占比", **_font())
    ax.set_title("CAP, test vintage 测试期", **_font())
    ax.legend(loc="lower right", prop=_legend_font())
    return png(figure)


def ks_png(y: np.ndarray, pd_: np.ndarray) -> bytes:
    """Cumulative PD distributions of defaulters and non-defaulters; KS marked."""
    y = np.asarray(y, dtype=int)
    pd_ = np.asarray(pd_, dtype=float)
    grid = np.unique(pd_)
    bad = np.searchsorted(np.sort(pd_[y == 1]), grid, side="right") / max((y == 1).sum(), 1)
    good = np.searchsorted(np.sort(pd_[y == 0]), grid, side="right") / max((y == 0).sum(), 1)
    k = int(np.argmax(good - bad))
    figure = _figure(5.2, 4.6)
    ax = figure.add_subplot()
    ax.plot(grid, good, label="non-defaulters 未违约")
    ax.plot(grid, bad, label="defaulters 违约")
    ax.vlines(grid[k], bad[k], good[k], color="black", linestyle="--")
    ax.annotate(f"KS = {good[k] - bad[k]:.3f}", (grid[k], (good[k] + bad[k]) / 2), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("PD (log scale)", **_font())
    ax.set_ylabel("cumulative share 累计占比", **_font())
    ax.set_title("KS, test vintage 测试期", **_font())
    ax.legend(loc="lower right", prop=_legend_font())
    return png(figure)


def calibration_png(
    grades: list[dict[str, Any]], title: str = "Calibration per grade, test vintage 分等级校准"
) -> bytes:
    """Per grade: mean PD and observed default rate with its Jeffreys 95 % interval."""
    rows = [g for g in grades if g.get("n")]
    figure = _figure(6.4, 4.4)
    ax = figure.add_subplot()
    x = np.arange(len(rows))
    mean_pd = [g["mean_pd"] for g in rows]
    rate = [max(g["default_rate"], 1e-4) for g in rows]
    low = [max(g["jeffreys_low"], 1e-4) for g in rows]
    high = [g["jeffreys_high"] for g in rows]
    err = np.array([np.subtract(rate, low).clip(0), np.subtract(high, rate).clip(0)])
    ax.errorbar(
        x,
        rate,
        yerr=err,
        fmt="o",
        color="#1565c0",
        capsize=3,
        label="observed default rate + Jeffreys 95 % 实际违约率",
    )
    ax.scatter(x, mean_pd, marker="_", s=400, color="#c62828", label="mean PD 平均 PD", zorder=3)
    for i, g in enumerate(rows):
        colour = "#c62828" if g.get("rejected") else "#555555"
        ax.annotate(
            f"n={g['n']}\nd={g['defaults']}", (i, 1.2e-4), ha="center", fontsize=7, color=colour
        )
    ax.set_yscale("log")
    ax.set_ylim(8e-5, 1.0)
    ax.set_xticks(x, [str(g["grade"]) for g in rows])
    ax.set_xlabel("grade 等级", **_font())
    ax.set_ylabel("PD / default rate (log)", **_font())
    ax.set_title(title, **_font())
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, prop=_legend_font())
    return png(figure)


def psi_png(psi: dict[str, float], thresholds: PsiThresholds, title: str) -> bytes:
    """Horizontal PSI bars coloured by traffic light, with the amber and red lines."""
    items = sorted(psi.items(), key=lambda kv: kv[1])
    figure = _figure(6.4, max(2.2, 0.26 * len(items) + 1.0))
    ax = figure.add_subplot()
    names = [k for k, _ in items]
    values = [v for _, v in items]
    colours = [LEVEL_COLOURS[thresholds.level(v)] for v in values]
    ax.barh(names, values, color=colours)
    ax.axvline(thresholds.amber, color=LEVEL_COLOURS[Level.AMBER], linestyle="--")
    ax.axvline(thresholds.red, color=LEVEL_COLOURS[Level.RED], linestyle="--")
    ax.set_xlim(0, max([thresholds.red * 1.2, *values]) * 1.05)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("PSI", **_font())
    ax.set_title(title, **_font())
    return png(figure)


def importance_png(importance: dict[str, float], top: int, scale: str) -> bytes:
    """Mean |TreeSHAP contribution| of the most important inputs."""
    items = list(importance.items())[:top][::-1]
    figure = _figure(6.4, max(2.2, 0.28 * len(items) + 1.0))
    ax = figure.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#1565c0")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel(f"mean |contribution| to the {scale}", **_font())
    ax.set_title("Global importance, TreeSHAP 全局重要性", **_font())
    return png(figure)


def dependence_png(feature: str, values: Any, contributions: np.ndarray, scale: str) -> bytes:
    """Plot a feature's value against its contribution (categories as a strip plot)."""
    figure = _figure(4.6, 3.4)
    ax = figure.add_subplot()
    numeric = np.asarray(values, dtype=object)
    try:
        x = numeric.astype(float)
        known = np.isfinite(x)
        ax.scatter(x[known], contributions[known], s=6, alpha=0.4, color="#1565c0")
        if (~known).any():
            ax.scatter(
                np.full((~known).sum(), np.nanmin(x) if known.any() else 0.0),
                contributions[~known],
                s=6,
                alpha=0.4,
                color="#9e9e9e",
                label="missing",
            )
            ax.legend(fontsize=7)
    except (TypeError, ValueError):
        labels = np.array(["missing" if v is None or v != v else str(v) for v in numeric])
        cats = sorted(set(labels))
        jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(labels))
        x_pos = np.array([cats.index(v) for v in labels]) + jitter
        ax.scatter(x_pos, contributions, s=6, alpha=0.4, color="#1565c0")
        ax.set_xticks(range(len(cats)), cats, rotation=45, ha="right", fontsize=7)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel(feature, **_font())
    ax.set_ylabel(f"contribution ({scale})", fontsize=8)
    return png(figure)


def shares_png(bins: list[str], expected: list[float], actual: list[float], title: str) -> bytes:
    """Share of rows per bin: the reference sample beside the recent one."""
    figure = _figure(7.2, 3.6)
    ax = figure.add_subplot()
    x = np.arange(len(bins))
    ax.bar(x - 0.2, expected, width=0.4, label="training reference 训练参考", color="#90a4ae")
    ax.bar(x + 0.2, actual, width=0.4, label="recent traffic 近期流量", color="#1565c0")
    ax.set_xticks(x, bins, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("share of rows 占比", **_font())
    ax.set_title(title, **_font())
    ax.legend(prop=_legend_font())
    return png(figure)
