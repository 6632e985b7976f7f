"""Dependencies of the routes, as ``Annotated`` aliases: services, reloader, caller, roles.

They are ``async``: FastAPI runs a plain ``def`` dependency in the thread pool, a hop per
dependency per request that costs more than their work. The key lookup reads a local
SQLite file in tens of microseconds on the event loop; on PostgreSQL it waits on the
network, so it goes to the thread pool.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from serving.core.config import ServingSettings
from serving.core.reload import Reloader
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


async def get_reloader(request: Request) -> Reloader:
    """Return what reloads the model wherever this service serves (every worker)."""
    reloader: Reloader = request.app.state.reloader
    return reloader


ReloaderDep = Annotated[Reloader, Depends(get_reloader)]


async def get_settings(services: ServicesDep) -> ServingSettings:
    """Return the settings the app was built with."""
    return services.settings


SettingsDep = Annotated[ServingSettings, Depends(get_settings)]


async def authenticate(services: Services, presented: str | None) -> Caller:
    """Return who holds the key ``presented`` (on the event loop for a local store)."""
    if services.store.local:
        return services.keys.authenticate(presented)
    return await run_in_threadpool(services.keys.authenticate, presented)


async def get_caller(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the request's API key (401 when missing, malformed, unknown, revoked)."""
    return await authenticate(services, credentials.credentials if credentials else None)


CallerDep = Annotated[Caller, Depends(get_caller)]


class RoleKey(HTTPBearer):
    """The API key of a role, checked in one dependency (401: no valid key; 403: other role).

    It reads the bearer key, authenticates it and checks the role. One dependency, not a
    key dependency nested in a role check: every dependency costs FastAPI a resolution
    step per request, and this one guards the hottest route. Being an ``HTTPBearer``, it
    still documents the ``ApiKey`` scheme in OpenAPI.
    """

    def __init__(self, role: Role, action: str) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="ApiKey",
            description=f"An API key, sent as 'Authorization: Bearer {KEY_FORMAT}'.",
        )
        self.role, self.action = frozenset({role}), action

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        """Return the authenticated caller of ``request`` if its role may act."""
        credentials = await super().__call__(request)
        presented = credentials.credentials if credentials else None
        caller = await authenticate(request.app.state.services, presented)
        authorize(caller, self.role, self.action)
        return caller


SCORER_KEY = RoleKey(Role.SCORER, "scoring")
"""The scorer's key check (also used by ``serving.api.fast_score``)."""
ScorerDep = Annotated[Caller, Depends(SCORER_KEY)]
AuditorDep = Annotated[Caller, Depends(RoleKey(Role.AUDITOR, "reading decisions"))]
AdminDep = Annotated[Caller, Depends(RoleKey(Role.ADMIN, "administration"))]


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
