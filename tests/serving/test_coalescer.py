"""Single applications that arrive together are scored as one block, each as it would be alone.

Real components: the app over the ASGI interface (no sockets), the Feast online store, the
fixture model and the SQLite audit log.
"""

import asyncio
from pathlib import Path
from typing import Any

import httpx

from features.credit_code import make_credit_code
from serving.core.audit import verify_rows
from serving.core.services import Services
from serving.main import create_app
from serving.schemas import Role
from tests.serving.conftest import (
    FeatureRepo,
    TrainedBundles,
    application_body,
    scoring_settings,
)

UNKNOWN_FIRM_BODY: dict[str, Any] = {
    **application_body(make_credit_code("110108", "XX8XX8XX")),
    "inline_features": {},
}
VOLATILE = {"decision_id", "scored_at", "server_ms", "request_id"}
"""Result fields that differ between two scores of the same application."""


def _blocks(services: Services) -> tuple[float, float]:
    sample = services.metrics.registry.get_sample_value
    return (
        sample("jifen_score_block_applications_count") or 0.0,
        sample("jifen_score_block_applications_sum") or 0.0,
    )


def test_applications_arriving_together_share_a_block_and_get_their_lone_results(
    tmp_path: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> None:
    """Six requests in one turn of the loop: fewer blocks than requests, an unknown firm's
    404 beside five scores, each result the same as the application scored alone, every
    decision its own record in an intact chain, and each replay identical."""
    app = create_app(scoring_settings(tmp_path, trained_bundles.root, feature_repo.path))
    bodies = [application_body(code) for code in feature_repo.credit_codes[:5]]
    bodies.insert(2, UNKNOWN_FIRM_BODY)

    async def run() -> tuple[list[httpx.Response], list[httpx.Response], tuple[float, ...]]:
        async with app.router.lifespan_context(app):
            services: Services = app.state.services
            key, _ = services.keys.create(Role.SCORER, "coalescer test")
            headers = {"Authorization": f"Bearer {key}"}
            auditor, _ = services.keys.create(Role.AUDITOR, "coalescer test")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://jifen") as client:
                # One request first: the key is then cached and nothing else awaits a thread.
                assert (await client.post("/v1/score", json=bodies[0], headers=headers)).is_success
                before = _blocks(services)
                together = await asyncio.gather(
                    *(client.post("/v1/score", json=b, headers=headers) for b in bodies)
                )
                after = _blocks(services)
                alone = [await client.post("/v1/score", json=b, headers=headers) for b in bodies]
                problems = verify_rows(services.store.iter_rows())
                assert problems == [], problems
                for response in together:
                    if response.status_code != 200:
                        continue
                    # Recorded, and a replay (one application, alone) gives it back exactly.
                    decision = response.json()["decision_id"]
                    services.store.get(decision)
                    replay = await client.post(
                        f"/v1/decisions/{decision}/replay",
                        headers={"Authorization": f"Bearer {auditor}"},
                    )
                    assert replay.status_code == 200 and replay.json()["identical"] is True
        return together, alone, (after[0] - before[0], after[1] - before[1])

    together, alone, (blocks, applications) = asyncio.run(run())
    assert [r.status_code for r in together] == [200, 200, 404, 200, 200, 200]
    assert together[2].json()["detail"].endswith("nothing to score it on")
    assert applications == 6 and blocks < 6
    for pair in zip(together, alone, strict=True):
        if pair[0].status_code != 200:
            continue
        shared, lone = ({k: v for k, v in r.json().items() if k not in VOLATILE} for r in pair)
        assert shared == lone
    ids = [r.json()["decision_id"] for r in together if r.status_code == 200]
    assert len(set(ids)) == 5
