"""Model routes: the model card (any key) and an atomic reload (admin role)."""

import logging
from typing import Annotated

from fastapi import APIRouter, Body

from serving.api.deps import AdminDep, CallerDep, ServicesDep
from serving.api.errors import AUTH_RESPONSES
from serving.core.card import model_card
from serving.responses import ModelCard, ReloadRequest, ReloadResult

log = logging.getLogger(__name__)
router = APIRouter(tags=["model"], responses=AUTH_RESPONSES)


@router.get("/model", responses={503: {"description": "No model loaded"}})
def read_model(caller: CallerDep, services: ServicesDep) -> ModelCard:
    """Describe the served model: version, source, metrics, inputs, points and grades."""
    return model_card(
        services.model.require(),
        services.model,
        services.decisions,
        services.decisions.writer.feature_set,
        services.settings.feature_service,
    )


@router.post(
    "/admin/reload",
    responses={
        404: {"description": "No such model version"},
        409: {"description": "The bundle failed a check (file named); the old model serves on"},
    },
)
def reload_model(
    caller: AdminDep,
    services: ServicesDep,
    request: Annotated[ReloadRequest | None, Body()] = None,
) -> ReloadResult:
    """Load a bundle (the settings' choice, or a named version), check it, swap it in."""
    previous, model = services.model.reload(request.version if request else None)
    log.warning(
        "admin key %s reloaded the model: %s -> %s", caller.key_id, previous, model.model_version
    )
    return ReloadResult(
        previous=previous, current=model.model_version, changed=previous != model.model_version
    )
