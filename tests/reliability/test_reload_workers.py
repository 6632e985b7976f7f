"""A reload reaches every worker of ``jifen serve --workers 2``, or none.

The server deals each new connection to the next worker in turn, so a run of fresh
connections visits both workers: after a reload every one of them must be scored by the
version the reload answered with (a reload once switched only the worker that took the
request: 10 fresh connections then got 5 old and 5 new decisions, with no end). A bundle
that a worker refuses switches no worker. A corrupt newest bundle at start leaves both
workers serving the newest good one, and ``GET /v1/model`` says so.
"""

from collections import Counter
from pathlib import Path
from typing import Final

import httpx
import pytest

from serving.schemas import Role
from tests.reliability.bundles import corrupt_copy, garbage
from tests.reliability.conftest import ServedWorld
from tests.serving.conftest import FeatureRepo, TrainedBundles, application_body

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

WORKERS: Final = 2
FRESH: Final = 12
"""Fresh connections after each reload: six visits to each worker."""
MODEL: Final = "jifen-pd-test"


def _fresh_scores(world: ServedWorld, url: str, code: str) -> Counter[str]:
    """The model version of each of ``FRESH`` scores, one new connection each."""
    versions: Counter[str] = Counter()
    for _ in range(FRESH):
        with httpx.Client(base_url=url, timeout=30) as client:  # a new connection
            response = client.post(
                "/v1/score", json=application_body(code), headers=world.headers(Role.SCORER)
            )
        assert response.status_code == 200, response.text
        versions[str(response.json()["model_version"])] += 1
    return versions


def _fresh_cards(world: ServedWorld, url: str) -> list[dict[str, object]]:
    """The model card from ``FRESH`` new connections."""
    cards = []
    for _ in range(FRESH):
        with httpx.Client(base_url=url, timeout=30) as client:
            response = client.get("/v1/model", headers=world.headers(Role.SCORER))
        assert response.status_code == 200, response.text
        cards.append(response.json())
    return cards


def _reload(world: ServedWorld, url: str, version: str | None) -> httpx.Response:
    body = {"version": version} if version else None
    return httpx.post(
        f"{url}/v1/admin/reload", json=body, headers=world.headers(Role.ADMIN), timeout=300
    )


def test_a_reload_reaches_both_workers_and_names_what_each_serves(
    served_world: ServedWorld, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """Reload to the older version, then back to the settings' choice: every worker follows."""
    server = served_world.start(workers=WORKERS)
    code = feature_repo.credit_codes[0]
    older = f"{MODEL}/{trained_bundles.older.name}"
    newest = f"{MODEL}/{trained_bundles.newest.name}"
    assert _fresh_scores(served_world, server.url, code) == {newest: FRESH}

    to_older = _reload(served_world, server.url, trained_bundles.older.name)
    after_older = _fresh_scores(served_world, server.url, code)
    back = _reload(served_world, server.url, None)
    after_back = _fresh_scores(served_world, server.url, code)

    assert to_older.status_code == 200, to_older.text
    answer = to_older.json()
    assert (answer["previous"], answer["current"], answer["changed"]) == (newest, older, True)
    assert [w["worker"] for w in answer["workers"]] == list(range(WORKERS))
    assert len({w["pid"] for w in answer["workers"]}) == WORKERS
    assert {(w["previous"], w["serving"]) for w in answer["workers"]} == {(newest, older)}
    assert after_older == {older: FRESH}
    assert back.status_code == 200, back.text
    assert {w["serving"] for w in back.json()["workers"]} == {newest}
    assert after_back == {newest: FRESH}


def test_a_refused_bundle_switches_no_worker_and_start_falls_back_on_both(
    served_world: ServedWorld,
    trained_bundles: TrainedBundles,
    feature_repo: FeatureRepo,
    tmp_path: Path,
) -> None:
    """A corrupt newest bundle: both workers start on the good one and say why; reloads to
    it are a 409 naming the reason, and every worker keeps the model it served."""
    root = tmp_path / "models"
    corrupt_copy(trained_bundles.older, root, trained_bundles.older.name, "model.onnx", None)
    corrupt_copy(trained_bundles.newest, root, trained_bundles.newest.name, "model.onnx", None)
    corrupt_copy(trained_bundles.newest, root, "9-corrupt", "model.onnx", garbage)
    server = served_world.start(workers=WORKERS, JIFEN_BUNDLE_DIR=str(root))
    code = feature_repo.credit_codes[0]
    older = f"{MODEL}/{trained_bundles.older.name}"
    newest = f"{MODEL}/{trained_bundles.newest.name}"

    cards = _fresh_cards(served_world, server.url)
    named = _reload(served_world, server.url, "9-corrupt")
    chosen = _reload(served_world, server.url, None)  # the settings' choice: the corrupt newest
    still = _fresh_scores(served_world, server.url, code)
    good = _reload(served_world, server.url, trained_bundles.older.name)
    moved = _fresh_scores(served_world, server.url, code)

    assert {c["model_version"] for c in cards} == {newest}
    assert all(
        "9-corrupt" in str(c["fallback"]) and "INVALID_PROTOBUF" in str(c["fallback"])
        for c in cards
    ), [c["fallback"] for c in cards]
    for refused in (named, chosen):
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert "INVALID_PROTOBUF" in detail and "no worker switched" in detail, detail
    assert still == {newest: FRESH}
    assert good.status_code == 200, good.text
    assert moved == {older: FRESH}
