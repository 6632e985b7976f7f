"""Scoring routes: the seam where the model plugs in.

Requests are authenticated and validated now; scoring answers 503 until a model bundle is
loaded and ``serving.core.model`` is filled in.
"""

from typing import Any, Final

from fastapi import APIRouter

from serving.api.deps import BatchDep, ScorerDep, ServicesDep
from serving.api.errors import AUTH_RESPONSES
from serving.schemas import ScoreRequest

router = APIRouter(prefix="/score", tags=["scoring"], responses=AUTH_RESPONSES)
_NOT_READY: Final[dict[int | str, dict[str, Any]]] = {
    503: {"description": "No model loaded, or the audit record did not commit"}
}


@router.post("", responses=_NOT_READY)
def score(application: ScoreRequest, caller: ScorerDep, services: ServicesDep) -> None:
    """Score one application (503 until the model seam is filled)."""
    services.model.require()


@router.post("/batch", responses=_NOT_READY)
def score_batch(caller: ScorerDep, batch: BatchDep, services: ServicesDep) -> None:
    """Score several applications in one call (503 until the model seam is filled)."""
    services.model.require()
