"""Model routes: the model card (any key) and a reload of every worker (admin role)."""

import logging
from typing import Annotated

from fastapi import APIRouter, Body

from serving.api.deps import AdminDep, CallerDep, ReloaderDep, ServicesDep
from serving.api.errors import AUTH_RESPONSES
from serving.core.card import model_card
from serving.responses import ModelCard, ReloadRequest, ReloadResult, WorkerModel

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
        409: {
            "description": "The bundle failed a check (file and reason named); no worker "
            "switched, the old model serves on everywhere"
        },
        503: {"description": "Not every worker loaded the bundle in time; none switched"},
    },
)
async def reload_model(
    caller: AdminDep,
    reloader: ReloaderDep,
    request: Annotated[ReloadRequest | None, Body()] = None,
) -> ReloadResult:
    """Load a bundle (the settings' choice, or a named version) on every worker, then swap.

    Every worker loads and checks it first; only when all have it does each swap it in, so
    either every worker serves it or none does. A request is scored by one model throughout.
    """
    report = await reloader.reload(request.version if request else None)
    log.warning(
        "admin key %s reloaded the model: %s -> %s on %d worker(s)",
        caller.key_id,
        report.previous,
        report.current,
        len(report.workers),
    )
    return ReloadResult(
        previous=report.previous,
        current=report.current,
        changed=report.changed,
        workers=[WorkerModel.model_validate(w, from_attributes=True) for w in report.workers],
    )
