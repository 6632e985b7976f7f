"""Audit routes: read a recorded decision (auditor role)."""

import logging
from typing import Annotated

from fastapi import APIRouter, Path

from serving.api.deps import AuditorDep, ServicesDep
from serving.api.errors import AUTH_RESPONSES
from serving.core.audit import hash_matches, record_from_row
from serving.schemas import DecisionPublic

log = logging.getLogger(__name__)
router = APIRouter(prefix="/decisions", tags=["audit"], responses=AUTH_RESPONSES)


@router.get(
    "/{decision_id}",
    responses={404: {"description": "No decision with this id is in the audit log"}},
)
def read_decision(
    decision_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    caller: AuditorDep,
    services: ServicesDep,
) -> DecisionPublic:
    """Return a decision's sealed audit record, and whether its own hash still matches."""
    row = services.store.get_row(decision_id)
    record = record_from_row(row)
    log.info("auditor key %s read decision %s", caller.key_id, decision_id)
    return DecisionPublic(**record.model_dump(), hash_valid=hash_matches(row))
