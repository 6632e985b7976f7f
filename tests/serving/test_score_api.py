"""/v1/score end to end: Feast online store, tiny bundle, policy, audit log, replay, reload.

Real components only: a materialized Feast repository (SQLite), bundles trained by the
training pipeline, the audit log in a SQLite file under tmp_path. Each test checks the
status code and the message or fields a client reads.
"""

import json
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.credit_code import make_credit_code
from features.store.config import load_store_settings, write_feature_store_yaml
from serving.core.audit import verify_rows
from serving.core.services import Services
from serving.main import create_app
from serving.responses import BatchScoreResult, ModelCard, ReplayResult, ScoreResult
from serving.schemas import Role
from tests.serving.conftest import (
    MODEL_NAME,
    FeatureRepo,
    TrainedBundles,
    application_body,
    scoring_settings,
    train_tiny_bundle,
)

UNKNOWN_FIRM = make_credit_code("110108", "YY9YY9YY")
FIRM_INPUTS: dict[str, float] = {
    "firm_age_years": 6.0,
    "inno_staff_total": 80,
    "inno_rd_staff_share": 0.3,
    "inno_invention_patents": 5,
    "inno_revenue_growth": 0.1,
    "elec_yoy_3m": 0.02,
    "credit_overdue_count_24m": 0,
    "firm_industry": 1.0,
}
"""Every enterprise input of the fixture model, for a firm the store does not know."""


def inline_firm(points: float | None) -> dict[str, Any]:
    """A body for the unknown firm, its inputs inline, with or without points."""
    inline = {**FIRM_INPUTS, **({"points_total": points} if points is not None else {})}
    return application_body(UNKNOWN_FIRM, inline_features=inline)


def _services(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def _auth(client: TestClient, role: Role) -> dict[str, str]:
    full, _ = _services(client).keys.create(role, f"test {role.value}")
    return {"Authorization": f"Bearer {full}"}


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    trained_bundles: TrainedBundles,
    feature_repo: FeatureRepo,
) -> Iterator[TestClient]:
    """One app for the read-mostly tests of this module (startup opens Feast, ~1 s)."""
    settings = scoring_settings(
        tmp_path_factory.mktemp("app"), trained_bundles.root, feature_repo.path, batch_max_size=50
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def scorer(world: TestClient) -> dict[str, str]:
    return _auth(world, Role.SCORER)


@pytest.fixture(scope="module")
def auditor(world: TestClient) -> dict[str, str]:
    return _auth(world, Role.AUDITOR)


def _score(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post("/v1/score", json=body, headers=headers)


# --- the happy path ------------------------------------------------------------------------------


def test_score_returns_a_recorded_decision_when_the_firm_is_in_the_store(
    world: TestClient, scorer: dict[str, str], auditor: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """200 with PD, grade, decision, reasons and versions; the audit record holds the same."""
    response = _score(world, scorer, application_body(feature_repo.credit_codes[0]))
    assert response.status_code == 200, response.text
    result = ScoreResult.model_validate(response.json())
    assert result.decision.value in {"approve", "refer", "decline"}
    assert 0 < result.pd < 1 and result.grade.pd_lower < result.pd <= result.grade.pd_upper
    assert result.model_version.startswith(f"{MODEL_NAME}/")
    assert result.catalogue_version == "national-2024-trial"
    assert result.policy_version == "jifen-policy-2026.1"
    assert {"firm", "innovation", "credit", "points", "application"} <= set(result.feature_as_of)
    assert "inline" not in result.feature_as_of
    assert result.points.source == "points" and result.points.total is not None
    assert set(result.points.classes) == {"tech_innovation", "growth_operations", "auxiliary"}
    assert "points_whitelist" in result.points.details
    assert result.reasons.raising or result.reasons.lowering
    reason = (result.reasons.raising + result.reasons.lowering)[0]
    assert reason.text_zh and reason.text_en and reason.shap != 0
    record = world.get(f"/v1/decisions/{result.decision_id}", headers=auditor)
    assert record.status_code == 200
    stored = record.json()
    assert stored["hash_valid"] is True
    assert stored["outputs"]["pd"] == result.pd
    assert stored["outputs"]["decision"] == result.decision.value
    assert stored["explanation"]["contributions"] == result.explanation.contributions
    assert stored["inputs"]["values"]["app_amount_wan"] == 300
    assert stored["inputs"]["request"]["enterprise"]["credit_code"] == feature_repo.credit_codes[0]
    assert stored["feature_as_of"]["firm"] == "2025-10-15T00:00:00.000000Z"
    assert verify_rows(_services(world).store.iter_rows()) == []


def test_score_explanations_add_up_to_the_score_logit_for_every_firm(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """For each firm: base + Σ contributions + points line = score.logit (1e-6), PD parity 1e-5."""
    bodies = [application_body(code) for code in feature_repo.credit_codes] + [inline_firm(None)]
    response = world.post("/v1/score/batch", json={"items": bodies}, headers=scorer)
    assert response.status_code == 200, response.text
    batch = BatchScoreResult.model_validate(response.json())
    assert batch.scored == len(bodies) and batch.failed == 0
    for item in batch.items:
        assert item.result is not None
        ex, score = item.result.explanation, item.result.score
        total = ex.base_value + sum(ex.contributions.values()) + ex.points_line
        assert abs(total - score.logit) <= 1e-6
        assert abs(score.pd_lightgbm - item.result.pd) <= 1e-5
    last = batch.items[-1].result
    assert last is not None and last.points.blend_fill_used and last.explanation.points_line == 0


def test_score_lists_every_fired_rule_and_refers_when_points_are_missing(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """No points for a points loan: the threshold rule fires as missing and the decision refers."""
    response = _score(world, scorer, inline_firm(None))
    assert response.status_code == 200
    result = ScoreResult.model_validate(response.json())
    rule = next(r for r in result.rules if r.id == "points_below_threshold")
    assert (rule.outcome.value, rule.missing) == ("refer", True)
    assert rule.message.en == "Innovation points —, below the points-loan threshold of 60"
    assert result.decision.value in {"refer", "decline"}


def test_score_declines_a_points_loan_below_60_points_and_says_why(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """55 points: decline, the rule shows value and threshold, and no subsidy or limit."""
    result = ScoreResult.model_validate(_score(world, scorer, inline_firm(55.0)).json())
    rule = next(r for r in result.rules if r.id == "points_below_threshold")
    assert (rule.value, rule.threshold, rule.outcome.value) == (55.0, 60, "decline")
    assert rule.message.zh == "创新积分 55 分，低于积分贷门槛 60 分"
    assert result.decision.value == "decline"
    assert result.limit.suggested_wan == 0 and result.limit.basis == "declined"
    assert result.subsidy.eligible is False and result.subsidy.reason == "declined"


def test_score_declines_an_amount_above_the_product_maximum(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """5,000 (CNY 10k) for a points loan capped at 1,000: the amount rule declines."""
    body = application_body(feature_repo.credit_codes[3], **{"application.amount_wan": 5000})
    result = ScoreResult.model_validate(_score(world, scorer, body).json())
    rule = next(r for r in result.rules if r.id == "amount_above_product_max")
    assert rule.message.en == "Amount of 5000 (CNY 10k) exceeds the product maximum of 1000"
    assert result.decision.value == "decline"


# --- inputs: unknown firms and inline features --------------------------------------------------


def test_score_returns_404_that_says_so_when_the_firm_is_unknown_and_nothing_is_inline(
    world: TestClient, scorer: dict[str, str]
) -> None:
    """A valid code the store does not know, no inline features: 404, code masked."""
    body = application_body(UNKNOWN_FIRM, inline_features={})
    response = _score(world, scorer, body)
    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"enterprise {UNKNOWN_FIRM[:6]}**********{UNKNOWN_FIRM[-2:]} has no features in the "
        "online store and the request carries no inline_features; nothing to score it on"
    )


def test_score_returns_422_naming_the_inputs_an_unknown_firm_lacks(
    world: TestClient, scorer: dict[str, str]
) -> None:
    """An unknown firm with some inline values: the missing model inputs are listed."""
    body = application_body(UNKNOWN_FIRM, inline_features={"firm_age_years": 4.0})
    response = _score(world, scorer, body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "inline_features"]
    detail = error["msg"]
    assert detail.startswith("model inputs credit_overdue_count_24m, elec_yoy_3m, ")
    assert detail.endswith(
        "have no value: the firm is not in the store; send them in inline_features"
    )


def test_score_scores_an_unknown_firm_from_complete_inline_features(
    world: TestClient, scorer: dict[str, str]
) -> None:
    """Every enterprise input inline: 200, values tagged inline, no store as-of times."""
    response = _score(world, scorer, inline_firm(70.0))
    assert response.status_code == 200, response.text
    result = ScoreResult.model_validate(response.json())
    assert set(result.feature_as_of) == {"application", "inline"}
    assert result.points.source == "inline"


def test_score_returns_422_when_inline_features_override_the_store(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """A known firm's stored feature cannot be replaced by the caller."""
    body = application_body(
        feature_repo.credit_codes[0], inline_features={"credit_overdue_count_24m": 0.0}
    )
    response = _score(world, scorer, body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "inline_features"]
    assert error["msg"] == (
        "inline_features credit_overdue_count_24m are served by the feature store for this "
        "enterprise and cannot be overridden; inline values may only set application-time "
        "fields or features the store does not serve"
    )


def test_score_lets_inline_features_override_application_time_fields(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo, auditor: dict[str, str]
) -> None:
    """app_amount_to_revenue from the bank replaces the derived one and is recorded as inline."""
    body = application_body(
        feature_repo.credit_codes[0], inline_features={"app_amount_to_revenue": 3.0}
    )
    result = ScoreResult.model_validate(_score(world, scorer, body).json())
    rule = next(r for r in result.rules if r.id == "need_amount_to_revenue")
    assert rule.value == 3.0
    stored = world.get(f"/v1/decisions/{result.decision_id}", headers=auditor).json()
    assert stored["inputs"]["sources"]["app_amount_to_revenue"] == "inline"


def test_score_returns_422_when_an_inline_feature_is_no_input(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """A name neither the model nor the policy reads is refused, pointing at the model card."""
    body = application_body(feature_repo.credit_codes[0], inline_features={"shoe_size": 42.0})
    response = _score(world, scorer, body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "inline_features"]
    assert error["msg"] == (
        "inline_features shoe_size are not inputs of the served model or the policy "
        "(GET /v1/model lists them)"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("application.amount_wan", -5, "Input should be greater than 0"),
        ("application.amount_wan", "lots", "amount_wan must be a JSON number; got the string"),
        ("application.term_months", 7, "Input should be 3, 6, 12, 24 or 36"),
        ("application.term_months", "twelve", "term_months must be a JSON integer; got the str"),
        (
            "application.application_date",
            "20/10/2025",
            "application_date must be a date written YYYY-MM-DD; got the string '20/10/2025'",
        ),
        ("enterprise.credit_code", "91110108", "credit_code '********' must have 18 characters"),
        ("application.product", None, "Input should be a valid string"),
    ],
)
def test_score_returns_422_naming_the_field_when_a_value_has_the_wrong_type_or_sign(
    world: TestClient,
    scorer: dict[str, str],
    feature_repo: FeatureRepo,
    field: str,
    value: object,
    message: str,
) -> None:
    """With a model loaded, bad values are still refused before any score, field named."""
    body = application_body(feature_repo.credit_codes[0], **{field: value})
    response = _score(world, scorer, body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", *field.split(".")]
    assert error["msg"].startswith(message)


def test_score_batch_reports_each_failed_item_beside_the_scored_ones(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """One unknown firm in a batch: its item says 404, the others are scored and recorded."""
    items = [application_body(feature_repo.credit_codes[4]), application_body(UNKNOWN_FIRM)]
    items[1]["inline_features"] = {}
    response = world.post("/v1/score/batch", json={"items": items}, headers=scorer)
    assert response.status_code == 200
    batch = BatchScoreResult.model_validate(response.json())
    assert (batch.scored, batch.failed) == (1, 1)
    error = batch.items[1].error
    assert error is not None and error.status == 404
    assert error.detail.endswith("nothing to score it on")


# --- replay, model card, metrics ------------------------------------------------------------------


def test_replay_reproduces_the_recorded_decision_identically(
    world: TestClient, scorer: dict[str, str], auditor: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """Re-scoring from the stored inputs with the stored model gives identical outputs."""
    result = _score(world, scorer, application_body(feature_repo.credit_codes[5])).json()
    response = world.post(f"/v1/decisions/{result['decision_id']}/replay", headers=auditor)
    assert response.status_code == 200
    replay = ReplayResult.model_validate(response.json())
    assert replay.identical is True and replay.differences == []
    assert replay.model_version == result["model_version"]
    assert replay.replayed["outputs"]["pd"] == result["pd"]  # type: ignore[index,call-overload]


def test_replay_returns_403_for_a_scorer_and_404_for_an_unknown_decision(
    world: TestClient, scorer: dict[str, str], auditor: dict[str, str]
) -> None:
    """Only auditors replay; an unknown id is named."""
    assert world.post("/v1/decisions/dec_nope/replay", headers=scorer).status_code == 403
    response = world.post("/v1/decisions/dec_nope/replay", headers=auditor)
    assert response.status_code == 404
    assert response.json()["detail"] == "decision 'dec_nope' is not in the audit log"


def test_model_card_names_version_metrics_and_described_features(
    world: TestClient, scorer: dict[str, str], trained_bundles: TrainedBundles
) -> None:
    """Any key reads the card: version, test AUC, features with zh/en texts, the link."""
    response = world.get("/v1/model", headers=scorer)
    assert response.status_code == 200
    card = ModelCard.model_validate(response.json())
    assert card.version == trained_bundles.newest.name
    assert "test_auc" in card.metrics
    feature = next(f for f in card.features if f.name == "credit_overdue_count_24m")
    assert (feature.group, feature.monotone) == ("credit", 1)
    assert feature.description_zh and feature.description_en
    assert card.score_link["scale"] == "blended_logit"
    assert card.points_column == "points_total"


def test_metrics_count_decisions_by_outcome(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """Every recorded decision increments jifen_decisions_total{outcome=...}."""

    def count(outcome: str) -> float:
        for line in world.get("/metrics").text.splitlines():
            if line.startswith(f'jifen_decisions_total{{outcome="{outcome}"}}'):
                return float(line.split()[-1])
        return 0.0

    before = count("decline")
    assert _score(world, scorer, inline_firm(10.0)).json()["decision"] == "decline"
    assert count("decline") == before + 1


# --- failures: store down, audit down, reloads -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_redis_online_store_gives_the_same_decisions_as_sqlite(
    tmp_path: Path,
    trained_bundles: TrainedBundles,
    feature_repo: FeatureRepo,
    world: TestClient,
    scorer: dict[str, str],
) -> None:
    """The production online store (real Redis) serves the same firms to the same results.

    On Redis the block's store read runs in a worker thread (the SQLite world scores on
    the event loop), so this also covers that path.
    """
    import redis

    from features.store.config import open_store
    from features.store.materialize import materialize_snapshot

    project = f"jifen_test_{uuid.uuid4().hex[:12]}"
    repo = tmp_path / "feast-redis"
    repo.mkdir()
    shutil.copy(feature_repo.path / "entity_features.parquet", repo / "entity_features.parquet")
    store_settings = load_store_settings(online="redis", project=project)
    client = redis.Redis.from_url(store_settings.redis_url)
    try:
        materialize_snapshot(open_store(store_settings, repo), repo)
        settings = scoring_settings(tmp_path, trained_bundles.root, repo)
        with TestClient(create_app(settings)) as on_redis:
            headers = _auth(on_redis, Role.SCORER)
            assert on_redis.get("/ready").json()["ready"] is True
            for code in feature_repo.credit_codes[:3]:
                got = _score(on_redis, headers, application_body(code))
                want = _score(world, scorer, application_body(code))
                assert got.status_code == want.status_code == 200
                volatile = {"decision_id", "scored_at", "server_ms", "request_id"}
                assert {k: v for k, v in got.json().items() if k not in volatile} == {
                    k: v for k, v in want.json().items() if k not in volatile
                }
            assert _services(on_redis).store.count() == 3
    finally:
        suffix = project.encode()
        for key in client.scan_iter(count=1000):
            if key.endswith(suffix):
                client.delete(key)
        client.close()


def test_score_returns_503_and_records_nothing_when_the_feature_store_is_unreachable(
    tmp_path: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """Online store on a Redis port nobody listens on: 503, no score on defaults, no record."""
    repo = tmp_path / "feast"
    repo.mkdir()
    shutil.copy(feature_repo.path / "registry.db", repo / "registry.db")
    redis_url = f"redis://127.0.0.1:{_free_port()}/0"
    write_feature_store_yaml(load_store_settings(online="redis", redis_url=redis_url), repo)
    settings = scoring_settings(tmp_path, trained_bundles.root, repo)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready").json()
        assert "cannot be read" in ready["checks"]["feature_store"]
        response = _score(client, _auth(client, Role.SCORER), application_body(UNKNOWN_FIRM))
        assert response.status_code == 503
        assert response.json()["detail"] == (
            "the feature store is unavailable, so no score is given (never on default values); "
            "retry later"
        )
        assert _services(client).store.count() == 0


def test_score_returns_503_and_withholds_the_decision_when_the_audit_log_is_gone(
    tmp_path: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """The audit file is deleted under the service: the decision is not returned, but counted."""
    settings = scoring_settings(tmp_path, trained_bundles.root, feature_repo.path)
    with TestClient(create_app(settings)) as client:
        headers = _auth(client, Role.SCORER)
        (tmp_path / "audit.sqlite3").unlink()
        response = _score(client, headers, application_body(feature_repo.credit_codes[0]))
        assert response.status_code == 503
        assert response.json()["detail"] == (
            "the decision could not be recorded in the audit log and is withheld; retry later"
        )
        assert "decision_id" not in response.text
        metrics = client.get("/metrics").text
        assert "jifen_audit_write_failures_total 1.0" in metrics.splitlines()


@pytest.fixture
def reload_world(
    tmp_path: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> Iterator[TestClient]:
    """An app serving a private copy of the bundles, pinned to the older version."""
    shutil.copytree(trained_bundles.root, tmp_path / "models")
    settings = scoring_settings(
        tmp_path, tmp_path / "models", feature_repo.path, bundle_version=trained_bundles.older.name
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_reload_swaps_to_the_named_version_and_replays_still_use_the_recorded_one(
    reload_world: TestClient, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """Admin reload to the newer version; a decision of the older one still replays identically."""
    client = reload_world
    scorer, auditor = _auth(client, Role.SCORER), _auth(client, Role.AUDITOR)
    old = _score(client, scorer, application_body(feature_repo.credit_codes[0])).json()
    response = client.post(
        "/v1/admin/reload",
        json={"version": trained_bundles.newest.name},
        headers=_auth(client, Role.ADMIN),
    )
    assert response.status_code == 200
    previous = f"{MODEL_NAME}/{trained_bundles.older.name}"
    current = f"{MODEL_NAME}/{trained_bundles.newest.name}"
    assert response.json() == {
        "previous": previous,
        "current": current,
        "changed": True,
        "workers": [{"worker": 0, "pid": os.getpid(), "previous": previous, "serving": current}],
    }
    new = _score(client, scorer, application_body(feature_repo.credit_codes[0])).json()
    assert new["model_version"].endswith(trained_bundles.newest.name)
    replay = client.post(f"/v1/decisions/{old['decision_id']}/replay", headers=auditor).json()
    assert replay["identical"] is True
    assert replay["model_version"].endswith(trained_bundles.older.name)


def test_reload_refuses_a_corrupted_bundle_with_409_and_the_old_model_keeps_serving(
    reload_world: TestClient,
    trained_bundles: TrainedBundles,
    tmp_path: Path,
    feature_repo: FeatureRepo,
) -> None:
    """A tampered model.onnx: 409 naming the file; scores continue on the old version."""
    client = reload_world
    onnx = tmp_path / "models" / MODEL_NAME / trained_bundles.newest.name / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\x00")
    response = client.post(
        "/v1/admin/reload",
        json={"version": trained_bundles.newest.name},
        headers=_auth(client, Role.ADMIN),
    )
    assert response.status_code == 409
    assert "file model.onnx has SHA-256" in response.json()["detail"]
    assert response.json()["detail"].endswith("the bundle was altered, refusing to load")
    scored = _score(
        client, _auth(client, Role.SCORER), application_body(feature_repo.credit_codes[0])
    )
    assert scored.status_code == 200
    assert scored.json()["model_version"].endswith(trained_bundles.older.name)


def test_reload_refuses_a_model_trained_on_points_of_another_catalogue(
    reload_world: TestClient, tmp_path: Path
) -> None:
    """The store serves national-2024-trial points; a v2.0 blend would misread them: 409."""
    bundle = train_tiny_bundle(tmp_path / "v2", tmp_path / "models", seed=11, catalogue="v2.0-2025")
    response = reload_world.post(
        "/v1/admin/reload", json={"version": bundle.name}, headers=_auth(reload_world, Role.ADMIN)
    )
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"bundle {MODEL_NAME}/{bundle.name} blends points of catalogue 'v2.0-2025'; the "
        "feature store serves points of catalogue 'national-2024-trial'"
    )


def test_reload_returns_403_for_a_scorer(reload_world: TestClient) -> None:
    """Only admin keys reload."""
    response = reload_world.post("/v1/admin/reload", headers=_auth(reload_world, Role.SCORER))
    assert response.status_code == 403
    assert response.json()["detail"].endswith("administration requires role admin")


def test_reloads_do_not_fail_requests_in_flight(
    reload_world: TestClient, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """Scores from four threads while the admin flips versions ten times: every one is 200."""
    client = reload_world
    scorer, admin = _auth(client, Role.SCORER), _auth(client, Role.ADMIN)
    statuses: list[int] = []
    stop = threading.Event()

    def fire(offset: int) -> None:
        i = offset
        while not stop.is_set():
            code = feature_repo.credit_codes[i % len(feature_repo.credit_codes)]
            statuses.append(_score(client, scorer, application_body(code)).status_code)
            i += 4

    threads = [threading.Thread(target=fire, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    versions = [trained_bundles.newest.name, trained_bundles.older.name] * 5
    reloads = [
        client.post("/v1/admin/reload", json={"version": v}, headers=admin).status_code
        for v in versions
    ]
    stop.set()
    for thread in threads:
        thread.join()
    assert reloads == [200] * 10
    assert statuses and set(statuses) == {200}
    assert json.loads(client.get("/ready").text)["ready"] is True


def test_score_returns_422_naming_application_date_when_it_is_before_2000(
    world: TestClient, scorer: dict[str, str], feature_repo: FeatureRepo
) -> None:
    """Year 1 (found by schemathesis: it overflowed the time zone shift) is refused as a typo."""
    body = application_body(
        feature_repo.credit_codes[0], **{"application.application_date": "0001-01-01"}
    )
    response = _score(world, scorer, body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["msg"] == "application_date must be on or after 2000-01-01; got 0001-01-01"


def test_score_treats_a_ratio_that_overflows_as_missing(
    world: TestClient, scorer: dict[str, str]
) -> None:
    """Revenue of 5e-324 (a subnormal) would make amount/revenue infinite: it is NULL instead."""
    body = inline_firm(70.0)
    body["inline_features"]["inno_revenue_wan"] = 5e-324
    response = _score(world, scorer, body)
    assert response.status_code == 200, response.text
    assert all(r["id"] != "need_amount_to_revenue" for r in response.json()["rules"])
