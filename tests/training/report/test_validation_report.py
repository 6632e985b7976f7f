"""The validation report every training run writes into its bundle, read back as a validator."""

import json
from pathlib import Path

import pytest

from tests.training.report.parse import parse_report, png_size
from training.bundle import load_bundle, sha256_file
from training.pipeline import TrainResult
from training.report.config import load_report_config

SECTIONS = [
    "summary", "discrimination", "candidates", "comparison", "calibration", "stability", "segments",
    "monotonicity", "shap",
]  # fmt: skip


@pytest.fixture(scope="module")
def report_html(trained: tuple[TrainResult, Path]) -> str:
    return (trained[0].bundle_path / "validation_report.html").read_text(encoding="utf-8")


def test_report_is_a_checksummed_bundle_file(trained: tuple[TrainResult, Path]) -> None:
    """The report and the reference are listed in the manifest and the bundle still loads."""
    path = trained[0].bundle_path
    bundle = load_bundle(path)
    for name in ("validation_report.html", "reference.json"):
        assert bundle.manifest["files"][name]["sha256"] == sha256_file(path / name)


def test_report_shows_the_runs_own_test_metrics(
    trained: tuple[TrainResult, Path], report_html: str
) -> None:
    """Discrimination and comparison tables carry the evaluation's numbers, 4 decimals, and
    every test AUC its 95 % interval."""
    report = trained[0].report
    page = parse_report(report_html)
    assert page.section_ids == SECTIONS
    rows = {r[0]: r for r in page.tables["discrimination-table"][1:]}
    header = page.tables["discrimination-table"][0]
    test = dict(zip(header, rows["test"], strict=True))
    t = report["test"]
    assert test["AUC (95 %)"] == f"{t['auc']:.4f} [{t['auc_low']:.4f}, {t['auc_high']:.4f}]"
    assert t["auc_low"] < t["auc"] < t["auc_high"]
    assert test["KS"] == f"{report['test']['ks']:.4f}"
    assert test["Brier"] == f"{report['test']['brier']:.4f}"
    comparison = {r[0]: r[1] for r in page.tables["comparison-table"][1:]}
    points = report["comparison_test"]["points_only"]
    assert comparison["points only 仅积分"].startswith(f"{points['auc']:.4f} [")
    assert comparison["blended 融合"].startswith(f"{t['auc']:.4f} [")


def test_report_tests_every_grade_with_binomial_and_jeffreys(
    trained: tuple[TrainResult, Path], report_html: str
) -> None:
    """Ten grade rows; populated ones show both p-values and a verdict in words."""
    page = parse_report(report_html)
    grades = page.tables["grades-table"]
    assert len(grades) == 11 and "Jeffreys p" in grades[0] and "binomial p" in grades[0]
    populated = [r for r in grades[1:] if r[2] != "0"]
    assert populated and all(("rejected" in r[-1]) for r in populated)
    for row, expected in zip(grades[1:], trained[0].report["grades_test"], strict=True):
        assert row[0] == expected["grade"] and row[2] == f"{expected['n']:,}"
    assert "Beta(d + ½, n − d + ½)" in page.text and "P(X ≥ d)" in page.text


def test_report_gives_psi_traffic_lights_for_score_and_every_feature(
    trained: tuple[TrainResult, Path], report_html: str
) -> None:
    """Every input has a PSI row with a light matching the 0.1 / 0.25 thresholds."""
    config = load_report_config()
    psi = trained[0].report["psi"]["features"]
    rows = parse_report(report_html).tables["psi-table"][1:]
    assert {r[0] for r in rows} == set(psi)
    for feature, value, light in rows:
        assert value == f"{psi[feature]:.4f}"
        assert light.endswith(config.psi.level(psi[feature]).value)


def test_report_lists_monotonicity_segments_and_shap(report_html: str) -> None:
    """Constrained features with their verdict, both segment tables, ranked SHAP importance."""
    page = parse_report(report_html)
    mono = {r[0]: r[2] for r in page.tables["monotonicity-table"][1:]}
    assert mono == dict.fromkeys(["debt_ratio", "current_ratio", "overdue_count_24m"], "holds 满足")
    assert [t[0][0] for t in page.tables_by_class["segment-table"]] == ["industry", "zone"]
    importance = page.tables["importance-table"][1:]
    values = [float(r[2]) for r in importance]
    assert values == sorted(values, reverse=True) and len(importance) >= 10
    assert "innovation points (blend)" in {r[1] for r in importance}


def test_report_embeds_real_png_charts(report_html: str) -> None:
    """ROC, CAP, KS, calibration, PSI, importance and four dependence plots, all real PNGs."""
    images = parse_report(report_html).images
    assert len(images) == 10
    for src in images:
        width, height = png_size(src)
        assert width > 300 and height > 200


def test_report_says_there_is_no_champion_without_tracking(report_html: str) -> None:
    """An untracked run has nothing to compare against, and the report says so."""
    assert "No champion in the registry" in parse_report(report_html).text


def test_report_explains_each_test_in_both_languages(report_html: str) -> None:
    """Every configured explanation appears in Chinese and in English."""
    text = parse_report(report_html).text
    for section, words in load_report_config().texts.items():
        if section == "monitoring":
            continue
        assert " ".join(words.zh.split()) in text and " ".join(words.en.split()) in text


def test_metrics_json_is_untouched_by_the_report(trained: tuple[TrainResult, Path]) -> None:
    """The report adds files, not metrics: metrics.json keeps its keys."""
    metrics = json.loads((trained[0].bundle_path / "metrics.json").read_text())
    assert "test_auc" in metrics and not any("report" in k for k in metrics)
