"""``POST /v1/score`` without the framework's per-request machinery, to the same contract.

Profiled under open-loop load (py-spy, two workers), FastAPI's middleware chain, routing,
dependency resolution and body handling took about a fifth of a worker's CPU per score,
as much as the whole online read. This path answers the route's successful requests by
hand: it reads the bearer key, authenticates it, parses and validates the body with the
route's own model (``ScoreRequest``), scores through the same ``DecisionService`` and
writes the same orjson response; it counts the request in the same Prometheus metrics.

It never has an error path of its own:

- a body that does not parse or validate (or any request it is unsure of: no JSON
  content type, a streamed or very large body) is handed to the full FastAPI app with
  the body replayed, so every 422 comes from the one place that writes them;
- errors raised while authenticating or scoring (401, 403, 404, 503, ...) are rendered
  by the exception handler the app registered for them, so they read the same;
- the OpenAPI entry stays the FastAPI route's, which still serves every fallback.

The order of checks is FastAPI's: the key before the body, so a request with a bad key and
a bad body gets a 401 either way. ``JIFEN_FAST_SCORE=false`` turns the path off.
"""

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import Counter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.errors import JifenError
from serving.api.deps import SCORER_KEY, authenticate
from serving.api.routes.score import FastJSONResponse
from serving.core.metrics import Metrics
from serving.core.security import authorize
from serving.core.services import Services
from serving.schemas import Caller, ScoreRequest

MAX_BODY: Final = 256 * 1024
"""Bodies above this go to the full app (a single application is a few hundred bytes)."""
_JSON: Final = b"application/json"

ErrorHandler = Callable[[Request, Any], Response | Awaitable[Response]]


class _FallbackError(Exception):
    """The request is not one this path answers: the full app takes it, body replayed."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _bearer(scope: Scope) -> str | None:
    """Return the bearer credentials as FastAPI's ``HTTPBearer`` reads them (None if absent)."""
    raw = _header(scope, b"authorization")
    scheme, credentials = get_authorization_scheme_param(raw.decode("latin-1") if raw else None)
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def _is_json(scope: Scope) -> bool:
    content_type = _header(scope, b"content-type")
    return content_type is not None and content_type.split(b";")[0].strip().lower() == _JSON


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """Return the body read and whether that was all of it (reading stops past ``MAX_BODY``)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _FallbackError  # disconnected: the full app handles it as it would
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, complete: bool) -> Receive:
    """Return a ``receive`` that hands out ``body`` first, then whatever follows."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed


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
        body: bytes | None = None  # not read yet: the full app reads it itself
        complete = True
        try:
            if not _is_json(scope):
                raise _FallbackError
            caller = await self._caller(scope)
            body, complete = await _read_body(receive)
            if not complete or len(body) > MAX_BODY:
                raise _FallbackError
            try:
                application = ScoreRequest.model_validate(orjson.loads(body))
            except (orjson.JSONDecodeError, ValidationError):
                raise _FallbackError from None  # the full app writes the 422
            status = await self._score(scope, receive, send, application, caller, start)
        except _FallbackError:
            self.handed_on += 1
            replayed = receive if body is None else _replay(body, receive, complete)
            await self.full(scope, replayed, send)
            return
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
        response = self.on_error(Request(scope, receive), exc)
        if inspect.isawaitable(response):
            response = await response
        await response(scope, receive, send)
        return response.status_code

    def _done(self, status: int, start: float) -> None:
        self.answered += 1
        child = self._counts.get(status)
        if child is None:
            child = self._counts[status] = self.metrics.requests.labels(
                "POST", self.path, str(status)
            )
        child.inc()
        self._latency.observe(time.perf_counter() - start)
