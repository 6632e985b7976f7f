"""Scoring routes: one application, or a batch recorded in one transaction (scorer role).

Results are built as JSON by the scoring service and returned as they are: the declared
``response_model`` documents them in OpenAPI (the tests validate responses against it)
without FastAPI validating and re-serialising every field a second time per request. They
are written with orjson (a tenth of the standard encoder's time); every number in them is
finite, as the audit seal has already checked.
"""

import time
from typing import Any, Final

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from jifen.errors import JifenError
from serving.api.deps import BatchDep, ScorerDep, ServicesDep
from serving.api.errors import AUTH_RESPONSES, item_error
from serving.responses import BatchScoreResult, ScoreResult
from serving.schemas import ScoreRequest


class FastJSONResponse(Response):
    """A JSON response written by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` (str keys, finite numbers) to UTF-8 JSON."""
        return orjson.dumps(content)


router = APIRouter(prefix="/score", tags=["scoring"], responses=AUTH_RESPONSES)
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    404: {"description": "The enterprise is not in the feature store and no inline features came"},
    503: {
        "description": "No model loaded, the feature store is unavailable, or the audit "
        "record did not commit (no decision is returned)"
    },
}


@router.post("", response_model=ScoreResult, responses=_RESPONSES)
async def score(
    application: ScoreRequest, caller: ScorerDep, services: ServicesDep
) -> FastJSONResponse:
    """Score one application, record the decision in the audit log, then return it."""
    received = time.perf_counter()
    model = services.model.require()
    outcome = await services.coalescer.score(model, application, caller, received)
    if isinstance(outcome, JifenError):
        raise outcome
    return FastJSONResponse(outcome)


@router.post("/batch", response_model=BatchScoreResult, responses={503: _RESPONSES[503]})
async def score_batch(
    caller: ScorerDep, batch: BatchDep, services: ServicesDep
) -> FastJSONResponse:
    """Score several applications; scored ones are recorded together, failures listed."""
    received = time.perf_counter()
    model = services.model.require()
    outcomes = await services.decisions.score(model, batch.items, caller, received)
    items: list[dict[str, Any]] = []
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, JifenError):
            status, detail = item_error(outcome)
            items.append(
                {"index": i, "result": None, "error": {"status": status, "detail": detail}}
            )
        else:
            items.append({"index": i, "result": outcome, "error": None})
    scored = sum(item["error"] is None for item in items)
    return FastJSONResponse(
        {
            "items": items,
            "scored": scored,
            "failed": len(items) - scored,
            "server_ms": (time.perf_counter() - received) * 1000,
        }
    )
