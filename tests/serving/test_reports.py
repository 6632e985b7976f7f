"""Decision reports: GET /v1/decisions/{id}/report and `jifen report decision`, end to end.

Real components only: decisions scored through /v1/score (Feast online store, tiny
bundle, policy, audit log on SQLite), read back as HTML (parsed with the standard
library), as PDF (pdftotext) and as a screenshot from headless Chromium.
"""

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageStat
from typer.testing import CliRunner

from jifen.cli import app as cli
from serving.core.services import Services
from serving.main import create_app
from serving.responses import ScoreResult
from serving.schemas import Role
from tests.serving.conftest import FeatureRepo, TrainedBundles, application_body, scoring_settings
from tests.training.report.parse import ParsedReport, parse_report, png_size
from training.bundle import load_bundle

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def _pct(value: float, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f} %"


def _auth(client: TestClient, role: Role) -> dict[str, str]:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    full, _ = services.keys.create(role, f"test {role.value}")
    return {"Authorization": f"Bearer {full}"}


@pytest.fixture(scope="module")
def settings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports-app")


@pytest.fixture(scope="module")
def world(
    settings_dir: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> Iterator[TestClient]:
    settings = scoring_settings(settings_dir, trained_bundles.root, feature_repo.path)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def auditor(world: TestClient) -> dict[str, str]:
    return _auth(world, Role.AUDITOR)


@pytest.fixture(scope="module")
def decisions(world: TestClient, feature_repo: FeatureRepo) -> list[ScoreResult]:
    """Three scored decisions: a plain one, one above the product maximum, one with a reference."""
    scorer = _auth(world, Role.SCORER)
    bodies = [
        application_body(feature_repo.credit_codes[0]),
        application_body(feature_repo.credit_codes[1], **{"application.amount_wan": 2500}),
        application_body(feature_repo.credit_codes[2], request_id="BANK-APP-0042"),
    ]
    out = []
    for body in bodies:
        response = world.post("/v1/score", json=body, headers=scorer)
        assert response.status_code == 200, response.text
        out.append(ScoreResult.model_validate(response.json()))
    return out


def _html(world: TestClient, auditor: dict[str, str], decision_id: str) -> ParsedReport:
    response = world.get(f"/v1/decisions/{decision_id}/report", headers=auditor)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return parse_report(response.text)


def _kv(page: ParsedReport, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in page.tables[table] if len(row) == 2}


def test_html_report_shows_the_decisions_pd_grade_band_and_outcome(
    world: TestClient, auditor: dict[str, str], decisions: list[ScoreResult]
) -> None:
    """The headline numbers are the recorded ones: PD, grade and its band, points, limit."""
    result = decisions[2]
    page = _html(world, auditor, result.decision_id)
    headline = page.text.split("决策编号 Decision")[1]
    assert f"违约概率 PD (12 months) {_pct(result.pd)}" in headline
    band = f"({_pct(result.grade.pd_lower)}, {_pct(result.grade.pd_upper)}]"
    assert f"等级 Grade {result.grade.grade} PD band 区间 {band}" in headline
    labels = {"approve": "建议通过 Approve", "refer": "转人工审批 Refer to a credit officer",
              "decline": "建议拒绝 Decline"}  # fmt: skip
    assert f"建议 Recommendation {labels[result.decision.value]}" in headline
    assert result.points.total is not None
    assert f"创新积分 Innovation points {result.points.total:.2f}" in headline
    assert f"{result.limit.suggested_wan:.0f} 万元" in headline
    application = _kv(page, "application")
    assert application["调用方参考号 Caller's reference"].startswith("BANK-APP-0042")
    components = application["PD 构成 PD components"]
    assert _pct(result.pd_model) in components and _pct(result.pd) in components


def test_html_report_lists_every_reason_rule_and_explanation_line(
    world: TestClient, auditor: dict[str, str], decisions: list[ScoreResult]
) -> None:
    """Each reason sentence in both languages, each fired rule, and lines adding to the logit."""
    result = decisions[1]
    page = _html(world, auditor, result.decision_id)
    raising = page.tables["reasons-raising"][1:]
    assert [r[0] for r in raising] == [r.text_zh for r in result.reasons.raising]
    assert [r[1] for r in raising] == [r.text_en for r in result.reasons.raising]
    lowering = [r[0] for r in page.tables["reasons-lowering"][1:]]
    assert lowering == ([r.text_zh for r in result.reasons.lowering] or ["none 无"])
    fired = {r[0]: r for r in page.tables["fired-rules"][1:]}
    assert set(fired) == {r.id for r in result.rules}
    assert "amount_above_product_max" in fired  # 2,500 above the points loan's 1,000
    for rule in result.rules:
        assert fired[rule.id][2] == rule.message.zh and fired[rule.id][3] == rule.message.en
    lines = page.tables["explanation-lines"]
    total = sum(float(r[3]) for r in lines[1:-1])
    assert lines[-1][-1] == f"{result.score.logit:.4f}"
    assert total == pytest.approx(result.score.logit, abs=2e-3)  # 4-decimal rounding per line
    images = page.images
    assert len(images) == 1 and png_size(images[0])[0] > 600


def test_html_report_names_sources_as_of_dates_model_and_chain_position(
    world: TestClient,
    auditor: dict[str, str],
    decisions: list[ScoreResult],
    trained_bundles: TrainedBundles,
) -> None:
    """Provenance per feature group, the model's validation figures, the record's hash."""
    result = decisions[0]
    record = world.get(f"/v1/decisions/{result.decision_id}", headers=auditor).json()
    page = _html(world, auditor, result.decision_id)
    provenance = {r[0]: r for r in page.tables["provenance-table"][1:]}
    assert provenance["用电用能 / Electricity use"][1] == "2025-10-15 00:00 UTC"
    assert "月度用电 (monthly electricity readings)" in provenance["用电用能 / Electricity use"][2]
    assert len(provenance) == len(result.feature_as_of)
    model = _kv(page, "model-table")
    assert model["模型版本 Model version"] == result.model_version
    bundle = load_bundle(trained_bundles.newest)
    assert result.model_version.endswith(bundle.version)
    metrics = {r[0]: r[1] for r in page.tables["validation-summary"][1:]}
    assert metrics["AUC"] == f"{bundle.metrics['test_auc']:.4f}"
    report_sha = bundle.manifest["files"]["validation_report.html"]["sha256"]
    assert model["验证报告 Validation report"].endswith(report_sha)
    audit = _kv(page, "audit-table")
    assert audit["记录哈希 Record hash (SHA-256)"] == record["hash"]
    assert audit["前一条哈希 Previous hash"] == record["prev_hash"]
    position = audit["链中位置 Chain position"]
    assert position.startswith(f"lane {record['lane']}, record #{record['sequence']} of ")
    assert audit["内容校验 Content matches its hash"] == "yes 一致"


def test_report_peers_place_the_points_among_zone_industry_and_training_firms(
    world: TestClient, auditor: dict[str, str], decisions: list[ScoreResult]
) -> None:
    """The points engine's zone-and-industry percentile and the training-portfolio one."""
    result = decisions[0]
    page = _html(world, auditor, result.decision_id)
    peers = {r[0]: r for r in page.tables["points-peers"][1:]}
    zone = peers["同园区同行业 same zone and industry (points engine, same date)"]
    assert zone[3] == f"{result.points.details['points_pct_zone_industry']:.0f}"
    assert 0 <= float(peers["训练组合 training portfolio (all)"][3]) <= 100
    classes = {r[0]: r[2] for r in page.tables["points-classes"][1:]}
    for name, value in result.points.classes.items():
        assert classes[name] == f"{value:.2f}"


def test_pdf_report_sets_the_chinese_reason_in_a_cjk_font(
    world: TestClient, auditor: dict[str, str], decisions: list[ScoreResult], tmp_path: Path
) -> None:
    """pdftotext finds the first Chinese reason sentence; Noto Sans CJK SC is embedded."""
    result = decisions[0]
    response = world.get(
        f"/v1/decisions/{result.decision_id}/report", params={"format": "pdf"}, headers=auditor
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content[:5] == b"%PDF-"
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(response.content)
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True)
    reason = (result.reasons.raising + result.reasons.lowering)[0].text_zh
    flat = "".join(text.stdout.split())
    assert "".join(reason.split()) in flat
    assert "信贷决策报告" in flat and "\ufffd" not in text.stdout
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True)
    assert "Noto-Sans-CJK-SC" in fonts.stdout


def test_report_is_for_auditors_and_names_an_unknown_decision(
    world: TestClient, auditor: dict[str, str], decisions: list[ScoreResult]
) -> None:
    """A scorer key gets 403 naming the role; an unknown id 404; a bad format 422."""
    decision_id = decisions[0].decision_id
    scorer = _auth(world, Role.SCORER)
    denied = world.get(f"/v1/decisions/{decision_id}/report", headers=scorer)
    assert denied.status_code == 403 and "requires role auditor" in denied.json()["detail"]
    assert world.get(f"/v1/decisions/{decision_id}/report").status_code == 401
    missing = world.get("/v1/decisions/dec_nope/report", headers=auditor)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "decision 'dec_nope' is not in the audit log"
    bad = world.get(f"/v1/decisions/{decision_id}/report?format=docx", headers=auditor)
    assert bad.status_code == 422


def test_cli_writes_the_same_report_as_html_and_pdf(
    decisions: list[ScoreResult],
    settings_dir: Path,
    trained_bundles: TrainedBundles,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`jifen report decision ID` reads the audit log and the bundle folder of the settings."""
    monkeypatch.setenv("JIFEN_BUNDLE_DIR", str(trained_bundles.root))
    monkeypatch.setenv("JIFEN_DATA_DIR", str(settings_dir))
    result = decisions[2]
    dsn = f"sqlite:///{settings_dir / 'audit.sqlite3'}"
    args = ["report", "decision", result.decision_id, "--dsn", dsn]
    html = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "r.html")])
    assert html.exit_code == 0, html.output
    page = parse_report((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert f"违约概率 PD (12 months) {_pct(result.pd)}" in page.text
    pdf = CliRunner().invoke(cli, [*args, "--format", "pdf", "--out", str(tmp_path / "r.pdf")])
    assert pdf.exit_code == 0, pdf.output
    assert (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"
    missing = CliRunner().invoke(cli, ["report", "decision", "dec_nope", "--dsn", dsn])
    assert missing.exit_code == 2 and "is not in the audit log" in missing.output


def test_report_says_when_a_record_was_altered_after_sealing(
    tmp_path: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """Rewrite a sealed PD in the database: the report flags the content as altered."""
    settings = scoring_settings(tmp_path, trained_bundles.root, feature_repo.path)
    with TestClient(create_app(settings)) as client:
        scored = client.post(
            "/v1/score",
            json=application_body(feature_repo.credit_codes[3]),
            headers=_auth(client, Role.SCORER),
        ).json()
        auditor = _auth(client, Role.AUDITOR)
    conn = sqlite3.connect(tmp_path / "audit.sqlite3", isolation_level=None)
    conn.execute("DROP TRIGGER audit_records_no_update")
    conn.execute(
        "UPDATE audit_records SET body = replace(body, ?, ?) WHERE decision_id = ?",
        (f'"pd":{scored["pd"]!r}', '"pd":0.0001', scored["decision_id"]),
    )
    conn.close()
    with TestClient(create_app(settings)) as client:
        page = _html(client, auditor, scored["decision_id"])
    audit = _kv(page, "audit-table")
    assert audit["内容校验 Content matches its hash"] == "NO — the record was altered 记录已被篡改"
    assert "违约概率 PD (12 months) 0.01 %" in page.text


def test_chromium_screenshot_of_the_html_report_is_a_real_page(
    world: TestClient, auditor: dict[str, str], decisions: list[ScoreResult], tmp_path: Path
) -> None:
    """Headless Chromium renders the report (no network); the PNG is large and not blank."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed: run `make system-deps`"
    response = world.get(f"/v1/decisions/{decisions[0].decision_id}/report", headers=auditor)
    page = tmp_path / "report.html"
    page.write_text(response.text, encoding="utf-8")
    shot = tmp_path / "r.png"
    args: list[Any] = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    args += [f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()]
    subprocess.run(args, check=True, capture_output=True, timeout=90)
    assert shot.stat().st_size > 50_000
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
    assert spread > 20  # text, tables and the chart, not a blank or error page


def test_report_commands_have_help() -> None:
    """`jifen report --help` and `jifen report decision --help` describe the command."""
    for args in (["report"], ["report", "decision"]):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, result.output
    result = CliRunner().invoke(cli, ["report", "decision", "--help"], terminal_width=200)
    assert "--format" in result.output and "html or pdf" in result.output
