"""`jifen monitor` on real audit logs (SQLite): shifted traffic is red, unshifted is not."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jifen.cli import app
from serving.core.config import SqliteTarget
from serving.core.db import open_store
from serving.monitoring.cli import RED_EXIT
from serving.monitoring.monitor import MonitorRequest, evaluate_traffic, load_reference
from serving.monitoring.traffic import collect
from tests.monitoring.conftest import AuditLog, shifted, write_log
from tests.training.report.parse import parse_report
from training.bundle import Bundle
from training.metrics import calibration_by_grade
from training.report.config import load_report_config
from training.synthetic import make_loan_book

SINCE = "2020-01-01"


def _monitor(log: AuditLog, bundle: Bundle, out: Path, *extra: str) -> tuple[int, str]:
    args = ["monitor", "--since", SINCE, "--audit-dsn", log.dsn, "--bundle", str(bundle.path)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), *extra])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    """New applications drawn from the same population as the training book."""
    return make_loan_book(800, seed=99)


def test_unshifted_traffic_passes_with_no_red_light(
    bundle: Bundle, fresh: pd.DataFrame, tmp_path: Path
) -> None:
    """Same population: exit 0, every input and the score below the red threshold."""
    log = write_log(tmp_path / "audit.sqlite3", bundle, fresh)
    code, output = _monitor(log, bundle, tmp_path / "report.html")
    assert code == 0, output
    page = parse_report((tmp_path / "report.html").read_text(encoding="utf-8"))
    rows = page.tables["feature-psi"][1:]
    assert {r[0] for r in rows} == {*bundle.encoder.feature_names, "points_total"}
    assert all(float(r[3]) < 0.25 for r in rows)
    assert float(page.tables["score-bins"][1][1].rstrip(" %")) > 0
    assert "决策数 Decisions 800" in page.text
    assert [r[0] for r in page.tables["grade-mix"][1:]] == [str(g) for g in range(1, 11)]


def test_shifted_traffic_is_red_and_exits_3(
    bundle: Bundle, fresh: pd.DataFrame, tmp_path: Path
) -> None:
    """Debt ratio +0.3 and revenue growth −0.3: both inputs go red and the score moves past
    the amber bound (how far depends on the weight the served model gives them); exit 3."""
    log = write_log(tmp_path / "audit.sqlite3", bundle, shifted(fresh))
    code, output = _monitor(log, bundle, tmp_path / "report.html")
    assert code == RED_EXIT, output
    page = parse_report((tmp_path / "report.html").read_text(encoding="utf-8"))
    lights = {r[0]: r[4] for r in page.tables["feature-psi"][1:]}
    assert lights["debt_ratio"] == "红 red" and lights["revenue_growth"] == "红 red"
    assert lights["industry"] == "绿 green"
    assert float(page.text.split("最终 PD 的 PSI: ")[1].split()[0]) >= 0.1
    assert "overall red" in output


def test_psi_in_the_report_equals_psi_against_the_training_rows(
    bundle: Bundle, fresh: pd.DataFrame, tmp_path: Path
) -> None:
    """The stored reference reproduces PSI against the raw training split exactly."""
    from training.config import load_config
    from training.data import prepare
    from training.metrics import psi_numeric
    from training.spec import DatasetSpec

    spec = DatasetSpec.model_validate_json((bundle.path / "spec.json").read_text())
    train = prepare(make_loan_book(3000, seed=11), spec, load_config().minimums).train.frame
    log = write_log(tmp_path / "audit.sqlite3", bundle, shifted(fresh))
    store = open_store(SqliteTarget(log.path))
    try:
        reference = load_reference(bundle)
        traffic = collect(
            store.iter_records(), f"{bundle.name}/{bundle.version}", reference["features"],
            MonitorRequest(pd.Timestamp(SINCE, tz="UTC").to_pydatetime()).since,
        )  # fmt: skip
    finally:
        store.close()
    result = evaluate_traffic(bundle, reference, traffic, load_report_config())
    by_name = {c.drift.name: c.drift.psi for c in result.features}
    expected = psi_numeric(
        train["debt_ratio"].to_numpy(float), shifted(fresh)["debt_ratio"].to_numpy(float), 10
    )
    assert by_name["debt_ratio"] == pytest.approx(expected, abs=1e-12)


def test_outcomes_give_realised_default_rates_per_grade_with_jeffreys(
    bundle: Bundle, fresh: pd.DataFrame, tmp_path: Path
) -> None:
    """Matured outcomes joined by application id: per-grade rows equal the direct computation."""
    log = write_log(tmp_path / "audit.sqlite3", bundle, fresh)
    matured = fresh[fresh["outcome_status"] != "immature"]
    outcomes = pd.DataFrame({
        "application_id": matured["application_id"],
        "default_flag": (matured["loan_status"] == "bad").astype(int),
    })  # fmt: skip
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    code, output = _monitor(
        log, bundle, tmp_path / "r.html", "--outcomes", str(tmp_path / "outcomes.csv")
    )
    assert code in (0, RED_EXIT), output
    page = parse_report((tmp_path / "r.html").read_text(encoding="utf-8"))
    scored = bundle.scorer().score(matured)
    expected = [
        g for g in calibration_by_grade(
            outcomes["default_flag"].to_numpy(), scored["pd"].to_numpy(), bundle.scale
        ) if g["n"]
    ]  # fmt: skip
    rows = page.tables["outcome-grades"][1:]
    assert [r[0] for r in rows] == [g["grade"] for g in expected]
    for row, g in zip(rows, expected, strict=True):
        assert row[1] == f"{g['n']:,}" and row[2] == f"{g['defaults']:,}"
        assert row[6] == ("< 0.0001" if g["jeffreys_p"] < 1e-4 else f"{g['jeffreys_p']:.4f}")
    assert f"{len(matured):,} decisions with an outcome" in page.text
    assert f"{len(fresh) - len(matured):,} still pending" in page.text


def test_defaults_far_above_pd_are_rejected_and_red(
    bundle: Bundle, fresh: pd.DataFrame, tmp_path: Path
) -> None:
    """Every third firm defaulting (PDs of a few per cent): grades rejected, exit 3."""
    log = write_log(tmp_path / "audit.sqlite3", bundle, fresh)
    flags = (np.arange(len(fresh)) % 3 == 0).astype(int)
    pd.DataFrame({"application_id": fresh["application_id"], "default_flag": flags}).to_csv(
        tmp_path / "o.csv", index=False
    )
    code, _ = _monitor(log, bundle, tmp_path / "r.html", "--outcomes", str(tmp_path / "o.csv"))
    assert code == RED_EXIT
    rows = parse_report((tmp_path / "r.html").read_text("utf-8")).tables["outcome-grades"][1:]
    assert sum("rejected 拒绝" in r[-1] for r in rows) >= 2


def test_other_model_versions_are_counted_not_mixed_in(
    bundle: Bundle, fresh: pd.DataFrame, tmp_path: Path
) -> None:
    """Decisions of another model version are listed with their count and left out."""
    log = write_log(tmp_path / "audit.sqlite3", bundle, fresh.head(300), others=40)
    code, output = _monitor(log, bundle, tmp_path / "r.html")
    page = parse_report((tmp_path / "r.html").read_text("utf-8"))
    assert "决策数 Decisions 300" in page.text
    assert "older-model/v0: 40 decisions (not included 未计入)" in page.text
    assert code in (0, RED_EXIT), output


def test_no_traffic_since_the_date_is_not_an_alert(
    bundle: Bundle, fresh: pd.DataFrame, tmp_path: Path
) -> None:
    """A window with no decisions writes a report that says so and exits 0."""
    log = write_log(tmp_path / "audit.sqlite3", bundle, fresh.head(10))
    args = [
        "monitor",
        "--since",
        "2999-01-01",
        "--audit-dsn",
        log.dsn,
        "--bundle",
        str(bundle.path),
    ]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "No decisions of this model version" in (tmp_path / "r.html").read_text("utf-8")


def test_bad_outcome_flag_and_missing_reference_exit_2_with_the_reason(
    bundle: Bundle, fresh: pd.DataFrame, tmp_path: Path
) -> None:
    """A flag of 'maybe' is named; a bundle without reference.json is refused by name."""
    import json
    import shutil

    log = write_log(tmp_path / "audit.sqlite3", bundle, fresh.head(20))
    (tmp_path / "o.csv").write_text("decision_id,default_flag\ndec_x,maybe\n", encoding="utf-8")
    code, output = _monitor(log, bundle, tmp_path / "r.html", "--outcomes", str(tmp_path / "o.csv"))
    assert code == 2 and "default_flag must be 0/1 or true/false; got 'maybe'" in output
    old = tmp_path / "old" / bundle.version
    shutil.copytree(bundle.path, old)
    (old / "reference.json").unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["files"]["reference.json"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    args = ["monitor", "--since", SINCE, "--audit-dsn", log.dsn, "--bundle", str(old)]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r2.html")])
    assert result.exit_code == 2 and "has no reference.json" in result.output


def test_monitor_has_help_naming_the_exit_code() -> None:
    """`jifen monitor --help` says a red alert exits with code 3."""
    result = CliRunner().invoke(app, ["monitor", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "Exits with code 3 on a red alert" in result.output
