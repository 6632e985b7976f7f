"""The one place where errors become HTTP responses.

Routes and dependencies raise our error types; the handlers installed here turn them
into status codes with a message that names what is wrong. Validation errors keep
FastAPI's field-level shape but drop the echoed input: a NaN cannot be written as JSON
(FastAPI's own handler fails with a 500 on it) and a full credit code must not be echoed
into client logs.
"""

import logging
from typing import Any, Final

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from jifen.errors import DataContractError, JifenError, NotFoundError
from serving.errors import (
    AuditIntegrityError,
    AuditWriteError,
    AuthenticationError,
    BodyTooLargeError,
    BundleRejectedError,
    FeatureStoreUnavailableError,
    MalformedBodyError,
    ModelNotReadyError,
    PermissionDeniedError,
    ReloadIncompleteError,
    StoreUnavailableError,
    UnsupportedMediaTypeError,
)

log = logging.getLogger(__name__)

WWW_AUTHENTICATE: Final = 'Bearer realm="jifen"'
_STATUS_BY_ERROR: Final[tuple[tuple[type[JifenError], int, str | None], ...]] = (
    (MalformedBodyError, 400, None),
    (AuthenticationError, 401, None),
    (PermissionDeniedError, 403, None),
    (NotFoundError, 404, None),
    (BodyTooLargeError, 413, None),
    (UnsupportedMediaTypeError, 415, None),
    (DataContractError, 422, None),
    (BundleRejectedError, 409, None),
    # A record whose columns no longer match its sealed body: the client (an auditor's
    # lookup or replay) is told which record and what differs, never a bare 500.
    (AuditIntegrityError, 409, None),
    (ModelNotReadyError, 503, None),
    (ReloadIncompleteError, 503, None),
    (
        FeatureStoreUnavailableError,
        503,
        "the feature store is unavailable, so no score is given (never on default values); "
        "retry later",
    ),
    # Database errors stay in our logs; the client learns what it means for the decision.
    (
        AuditWriteError,
        503,
        "the decision could not be recorded in the audit log and is withheld; retry later",
    ),
    (StoreUnavailableError, 503, "the audit store is unavailable; retry later"),
)
"""Error type, status, and the message clients see (None: the error's own message)."""


AUTH_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    401: {"description": "API key missing, malformed, unknown or revoked"},
    403: {"description": "The key's role may not use this endpoint"},
}
"""OpenAPI entries of every route behind an API key."""


def http_error(exc: JifenError) -> HTTPException:
    """Map one of our errors to the HTTP error a client sees (500 if unmapped)."""
    status, public = next(
        ((code, text) for kind, code, text in _STATUS_BY_ERROR if isinstance(exc, kind)),
        (500, None),
    )
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else None
    return HTTPException(status_code=status, detail=public or str(exc), headers=headers)


def item_error(exc: JifenError) -> tuple[int, str]:
    """Status and message of an error reported inside a response (a batch item)."""
    http = http_error(exc)
    return http.status_code, str(http.detail)


async def _jifen_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JifenError)  # registered for JifenError only
    http = http_error(exc)
    if http.status_code >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, http.status_code, exc)
    if http.status_code == 422:
        # Every 422 has the one documented shape: a list of field errors.
        field = getattr(exc, "field", ())
        error = {"loc": ["body", *field], "msg": str(exc), "type": "value_error"}
        return JSONResponse(status_code=422, content={"detail": [error]})
    return await http_exception_handler(request, http)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # registered for it only
    errors = [
        {
            "loc": list(err["loc"]),
            "msg": str(err["msg"]).removeprefix("Value error, "),
            "type": err["type"],
        }
        for err in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(JifenError, _jifen_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
