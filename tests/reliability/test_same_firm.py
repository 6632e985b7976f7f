"""The same firm twice: every request and every batch item naming it gets its own score.

Retries, multi-product applications and duplicates in a batch are normal bank traffic.
Applications that reach a worker in the same turn of its event loop are scored as one
block with one store read, so a firm named twice in a block must be read for each slot
(the direct SQLite read once kept only the last slot of a repeated key: the others were
answered 404 "has no features in the online store").
"""

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from features.credit_code import make_credit_code
from serving.core.feature_store import FeastFeatureSource
from serving.schemas import Role
from tests.reliability.conftest import AppFactory, ServedWorld, key_headers
from tests.serving.conftest import FeatureRepo, application_body

pytestmark = pytest.mark.reliability

SERVICE: Final = "credit_risk_v1"
UNKNOWN: Final = make_credit_code("110108", "YY9YY9YY")
CONCURRENT: Final = 16
ROUNDS: Final = 10


# --- the store read: every backend answers each slot of a repeated key ------------------------


@pytest.fixture(scope="module")
def redis_repo(
    tmp_path_factory: pytest.TempPathFactory, feature_repo: FeatureRepo
) -> Iterator[Path]:
    """The fixture firms materialized into the real Redis under a project of their own."""
    import redis

    from features.store.config import load_store_settings, open_store
    from features.store.materialize import materialize_snapshot

    project = f"jifen_test_{uuid.uuid4().hex[:12]}"
    repo = tmp_path_factory.mktemp("feast-redis")
    shutil.copy(feature_repo.path / "entity_features.parquet", repo / "entity_features.parquet")
    settings = load_store_settings(online="redis", project=project)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        materialize_snapshot(open_store(settings, repo), repo)
        yield repo
    finally:
        for key in client.scan_iter(count=1000):
            if key.endswith(project.encode()):
                client.delete(key)
        client.close()


def _source(kind: str, request: pytest.FixtureRequest) -> FeastFeatureSource:
    feature_repo: FeatureRepo = request.getfixturevalue("feature_repo")
    if kind == "sqlite-direct":
        source = FeastFeatureSource(feature_repo.path, SERVICE)
        assert source.direct
        return source
    if kind == "sqlite-feast":
        return FeastFeatureSource(feature_repo.path, SERVICE, direct=False)
    return FeastFeatureSource(request.getfixturevalue("redis_repo"), SERVICE)


@pytest.mark.parametrize(
    "kind",
    ["sqlite-direct", "sqlite-feast", pytest.param("redis", marks=pytest.mark.integration)],
)
@pytest.mark.parametrize("filtered", [False, True], ids=["all-features", "filtered"])
def test_a_firm_named_several_times_in_one_read_gets_its_vector_in_every_slot(
    kind: str, filtered: bool, request: pytest.FixtureRequest, feature_repo: FeatureRepo
) -> None:
    """[a, b, a, unknown, a, b]: each slot holds what the firm read alone holds (None: unknown)."""
    source = _source(kind, request)
    a, b = feature_repo.credit_codes[:2]
    names = {"firm_age_years", "points_total", "credit_overdue_count_24m"} if filtered else None
    alone = {code: source.read([code], names)[0] for code in (a, b, UNKNOWN)}
    assert alone[a] is not None and alone[b] is not None and alone[UNKNOWN] is None
    codes = [a, b, a, UNKNOWN, a, b]
    assert source.read(codes, names) == [alone[code] for code in codes]


def test_slots_of_a_repeated_firm_do_not_share_their_values(feature_repo: FeatureRepo) -> None:
    """Two slots of one firm are two vectors: changing one leaves the other as read."""
    source = FeastFeatureSource(feature_repo.path, SERVICE)
    first, second = source.read([feature_repo.credit_codes[0]] * 2)
    assert first is not None and second is not None and first == second
    first.values["points_total"] = -1.0
    assert second.values["points_total"] != -1.0


# --- a batch naming one firm a hundred times -----------------------------------------------


def test_a_batch_of_one_hundred_identical_applications_scores_every_item(
    make_client: AppFactory, feature_repo: FeatureRepo
) -> None:
    """100 items, one firm: 100 scored, each result carries its own item's request_id."""
    client = make_client(batch_max_size=100)
    code = feature_repo.credit_codes[0]
    items = [application_body(code, request_id=f"dup-{i}") for i in range(100)]
    response = client.post(
        "/v1/score/batch", json={"items": items}, headers=key_headers(client, Role.SCORER)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    errors = [item["error"] for item in body["items"] if item["error"] is not None]
    assert (body["scored"], body["failed"], errors) == (100, 0, [])
    assert [item["result"]["request_id"] for item in body["items"]] == [
        f"dup-{i}" for i in range(100)
    ]
    assert len({item["result"]["decision_id"] for item in body["items"]}) == 100
    # The same application scores the same: one PD for all hundred.
    assert len({item["result"]["pd"] for item in body["items"]}) == 1


def test_a_batch_mixing_a_repeated_firm_and_an_unknown_one_fails_only_the_unknown_items(
    make_client: AppFactory, feature_repo: FeatureRepo
) -> None:
    """[a, unknown, a, a, unknown]: three scored, the two unknowns 404 at their own index."""
    client = make_client()
    a = feature_repo.credit_codes[3]
    codes = [a, UNKNOWN, a, a, UNKNOWN]
    response = client.post(
        "/v1/score/batch",
        json={"items": [application_body(code) for code in codes]},
        headers=key_headers(client, Role.SCORER),
    )
    assert response.status_code == 200, response.text
    statuses = [
        200 if item["error"] is None else item["error"]["status"]
        for item in response.json()["items"]
    ]
    assert statuses == [200, 404, 200, 200, 404]


# --- concurrent single applications on a real server ----------------------------------------


def _fire_rounds(url: str, headers: dict[str, str], code: str) -> list[tuple[int, str]]:
    """ROUNDS rounds of CONCURRENT simultaneous scores of ``code``; every non-200 answer."""
    wrong: list[tuple[int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CONCURRENT)
    answered = [0]

    def client_thread() -> None:
        # A connection per thread: on two workers the dealer spreads them over both.
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(ROUNDS):
                barrier.wait(timeout=60)
                response = client.post("/v1/score", json=application_body(code))
                with lock:
                    answered[0] += 1
                    if response.status_code != 200:
                        wrong.append((response.status_code, response.text[:200]))

    threads = [threading.Thread(target=client_thread) for _ in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert answered[0] == CONCURRENT * ROUNDS
    return wrong


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_scores_of_one_firm_are_all_scored(
    workers: int, served_world: ServedWorld, feature_repo: FeatureRepo
) -> None:
    """16 clients score one firm at the same moment, 10 rounds: 160 answers, all 200.

    The blocks the coalescer forms are checked too: some block held more than one
    application (so the same firm was read twice in one block), else the test proves nothing.
    """
    server = served_world.start(workers=workers)
    headers = served_world.headers(Role.SCORER)
    wrong = _fire_rounds(server.url, headers, feature_repo.credit_codes[5])
    assert wrong == []
    metrics = httpx.get(f"{server.url}/metrics").text
    blocks = _metric(metrics, "jifen_score_block_applications_count")
    applications = _metric(metrics, "jifen_score_block_applications_sum")
    assert applications == CONCURRENT * ROUNDS
    assert blocks < applications, "every application was scored alone: no block was formed"


def _metric(text: str, name: str) -> float:
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    assert values, f"{name} is not in /metrics"
    return sum(values)
