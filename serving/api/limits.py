"""Limits on JSON request bodies, checked before any parser sees them: 413, 415 and 400.

Every request body goes through ``read_json_body``, once: the fast path of
``POST /v1/score`` calls it itself (``serving.api.fast_score``), and
``BodyLimitsMiddleware`` calls it for every other request that may carry a body (the
FastAPI routes, ``POST /v1/score`` among them when the fast path is off or hands a
request on). The checks, in order, each refused with our error type (the shared handler
in ``serving.api.errors`` writes the response):

1. a declared ``Content-Length`` above ``max_body_bytes``: 413, nothing is read;
2. a body whose content type is not JSON (``application/json`` or ``application/*+json``,
   UTF-8 if a charset is named): 415, nothing is read;
3. the body is read chunk by chunk and refused with a 413 as soon as it passes the limit,
   so a 200 MB body costs at most ``max_body_bytes`` of memory;
4. invalid UTF-8, nesting deeper than ``max_json_depth`` and a number with more than
   ``max_number_digits`` digits: 400 naming the rule and where.

Step 4 costs a UTF-8 decode, two byte counts and one regular-expression search for an
ordinary body: the exact check (strings taken out first) runs only when the body holds
more brackets than the depth allows or a run of number characters longer than the digits
allowed; it stops at the first breach.
"""

import inspect
import re
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any, Final

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.errors import JifenError
from serving.core.config import BodyLimits
from serving.errors import (
    BodyTooLargeError,
    MalformedBodyError,
    RequestBodyError,
    UnsupportedMediaTypeError,
)

ErrorHandler = Callable[[Request, Any], Response | Awaitable[Response]]

CHECKED: Final = "jifen.body_checked"
"""Scope key set once a request's body passed the checks (a replayed body is not re-read)."""
_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
_UTF8: Final = frozenset({"utf-8", "utf8"})
_SHOWN: Final = 80
"""Characters of a refused content type quoted back."""
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')
"""A JSON string, closed or not (an unclosed one runs to the end: the scan stays linear)."""
_NOT_BRACKET: Final = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STATUSES: Final = {
    "400": "The body is not valid UTF-8, nests too deep or holds a too-long number",
    "413": "The body is larger than the configured limit",
    "415": "The body is not JSON (Content-Type application/json, UTF-8)",
}
"""What the body checks answer, as every route with a JSON body documents it."""
_ERROR_SCHEMA: Final = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}


def header(scope: Scope, name: bytes) -> bytes | None:
    """Return a request header's first value (names in lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    raw = header(scope, b"content-length")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def _check_content_type(raw: bytes | None) -> None:
    """Refuse (415) a body that is not JSON in UTF-8."""
    if raw is None:
        raise UnsupportedMediaTypeError(
            "a request body must be JSON: Content-Type must be application/json; got none"
        )
    text = raw.decode("latin-1")
    media, *params = (part.strip() for part in text.split(";"))
    media = media.lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/json; got {text[:_SHOWN]!r}"
        )
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in _UTF8:
            raise UnsupportedMediaTypeError(
                f"a JSON body must be UTF-8; got charset {value.strip()[:_SHOWN]!r}"
            )


async def _read_bounded(receive: Receive, limit: int) -> bytes:
    """Read the whole body, refusing (413) as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(
                f"the request body exceeds {limit} bytes (max_body_bytes); it was not read further"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@lru_cache(maxsize=8)
def _long_run(digits: int) -> re.Pattern[bytes]:
    """Match runs of number characters that could hold more than ``digits`` digits."""
    return re.compile(rb"[-+.eE0-9]{%d,}" % (digits + 1))


def _check_depth(brackets: bytes, limit: int) -> None:
    depth = 0
    for char in brackets:
        if char in b"[{":
            depth += 1
            if depth > limit:
                raise MalformedBodyError(f"body nesting depth exceeds {limit}")
        else:
            depth -= 1


def _check_numbers(bare: bytes, limit: int) -> None:
    # With strings out, a run of number characters is one number (JSON puts a comma, a
    # colon, a bracket or a space between values).
    for run in _long_run(limit).finditer(bare):
        digits = len(run.group().translate(None, b"-+.eE"))
        if digits > limit:
            raise MalformedBodyError(
                f"a number in the body has {digits} digits; at most {limit} allowed"
            )


def check_json_text(body: bytes, limits: BodyLimits) -> None:
    """Refuse (400) a body that is not UTF-8, nests too deep or holds a too-long number.

    Raises:
        MalformedBodyError: naming the rule broken (and the byte, for UTF-8).

    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBodyError(f"body is not valid UTF-8 at byte {exc.start}") from None
    # Cheap bounds first: no more brackets than the depth allowed, no long run of number
    # characters anywhere (strings included), and the body cannot break either rule.
    opening = body.count(b"[") + body.count(b"{")
    if opening <= limits.max_depth and not _long_run(limits.max_number_digits).search(body):
        return
    bare = _STRING.sub(b'""', body)  # what is left: structure, numbers, literals
    _check_depth(bare.translate(None, _NOT_BRACKET), limits.max_depth)
    _check_numbers(bare, limits.max_number_digits)


async def read_json_body(scope: Scope, receive: Receive, limits: BodyLimits) -> bytes:
    """Read a request's body within the limits (empty if it has none).

    Raises:
        BodyTooLargeError: the body is, or says it is, larger than ``limits.max_bytes``.
        UnsupportedMediaTypeError: a body that is not JSON in UTF-8.
        MalformedBodyError: see ``check_json_text``.
        ClientDisconnect: the client left before the body was read.

    """
    length = _content_length(scope)
    if length is not None and length > limits.max_bytes:
        raise BodyTooLargeError(
            f"the request body is {length} bytes; at most {limits.max_bytes} allowed "
            "(max_body_bytes)"
        )
    if (length or 0) > 0 or header(scope, b"transfer-encoding") is not None:
        _check_content_type(header(scope, b"content-type"))
    body = await _read_bounded(receive, limits.max_bytes)
    if body:
        check_json_text(body, limits)
    return body


def replay(body: bytes, receive: Receive) -> Receive:
    """Return a ``receive`` that hands out ``body`` (all of it) first, then what follows."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def send_error(
    on_error: ErrorHandler, scope: Scope, receive: Receive, send: Send, exc: JifenError
) -> int:
    """Answer ``exc`` through the app's handler of our errors; return the status sent."""
    response = on_error(Request(scope, receive), exc)
    if inspect.isawaitable(response):
        response = await response
    await response(scope, receive, send)
    return response.status_code


class BodyLimitsMiddleware:
    """Check the body of every request that may carry one, then pass it on (replayed).

    Args:
        app: the rest of the app.
        limits: the settings' body limits.
        on_error: the app's handler of our errors, so refusals read like every error.

    """

    def __init__(self, app: ASGIApp, limits: BodyLimits, on_error: ErrorHandler) -> None:
        self.app, self.limits, self.on_error = app, limits, on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a body that breaks a limit; hand the others on, body replayed."""
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY or scope.get(CHECKED):
            await self.app(scope, receive, send)
            return
        try:
            body = await read_json_body(scope, receive, self.limits)
        except RequestBodyError as exc:
            await send_error(self.on_error, scope, receive, send, exc)
            return
        except ClientDisconnect:
            return  # nobody is left to answer
        scope[CHECKED] = True
        await self.app(scope, replay(body, receive), send)


def limits_description(limits: BodyLimits) -> str:
    """Return the limits as the OpenAPI description states them (Markdown)."""
    return (
        "**Request bodies** are JSON (`Content-Type: application/json`, UTF-8) and are "
        "checked before they are parsed:\n\n"
        f"- at most {limits.max_bytes} bytes (`JIFEN_MAX_BODY_BYTES`), else **413**; a "
        "larger body is not read past the limit;\n"
        "- a body with another content type or charset: **415**;\n"
        f"- nesting of arrays and objects at most {limits.max_depth} deep "
        f"(`JIFEN_MAX_JSON_DEPTH`), numbers of at most {limits.max_number_digits} digits "
        "(`JIFEN_MAX_NUMBER_DIGITS`), valid UTF-8: else **400**, naming the rule broken.\n\n"
        "**Types are strict**: a number field takes a JSON number (not a string, not "
        "`true`), a count takes a JSON integer, a code takes a string."
    )


def document_limits(app: FastAPI, limits: BodyLimits) -> None:
    """State the limits in the app's description and list 400/413/415 on every JSON route.

    A JSON route is an operation with a request body in the generated schema (FastAPI's
    documented way to extend it: wrap ``app.openapi``), so a route added later is covered.
    """
    app.description = "\n\n".join(filter(None, [app.description, limits_description(limits)]))
    generate = app.openapi
    content = {"application/json": {"schema": _ERROR_SCHEMA}}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # cached by FastAPI in app.openapi_schema, completed here
            for item in schema["paths"].values():
                for operation in item.values():
                    if isinstance(operation, dict) and "requestBody" in operation:
                        for status, description in _STATUSES.items():
                            operation["responses"].setdefault(
                                status, {"description": description, "content": content}
                            )
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
