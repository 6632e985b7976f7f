"""The monitoring report as one self-contained HTML page (charts embedded as PNG)."""

from typing import Any

from serving.monitoring.monitor import Checked, MonitorResult
from training.report import charts
from training.report.config import ReportConfig
from training.report.render import data_uri, render

PACKAGE = "serving.monitoring"


def _row(checked: Checked) -> dict[str, Any]:
    d = checked.drift
    return {"name": d.name, "kind": d.kind, "psi": d.psi, "n": d.n, "level": checked.level}


def _images(result: MonitorResult, config: ReportConfig) -> dict[str, str]:
    images: dict[str, str] = {}
    if result.score is not None:
        d = result.score.drift
        images["score"] = data_uri(
            charts.shares_png(d.bins, d.expected, d.actual, "PD distribution 分数分布")
        )
        psi = {c.drift.name: c.drift.psi for c in result.features} | {"PD (score)": d.psi}
        images["psi"] = data_uri(charts.psi_png(psi, config.psi, "PSI training → traffic"))
    if result.outcomes is not None and result.outcomes.matched:
        images["calibration"] = data_uri(
            charts.calibration_png(result.outcomes.grades, "Realised defaults per grade 实际违约")
        )
    return images


def monitor_html(result: MonitorResult, config: ReportConfig) -> str:
    """Render the monitoring report of ``result``."""
    score = result.score
    context: dict[str, Any] = {
        "title": f"Monitoring report 监控报告 — {result.model_version}",
        "result": result,
        "reference": result.reference,
        "since": result.traffic.since.isoformat(timespec="seconds"),
        "until": result.until.isoformat(timespec="seconds"),
        "score": _row(score) if score else None,
        "score_bins": (
            list(zip(score.drift.bins, score.drift.expected, score.drift.actual, strict=True))
            if score
            else []
        ),
        "features": [_row(c) for c in result.features],
        "grades": (
            list(zip(result.grades.bins, result.grades.expected, result.grades.actual, strict=True))
            if result.grades
            else []
        ),
        "grade_psi": result.grades.psi if result.grades else None,
        "outcomes": result.outcomes,
        "psi_thresholds": config.psi,
        "alpha": config.alpha,
        "texts": {k: v.model_dump() for k, v in config.texts.items()},
        "images": _images(result, config),
    }
    return render("monitor.html.j2", context, PACKAGE)
