"""Audit routes: read a recorded decision, replay it (auditor role)."""

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path

from serving.api.deps import AuditorDep, ServicesDep
from serving.api.errors import AUTH_RESPONSES
from serving.core.audit import hash_matches, record_from_row
from serving.core.replay import replay
from serving.responses import ReplayResult
from serving.schemas import DecisionPublic

log = logging.getLogger(__name__)
router = APIRouter(prefix="/decisions", tags=["audit"], responses=AUTH_RESPONSES)
DecisionIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
_NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {
    404: {"description": "No decision with this id is in the audit log"}
}


@router.get("/{decision_id}", responses=_NOT_FOUND)
def read_decision(
    decision_id: DecisionIdPath, caller: AuditorDep, services: ServicesDep
) -> DecisionPublic:
    """Return a decision's sealed audit record, and whether its own hash still matches."""
    row = services.store.get_row(decision_id)
    record = record_from_row(row)
    log.info("auditor key %s read decision %s", caller.key_id, decision_id)
    return DecisionPublic(**record.model_dump(), hash_valid=hash_matches(row))


@router.post(
    "/{decision_id}/replay",
    responses={
        404: {"description": "No such decision, or its model version is no longer available"},
        409: {"description": "The recorded model version's bundle fails its checks"},
    },
)
def replay_decision(
    decision_id: DecisionIdPath, caller: AuditorDep, services: ServicesDep
) -> ReplayResult:
    """Re-score a decision from its stored inputs with its stored model version."""
    record = services.store.get(decision_id)
    result = replay(record, services.model, services.decisions)
    log.info(
        "auditor key %s replayed decision %s: identical=%s",
        caller.key_id,
        decision_id,
        result.identical,
    )
    return result
