"""Every training candidate serves: scorecard, LightGBM and stack bundles each load
(checksums and the ONNX/LightGBM probe), score through /v1/score with exact additive
explanations, and replay identically from the audit log."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.main import create_app
from serving.responses import ReplayResult, ScoreResult
from serving.schemas import Role
from tests.serving.conftest import (
    FeatureRepo,
    application_body,
    scoring_settings,
    train_tiny_bundle,
)


@pytest.fixture(scope="module", params=["scorecard", "lightgbm", "stack"])
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    feature_repo: FeatureRepo,
) -> Iterator[tuple[str, TestClient]]:
    candidate = str(request.param)
    work = tmp_path_factory.mktemp(f"serve-{candidate}")
    train_tiny_bundle(work / "train", work / "models", seed=21, serve=candidate)
    settings = scoring_settings(work / "app", work / "models", feature_repo.path)
    with TestClient(create_app(settings)) as client:
        yield candidate, client


def _headers(client: TestClient, role: Role) -> dict[str, str]:
    full, _ = client.app.state.services.keys.create(role, f"test {role.value}")  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {full}"}


def test_each_candidate_scores_explains_exactly_and_replays_identically(
    served: tuple[str, TestClient], feature_repo: FeatureRepo
) -> None:
    """200 with a PD in its grade; contributions add up to the score's logit; the replay
    of the recorded decision is identical."""
    _, client = served
    scorer, auditor = _headers(client, Role.SCORER), _headers(client, Role.AUDITOR)
    for code in feature_repo.credit_codes[:5]:
        response = client.post("/v1/score", json=application_body(code), headers=scorer)
        assert response.status_code == 200, response.text
        result = ScoreResult.model_validate(response.json())
        assert result.grade.pd_lower < result.pd <= result.grade.pd_upper
        explanation = result.explanation
        total = explanation.base_value + sum(explanation.contributions.values())
        total += explanation.points_line
        assert total == pytest.approx(result.score.logit, abs=1e-6)
        replay = client.post(f"/v1/decisions/{result.decision_id}/replay", headers=auditor)
        assert replay.status_code == 200
        assert ReplayResult.model_validate(replay.json()).identical is True


def test_bundle_names_its_candidate(served: tuple[str, TestClient]) -> None:
    """metrics.json of the served bundle says which candidate it holds."""
    candidate, client = served
    model = client.app.state.services.model.require()  # type: ignore[attr-defined]
    assert model.bundle.metrics["candidate"] == candidate
