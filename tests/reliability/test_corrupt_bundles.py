"""Corrupt bundles whose manifest matches: refused with the reason, never a 500 or a crash.

Each variant passes the checksums (``tests.reliability.bundles``) and fails later, where
ONNX Runtime or LightGBM reads the file, or where the two models are compared. Some of
them (a model text cut short in its parameters, a split on a feature the model does not
have) crashed the whole process inside LightGBM before they were checked. A reload to
one is a 409 that says why in a sentence, and the model served before keeps serving; at
start-up a corrupt newest bundle makes the service fall back to the newest good one and say
so, in the log and in ``GET /v1/model``.
"""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from fastapi.testclient import TestClient

from serving.main import create_app
from serving.schemas import Role
from tests.reliability.bundles import (
    Mutation,
    corrupt_copy,
    cut_before,
    first_split_on,
    garbage,
    replaced,
    substituted,
    text_garbage,
    truncated,
    zeroed,
)
from tests.reliability.conftest import key_headers
from tests.serving.conftest import (
    FeatureRepo,
    TrainedBundles,
    application_body,
    scoring_settings,
)

pytestmark = pytest.mark.reliability

ONNX: Final = "model.onnx"
TEXT: Final = "model.lgb.txt"
CORRUPT_LAST: Final = "9-corrupt"
"""A version that sorts after the trained ones: the newest, so the one chosen at start-up."""


def _start(tmp_path: Path, root: Path, repo: FeatureRepo, **overrides: object) -> TestClient:
    client = TestClient(create_app(scoring_settings(tmp_path, root, repo.path, **overrides)))
    client.__enter__()
    return client


@pytest.fixture
def good_root(tmp_path: Path, trained_bundles: TrainedBundles) -> Path:
    """A bundle folder holding one good bundle (the fixture's newest, same version)."""
    root = tmp_path / "models"
    corrupt_copy(trained_bundles.newest, root, trained_bundles.newest.name, ONNX, None)
    return root


@pytest.fixture
def served(tmp_path: Path, good_root: Path, feature_repo: FeatureRepo) -> Iterator[TestClient]:
    """An app serving the good bundle of ``good_root``."""
    client = _start(tmp_path, good_root, feature_repo)
    yield client
    client.__exit__(None, None, None)


VARIANTS: Final[dict[str, tuple[str, Mutation | None, str]]] = {
    "onnx-garbage": (ONNX, garbage, "INVALID_PROTOBUF"),
    "onnx-truncated": (ONNX, truncated, "INVALID_PROTOBUF"),
    "lightgbm-binary": (TEXT, garbage, "is not UTF-8 text"),
    "lightgbm-garbage": (TEXT, text_garbage, "is not a usable LightGBM model"),
    "lightgbm-truncated": (TEXT, truncated, "is cut short (it has no 'end of trees' line)"),
    "lightgbm-cut-in-parameters": (
        TEXT,
        cut_before(b"end of parameters"),
        "its parameters have no 'end of parameters' line",
    ),
    "lightgbm-split-outside": (TEXT, first_split_on(99), "tree 0: split_feature names a feature"),
    "lightgbm-cycle": (
        TEXT,
        substituted(rb"(?m)^left_child=\d+", b"left_child=0"),
        "tree 0: left_child and right_child do not make a tree",
    ),
    "lightgbm-bad-parameter": (
        TEXT,
        substituted(rb"\[objective: ", b"[objective- "),
        "its parameters hold a line that is not '[key: value]'",
    ),
    "lightgbm-zeroed": (TEXT, zeroed(2048), "it holds a control character"),
}
"""Variant: the file changed, how, and what the refusal must say."""


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_reload_to_a_corrupt_bundle_is_409_with_the_reason_and_the_old_model_serves_on(
    served: TestClient, good_root: Path, feature_repo: FeatureRepo, variant: str
) -> None:
    """The manifest matches, the file does not load: 409 naming file and reason, no switch."""
    filename, mutate, reason = VARIANTS[variant]
    served_version = served.get("/v1/model", headers=key_headers(served, Role.SCORER)).json()
    bundle = next(p for p in (good_root / "jifen-pd-test").iterdir())
    corrupt_copy(bundle, good_root, f"0-{variant}", filename, mutate)

    response = served.post(
        "/v1/admin/reload",
        json={"version": f"0-{variant}"},
        headers=key_headers(served, Role.ADMIN),
    )

    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert reason in detail and filename in detail and "refusing to load" in detail, detail
    after = served.get("/v1/model", headers=key_headers(served, Role.SCORER)).json()
    assert after["model_version"] == served_version["model_version"]
    score = served.post(
        "/v1/score",
        json=application_body(feature_repo.credit_codes[0]),
        headers=key_headers(served, Role.SCORER),
    )
    assert score.status_code == 200
    assert score.json()["model_version"] == served_version["model_version"]


def test_a_corrupt_onnx_refusal_reads_as_a_sentence(served: TestClient, good_root: Path) -> None:
    """ONNX Runtime's status code is kept and explained, not passed on raw."""
    bundle = next(p for p in (good_root / "jifen-pd-test").iterdir())
    corrupt_copy(bundle, good_root, "0-garbage", ONNX, garbage)
    response = served.post(
        "/v1/admin/reload", json={"version": "0-garbage"}, headers=key_headers(served, Role.ADMIN)
    )
    detail = response.json()["detail"]
    assert "model.onnx is not a readable ONNX model: its bytes do not parse as an ONNX" in detail
    assert "(INVALID_PROTOBUF:" in detail


def test_reload_to_another_bundles_onnx_is_409_because_the_models_disagree(
    served: TestClient, good_root: Path, trained_bundles: TrainedBundles
) -> None:
    """A valid ONNX file of another model, checksummed as this bundle's: the probe refuses it."""
    bundle = next(p for p in (good_root / "jifen-pd-test").iterdir())
    corrupt_copy(bundle, good_root, "0-other-onnx", ONNX, replaced(trained_bundles.older, ONNX))
    response = served.post(
        "/v1/admin/reload",
        json={"version": "0-other-onnx"},
        headers=key_headers(served, Role.ADMIN),
    )
    assert response.status_code == 409
    assert "disagree on a probe" in response.json()["detail"]


def test_start_falls_back_to_the_newest_good_bundle_and_says_so(
    tmp_path: Path,
    good_root: Path,
    trained_bundles: TrainedBundles,
    feature_repo: FeatureRepo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A corrupt newest bundle at start: ready on the last good one, the log and card say why."""
    corrupt_copy(trained_bundles.newest, good_root, CORRUPT_LAST, ONNX, garbage)
    with caplog.at_level(logging.ERROR, logger="serving.core.model"):
        client = _start(tmp_path, good_root, feature_repo)
    try:
        ready = client.get("/ready")
        card = client.get("/v1/model", headers=key_headers(client, Role.SCORER)).json()
        score = client.post(
            "/v1/score",
            json=application_body(feature_repo.credit_codes[0]),
            headers=key_headers(client, Role.SCORER),
        )
    finally:
        client.__exit__(None, None, None)
    assert ready.status_code == 200, ready.text
    good = f"jifen-pd-test/{trained_bundles.newest.name}"
    assert card["model_version"] == good
    assert CORRUPT_LAST in card["fallback"] and "INVALID_PROTOBUF" in card["fallback"]
    assert f"serving {good}" in card["fallback"]
    assert score.status_code == 200 and score.json()["model_version"] == good
    logged = [
        r.getMessage() for r in caplog.records if "newest bundle was refused" in r.getMessage()
    ]
    assert logged and CORRUPT_LAST in logged[0]


def test_card_has_no_fallback_when_the_chosen_bundle_is_served(served: TestClient) -> None:
    """The fallback note appears only when an older bundle stands in."""
    card = served.get("/v1/model", headers=key_headers(served, Role.SCORER)).json()
    assert card["fallback"] is None


def test_a_pinned_corrupt_bundle_gets_no_fallback_and_is_not_ready(
    tmp_path: Path, good_root: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """A pinned version is the operator's choice: it is not replaced by another one."""
    corrupt_copy(trained_bundles.newest, good_root, CORRUPT_LAST, ONNX, garbage)
    client = _start(tmp_path, good_root, feature_repo, bundle_version=CORRUPT_LAST)
    try:
        ready = client.get("/ready")
    finally:
        client.__exit__(None, None, None)
    assert ready.status_code == 503
    assert "INVALID_PROTOBUF" in ready.json()["checks"]["model"]


def test_start_with_every_bundle_corrupt_is_not_ready_naming_the_newest(
    tmp_path: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """No good bundle at all: not ready, and the reason is the newest bundle's."""
    root = tmp_path / "models"
    corrupt_copy(trained_bundles.newest, root, "1-corrupt", TEXT, garbage)
    corrupt_copy(trained_bundles.newest, root, CORRUPT_LAST, ONNX, garbage)
    client = _start(tmp_path, root, feature_repo)
    try:
        ready = client.get("/ready")
    finally:
        client.__exit__(None, None, None)
    assert ready.status_code == 503
    reason = ready.json()["checks"]["model"]
    assert CORRUPT_LAST in reason and "INVALID_PROTOBUF" in reason
