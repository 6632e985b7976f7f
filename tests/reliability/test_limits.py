"""Bounded bodies: 413 above the size limit, 415 for what is not JSON, 400 naming the rule.

Every check is made on both answers to ``POST /v1/score`` (the fast path and the FastAPI
route, which must agree to the byte) and on the other routes that take a JSON body. The
size limit is also checked where it matters, on ``jifen serve``: a 200 MB body is refused
without the worker reading it into memory.
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from jifen.errors import ConfigError
from serving.api.limits import read_json_body
from serving.core.config import BodyLimits, load_settings
from serving.errors import BodyTooLargeError
from serving.schemas import Role
from tests.reliability.conftest import AppFactory, ServedWorld, ask_both, key_headers
from tests.serving.conftest import FeatureRepo, application_body

pytestmark = pytest.mark.reliability

JSON: Final = {"Content-Type": "application/json"}
DEFAULT_BYTES: Final = 1_048_576


def _body(feature_repo: FeatureRepo, **changes: Any) -> bytes:
    return json.dumps(application_body(feature_repo.credit_codes[0], **changes)).encode()


def _agree(answers: list[tuple[int, Any]]) -> tuple[int, Any]:
    """The one answer both paths gave (they must give the same)."""
    fast, framework = answers
    assert fast == framework
    return fast


# --- 413: size --------------------------------------------------------------------------


def test_a_body_declared_larger_than_the_limit_is_refused_413_naming_sizes(
    both_paths: tuple[TestClient, TestClient], feature_repo: FeatureRepo
) -> None:
    """One byte above max_body_bytes (whitespace padding): 413 naming the size and the limit."""
    body = _body(feature_repo)
    padded = body + b" " * (DEFAULT_BYTES + 1 - len(body))
    status, answer = _agree(
        ask_both(both_paths, "/v1/score", Role.SCORER, content=padded, headers=JSON)
    )
    assert status == 413
    assert answer == {
        "detail": f"the request body is {DEFAULT_BYTES + 1} bytes; at most {DEFAULT_BYTES} "
        "allowed (max_body_bytes)"
    }


def test_the_size_limit_comes_before_the_key(
    both_paths: tuple[TestClient, TestClient], feature_repo: FeatureRepo
) -> None:
    """No key and a body too large: the 413 (nothing is read to find out who asks)."""
    padded = _body(feature_repo) + b" " * DEFAULT_BYTES
    status, _ = _agree(ask_both(both_paths, "/v1/score", None, content=padded, headers=JSON))
    assert status == 413


def test_a_streamed_body_is_read_no_further_than_the_limit() -> None:
    """A 200 MB body sent in 64 KB chunks, no length declared: 413 after 17 chunks of 3,200."""
    chunk, chunks = 65_536, 3_200
    taken = 0

    async def receive() -> dict[str, Any]:
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": b" " * chunk, "more_body": taken < chunks}

    scope = {"type": "http", "headers": [(b"content-type", b"application/json")]}
    limits = BodyLimits(max_bytes=DEFAULT_BYTES, max_depth=64, max_number_digits=100)
    with pytest.raises(BodyTooLargeError, match=r"exceeds 1048576 bytes \(max_body_bytes\)"):
        anyio.run(read_json_body, scope, receive, limits)
    assert taken == DEFAULT_BYTES // chunk + 1


def _rss(process: psutil.Process) -> int:
    return int(sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]))


@pytest.mark.slow
def test_a_200_mb_body_to_jifen_serve_is_refused_quickly_and_costs_the_worker_no_memory(
    served_world: ServedWorld, feature_repo: FeatureRepo
) -> None:
    """200 MB streamed (chunked, no length) to a real server: 413 within seconds, RSS flat.

    Before the limit, such a body was read whole (8.3 s) and took the worker from 475 to
    1,045 MB; a score after it still works.
    """
    server = served_world.start(workers=1)
    process = psutil.Process(server.process.pid)
    headers = {**served_world.headers(Role.SCORER), **JSON}
    before = _rss(process)

    def two_hundred_mb() -> Iterator[bytes]:
        for _ in range(200):
            yield b" " * 1_000_000

    start = time.monotonic()
    response = httpx.post(
        f"{server.url}/v1/score", content=two_hundred_mb(), headers=headers, timeout=60
    )
    elapsed = time.monotonic() - start
    assert response.status_code == 413, response.text
    assert "max_body_bytes" in response.json()["detail"]
    assert elapsed < 10, f"refusing 200 MB took {elapsed:.1f} s"
    grown = (_rss(process) - before) / 1e6
    assert grown < 50, f"the server grew by {grown:.0f} MB"
    scored = httpx.post(
        f"{server.url}/v1/score",
        json=application_body(feature_repo.credit_codes[0]),
        headers=served_world.headers(Role.SCORER),
        timeout=30,
    )
    assert scored.status_code == 200, scored.text


# --- 415: content type -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "detail"),
    [
        ("text/plain", "Content-Type must be application/json; got 'text/plain'"),
        (
            "application/x-www-form-urlencoded",
            "Content-Type must be application/json; got 'application/x-www-form-urlencoded'",
        ),
        (None, "a request body must be JSON: Content-Type must be application/json; got none"),
        (
            "application/json; charset=latin-1",
            "a JSON body must be UTF-8; got charset 'latin-1'",
        ),
    ],
)
def test_a_body_that_is_not_json_is_refused_415_naming_what_came(
    both_paths: tuple[TestClient, TestClient],
    feature_repo: FeatureRepo,
    content_type: str | None,
    detail: str,
) -> None:
    """Not a 422 about dictionaries: a 415 that says which content type is expected."""
    headers = {"Content-Type": content_type} if content_type else {}
    status, answer = _agree(
        ask_both(both_paths, "/v1/score", Role.SCORER, content=_body(feature_repo), headers=headers)
    )
    assert (status, answer) == (415, {"detail": detail})


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=UTF-8", "application/vnd.jifen+json"]
)
def test_json_content_types_with_utf8_or_a_json_suffix_are_scored(
    both_paths: tuple[TestClient, TestClient], feature_repo: FeatureRepo, content_type: str
) -> None:
    """application/json with charset=UTF-8, and application/*+json, are JSON."""
    headers = {"Content-Type": content_type}
    for status, _ in ask_both(
        both_paths, "/v1/score", Role.SCORER, content=_body(feature_repo), headers=headers
    ):
        assert status == 200


# --- 400: what the parser must not be given ------------------------------------------------


def _at_byte_17() -> bytes:
    body = b'{"enterprise":  "\xff"}'
    assert body.index(b"\xff") == 17
    return body


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[" * 5000 + b"]" * 5000, "body nesting depth exceeds 64"),
        (
            b'{"enterprise": {"credit_code": "x"}, "application": {"amount_wan": '
            + b"9" * 5000
            + b"}}",
            "a number in the body has 5000 digits; at most 100 allowed",
        ),
        (
            b'{"a": ' + b"1" * 60 + b"." + b"2" * 50 + b"e10}",
            "a number in the body has 112 digits; at most 100 allowed",
        ),
        (_at_byte_17(), "body is not valid UTF-8 at byte 17"),
    ],
    ids=["nesting-5000", "number-5000-digits", "decimal-112-digits", "invalid-utf8"],
)
def test_a_malformed_body_is_refused_400_naming_the_rule(
    both_paths: tuple[TestClient, TestClient], body: bytes, detail: str
) -> None:
    """Three bodies that once got a 400 naming nothing: each names its rule now."""
    status, answer = _agree(
        ask_both(both_paths, "/v1/score", Role.SCORER, content=body, headers=JSON)
    )
    assert (status, answer) == (400, {"detail": detail})


def test_brackets_and_digits_inside_strings_are_not_counted(
    both_paths: tuple[TestClient, TestClient], feature_repo: FeatureRepo
) -> None:
    """A string of 200 brackets and 200 digits is text: validation answers (422), not a 400."""
    body = _body(feature_repo, request_id="[" * 200 + "1" * 200)
    status, answer = _agree(
        ask_both(both_paths, "/v1/score", Role.SCORER, content=body, headers=JSON)
    )
    assert status == 422
    assert answer["detail"][0]["loc"] == ["body", "request_id"]


def test_an_ordinary_application_passes_the_limits_and_is_scored(
    both_paths: tuple[TestClient, TestClient], feature_repo: FeatureRepo
) -> None:
    """The limits refuse nothing a bank sends: a normal application is scored on both paths."""
    answers = ask_both(
        both_paths, "/v1/score", Role.SCORER, content=_body(feature_repo), headers=JSON
    )
    assert [status for status, _ in answers] == [200, 200]


# --- every route with a JSON body, and the limits as configuration ------------------------


def test_the_batch_and_reload_routes_apply_the_same_limits(
    both_paths: tuple[TestClient, TestClient],
) -> None:
    """The batch route refuses a deep body (400); the reload route a text body (415)."""
    client = both_paths[1]
    deep = client.post(
        "/v1/score/batch",
        content=b'{"items": ' + b"[" * 100 + b"]" * 100 + b"}",
        headers={**key_headers(client, Role.SCORER), **JSON},
    )
    assert (deep.status_code, deep.json()) == (400, {"detail": "body nesting depth exceeds 64"})
    text = client.post(
        "/v1/admin/reload",
        content=b"version=1",
        headers={**key_headers(client, Role.ADMIN), "Content-Type": "text/plain"},
    )
    assert text.status_code == 415, text.text


def test_the_limits_are_read_from_the_settings(
    make_client: AppFactory, feature_repo: FeatureRepo
) -> None:
    """max_body_bytes=2048, max_json_depth=8, max_number_digits=20: each enforced as set."""
    client = make_client(max_body_bytes=2048, max_json_depth=8, max_number_digits=20)
    headers = {**key_headers(client, Role.SCORER), **JSON}

    def post(body: bytes) -> tuple[int, Any]:
        response = client.post("/v1/score", content=body, headers=headers)
        return response.status_code, response.json()["detail"]

    body = _body(feature_repo)
    assert post(body + b" " * (2049 - len(body))) == (
        413,
        "the request body is 2049 bytes; at most 2048 allowed (max_body_bytes)",
    )
    assert post(b"[" * 9 + b"]" * 9) == (400, "body nesting depth exceeds 8")
    assert post(b'{"a": ' + b"1" * 21 + b"}") == (
        400,
        "a number in the body has 21 digits; at most 20 allowed",
    )
    assert client.post("/v1/score", content=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("setting", "value"),
    [("max_body_bytes", 10), ("max_json_depth", 2), ("max_number_digits", 10_000)],
)
def test_limits_out_of_range_are_refused_naming_the_setting(setting: str, value: int) -> None:
    """A limit that would refuse every application, or protect nothing, is a ConfigError."""
    with pytest.raises(ConfigError, match=setting):
        load_settings(**{setting: value})


def test_the_limits_are_documented_in_the_openapi(
    both_paths: tuple[TestClient, TestClient],
) -> None:
    """The description states each limit and its value; JSON routes list 400, 413 and 415."""
    schema = both_paths[0].get("/openapi.json").json()
    description = schema["info"]["description"]
    for text in ("1048576 bytes", "JIFEN_MAX_BODY_BYTES", "64 deep", "100 digits", "**415**"):
        assert text in description
    for path in ("/v1/score", "/v1/score/batch", "/v1/admin/reload"):
        assert {"400", "413", "415"} <= set(schema["paths"][path]["post"]["responses"]), path
    replay = schema["paths"]["/v1/decisions/{decision_id}/replay"]["post"]["responses"]
    assert "413" not in replay  # no body, nothing to limit


def test_the_limits_are_documented_in_the_readme() -> None:
    """The README names the three settings beside the statuses they produce."""
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for name in ("JIFEN_MAX_BODY_BYTES", "JIFEN_MAX_JSON_DEPTH", "JIFEN_MAX_NUMBER_DIGITS"):
        assert name in text
