"""Dependencies of the routes, as ``Annotated`` aliases: services, caller, role checks.

They are ``async``: FastAPI runs a plain ``def`` dependency in the thread pool, a hop per
dependency per request that costs more than their work. The key lookup reads a local
SQLite file in tens of microseconds on the event loop; on PostgreSQL it waits on the
network, so it goes to the thread pool.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from serving.core.config import ServingSettings
from serving.core.security import KEY_FORMAT, authorize
from serving.core.services import Services
from serving.schemas import BatchScoreRequest, Caller, Role

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description=f"An API key, sent as 'Authorization: Bearer {KEY_FORMAT}'.",
)


async def get_services(request: Request) -> Services:
    """Return the services the lifespan opened."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> ServingSettings:
    """Return the settings the app was built with."""
    return services.settings


SettingsDep = Annotated[ServingSettings, Depends(get_settings)]


async def _authenticate(
    services: Services, credentials: HTTPAuthorizationCredentials | None
) -> Caller:
    presented = credentials.credentials if credentials else None
    if services.store.local:
        return services.keys.authenticate(presented)
    return await run_in_threadpool(services.keys.authenticate, presented)


async def get_caller(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the request's API key (401 when missing, malformed, unknown, revoked)."""
    return await _authenticate(services, credentials)


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_role(role: Role, action: str) -> Callable[..., Awaitable[Caller]]:
    """Build a dependency that lets only ``role`` through (401 without a key, 403 otherwise).

    One dependency that reads the services itself: every nested dependency costs FastAPI
    a resolution step per request, and this one guards the hottest route.
    """

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        caller = await _authenticate(request.app.state.services, credentials)
        authorize(caller, frozenset({role}), action)
        return caller

    return check


ScorerDep = Annotated[Caller, Depends(require_role(Role.SCORER, "scoring"))]
AuditorDep = Annotated[Caller, Depends(require_role(Role.AUDITOR, "reading decisions"))]
AdminDep = Annotated[Caller, Depends(require_role(Role.ADMIN, "administration"))]


async def checked_batch(batch: BatchScoreRequest, settings: SettingsDep) -> BatchScoreRequest:
    """Refuse a batch above the configured size with a field-level 422."""
    if len(batch.items) > settings.batch_max_size:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "items"),
                    "msg": f"items must hold at most {settings.batch_max_size} applications "
                    f"(batch_max_size); got {len(batch.items)}",
                    "type": "too_long",
                }
            ]
        )
    return batch


BatchDep = Annotated[BatchScoreRequest, Depends(checked_batch)]
