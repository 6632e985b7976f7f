"""``POST /v1/score`` without the framework's per-request machinery, to the same contract.

Profiled under open-loop load (py-spy, two workers), FastAPI's middleware chain, routing,
dependency resolution and body handling took about a fifth of a worker's CPU per score,
as much as the whole online read. This path answers the route's successful requests by
hand: it reads the body within the configured limits, reads the bearer key,
authenticates it, parses and validates the body with the route's own model
(``ScoreRequest``), scores through the same ``DecisionService`` and writes the same
orjson response; it counts the request in the same Prometheus metrics.

It never has an error path of its own:

- the body is read and checked by the one helper every route's body goes through
  (``serving.api.limits.read_json_body``: 413, 415, 400), and its refusals are rendered
  by the app's handler, as the middleware in front of the FastAPI routes renders them;
- a body that does not parse or validate is handed to the full FastAPI app with the body
  replayed (and marked as checked), so every 422 comes from the one place that writes them;
- errors raised while authenticating or scoring (401, 403, 404, 503, ...) are rendered
  by the exception handler the app registered for them, so they read the same;
- the OpenAPI entry stays the FastAPI route's, which still serves every fallback.

The order of checks is the app's: the body's limits first (as the middleware does, before
routing), then the key, then validation. ``JIFEN_FAST_SCORE=false`` turns the path off.
"""

import time

import orjson
from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import Counter
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from jifen.errors import JifenError
from serving.api.deps import SCORER_KEY, authenticate
from serving.api.limits import (
    CHECKED,
    ErrorHandler,
    header,
    read_json_body,
    replay,
    send_error,
)
from serving.api.routes.score import FastJSONResponse
from serving.core.metrics import Metrics
from serving.core.security import authorize
from serving.core.services import Services
from serving.schemas import Caller, ScoreRequest


class _FallbackError(Exception):
    """The request is not one this path answers: the full app takes it, body replayed."""


def _bearer(scope: Scope) -> str | None:
    """Return the bearer credentials as FastAPI's ``HTTPBearer`` reads them (None if absent)."""
    raw = header(scope, b"authorization")
    scheme, credentials = get_authorization_scheme_param(raw.decode("latin-1") if raw else None)
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


class FastScore:
    """Answers ``POST /v1/score`` like the FastAPI route, or hands the request to it.

    Args:
        path: the route's path (``/v1/score``), also its metrics label.
        full: the whole app (middleware, routes), for every request this path does not answer.
        services: the services the lifespan opened.
        metrics: the app's metrics (request counts and latency under ``/v1/score``).
        on_error: the app's exception handler for our errors.

    """

    def __init__(
        self,
        path: str,
        full: ASGIApp,
        services: Services,
        metrics: Metrics,
        on_error: ErrorHandler,
    ) -> None:
        self.path, self.full, self.services = path, full, services
        self.limits = services.settings.body_limits
        self.metrics, self.on_error = metrics, on_error
        self._latency = metrics.latency.labels("POST", path)
        self._counts: dict[int, Counter] = {}
        self.answered = 0
        """Requests this path answered (scores and the errors it rendered)."""
        self.handed_on = 0
        """Requests handed to the full app."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request, or pass it (body replayed) to the full app."""
        start = time.perf_counter()
        body = b""
        try:
            body = await read_json_body(scope, receive, self.limits)
            caller = await self._caller(scope)
            try:
                application = ScoreRequest.model_validate(orjson.loads(body))
            except (orjson.JSONDecodeError, ValidationError):
                raise _FallbackError from None  # the full app writes the 422
            status = await self._score(scope, receive, send, application, caller, start)
        except _FallbackError:
            self.handed_on += 1
            scope[CHECKED] = True
            await self.full(scope, replay(body, receive), send)
            return
        except ClientDisconnect:
            return  # the client left while sending its body: nobody to answer
        except JifenError as exc:
            status = await self._error(scope, receive, send, exc)
        except BaseException:
            # A bug or a cancelled request: the server answers 500 (or nothing) and logs it.
            self._done(500, start)
            raise
        self._done(status, start)

    async def _caller(self, scope: Scope) -> Caller:
        caller = await authenticate(self.services, _bearer(scope))
        authorize(caller, SCORER_KEY.role, SCORER_KEY.action)
        return caller

    async def _score(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        application: ScoreRequest,
        caller: Caller,
        start: float,
    ) -> int:
        services = self.services
        model = services.model.require()
        outcome = await services.coalescer.score(model, application, caller, start)
        if isinstance(outcome, JifenError):
            return await self._error(scope, receive, send, outcome)
        await FastJSONResponse(outcome)(scope, receive, send)
        return 200

    async def _error(self, scope: Scope, receive: Receive, send: Send, exc: JifenError) -> int:
        return await send_error(self.on_error, scope, receive, send, exc)

    def _done(self, status: int, start: float) -> None:
        self.answered += 1
        child = self._counts.get(status)
        if child is None:
            child = self._counts[status] = self.metrics.requests.labels(
                "POST", self.path, str(status)
            )
        child.inc()
        self._latency.observe(time.perf_counter() - start)
