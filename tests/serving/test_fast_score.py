"""The fast path of POST /v1/score answers exactly as the FastAPI route does.

Two apps on the same Feast repository and bundles, one with ``fast_score`` on and one
with it off, get the same requests: good ones, and every kind of bad one. Each pair of
answers must agree in status, content type and body (but for the fields that differ
between any two decisions: id, time, server time), and the fast app must have answered the
requests it is meant to answer itself, handing the rest to FastAPI.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.credit_code import make_credit_code
from serving.api.fast_score import FastScore
from serving.main import JifenAPI, create_app
from serving.schemas import Role
from tests.serving.conftest import (
    FeatureRepo,
    TrainedBundles,
    application_body,
    scoring_settings,
)

VOLATILE = ("decision_id", "scored_at", "server_ms")


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory,
    trained_bundles: TrainedBundles,
    feature_repo: FeatureRepo,
) -> Iterator[tuple[TestClient, TestClient]]:
    """(fast, framework): the same world served with and without the fast path."""
    apps = []
    for fast in (True, False):
        root = tmp_path_factory.mktemp(f"fast-{fast}")
        settings = scoring_settings(root, trained_bundles.root, feature_repo.path, fast_score=fast)
        apps.append(TestClient(create_app(settings)))
    with apps[0] as fast_client, apps[1] as framework:
        yield fast_client, framework


def _fast(client: TestClient) -> FastScore:
    app = client.app
    assert isinstance(app, JifenAPI) and app.fast_score is not None
    return app.fast_score


def _key(client: TestClient, role: Role) -> str:
    full, _ = client.app.state.services.keys.create(role, f"test {role.value}")  # type: ignore[attr-defined]
    return str(full)


def _comparable(response: Any) -> tuple[int, str, Any]:
    content_type = response.headers.get("content-type", "")
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in VOLATILE}
        if isinstance(body.get("detail"), str):  # each app made its own key
            body["detail"] = re.sub(r"API key [0-9a-f]{12}", "API key <id>", body["detail"])
    return response.status_code, content_type, body


def _both(
    pair: tuple[TestClient, TestClient], role: Role | None, **request: Any
) -> tuple[tuple[int, str, Any], tuple[int, str, Any]]:
    answers = []
    given = request.pop("headers", {})
    for client in pair:
        headers = dict(given)
        if role is not None:
            headers["Authorization"] = f"Bearer {_key(client, role)}"
        answers.append(_comparable(client.post("/v1/score", headers=headers, **request)))
    return answers[0], answers[1]


def test_fast_path_is_on_by_default_and_off_when_configured(tmp_path: Path) -> None:
    """``fast_score`` defaults to true; false leaves every request to FastAPI."""
    settings = scoring_settings(tmp_path, tmp_path, tmp_path)
    assert settings.fast_score is True
    assert scoring_settings(tmp_path, tmp_path, tmp_path, fast_score=False).fast_score is False


def test_fast_path_scores_like_the_route_and_answers_itself(
    pair: tuple[TestClient, TestClient], feature_repo: FeatureRepo
) -> None:
    """A good request: same decision, PD, reasons and explanation, answered by the fast path."""
    before = _fast(pair[0]).answered
    for code in feature_repo.credit_codes[:5]:
        fast, framework = _both(pair, Role.SCORER, json=application_body(code))
        assert fast[0] == 200, fast
        assert fast == framework
    assert _fast(pair[0]).answered == before + 5


UNKNOWN = make_credit_code("110108", "YY9YY9YY")
BAD_CODE = "91110108MA01ABCD1X"


@pytest.mark.parametrize(
    ("role", "request_args", "status", "handed_on"),
    [
        # errors the fast path renders with the app's handlers
        (None, {"json": "firm"}, 401, False),
        (Role.AUDITOR, {"json": "firm"}, 403, False),
        (None, {"json": "firm", "headers": {"Authorization": "Bearer jf_nope"}}, 401, False),
        (None, {"json": "firm", "headers": {"Authorization": "Basic abc"}}, 401, False),
        (Role.SCORER, {"json": "unknown"}, 404, False),
        # requests it hands to FastAPI, body replayed
        (Role.SCORER, {"json": "bad-code"}, 422, True),
        (Role.SCORER, {"json": "negative"}, 422, True),
        (
            Role.SCORER,
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            422,
            True,
        ),
        (
            Role.SCORER,
            {"content": b'{"enterprise": NaN}', "headers": {"Content-Type": "application/json"}},
            422,
            True,
        ),
        # a body that is not JSON: refused by the shared body checks on both paths
        (
            Role.SCORER,
            {"content": b"firm=1", "headers": {"Content-Type": "text/plain"}},
            415,
            False,
        ),
        (Role.SCORER, {"json": []}, 422, True),
    ],
)
def test_fast_path_errors_read_exactly_as_the_route_s(
    pair: tuple[TestClient, TestClient],
    feature_repo: FeatureRepo,
    role: Role | None,
    request_args: dict[str, Any],
    status: int,
    handed_on: bool,
) -> None:
    """Every error has the status, headers and body the FastAPI route gives it."""
    bodies = {
        "firm": application_body(feature_repo.credit_codes[0]),
        "unknown": application_body(UNKNOWN),
        "bad-code": application_body(BAD_CODE),
        "negative": application_body(
            feature_repo.credit_codes[0], **{"application.amount_wan": -5}
        ),
    }
    args = dict(request_args)
    if isinstance(args.get("json"), str):
        args["json"] = bodies[args["json"]]
    fast_score = _fast(pair[0])
    before = (fast_score.answered, fast_score.handed_on)
    fast, framework = _both(pair, role, **args)
    assert fast[0] == status, fast
    assert fast == framework
    after = (fast_score.answered, fast_score.handed_on)
    assert after == ((before[0], before[1] + 1) if handed_on else (before[0] + 1, before[1]))


def test_fast_path_sends_www_authenticate_on_401(pair: tuple[TestClient, TestClient]) -> None:
    """The 401 carries the same WWW-Authenticate challenge as the route's."""
    answers = [c.post("/v1/score", json={}).headers.get("www-authenticate") for c in pair]
    assert answers[0] == answers[1] == 'Bearer realm="jifen"'


def test_fast_path_requests_are_counted_in_the_metrics(
    pair: tuple[TestClient, TestClient], feature_repo: FeatureRepo
) -> None:
    """Answers of the fast path appear under the route's labels, with their latency."""
    client = pair[0]

    def value(prefix: str) -> float:
        lines = client.get("/metrics").text.splitlines()
        return sum(float(x.split()[-1]) for x in lines if x.startswith(prefix))

    ok = 'jifen_http_requests_total{method="POST",route="/v1/score",status="200"}'
    denied = 'jifen_http_requests_total{method="POST",route="/v1/score",status="401"}'
    timed = 'jifen_http_request_duration_seconds_count{method="POST",route="/v1/score"}'
    before = value(ok), value(denied), value(timed)
    headers = {"Authorization": f"Bearer {_key(client, Role.SCORER)}"}
    assert (
        client.post(
            "/v1/score", json=application_body(feature_repo.credit_codes[1]), headers=headers
        ).status_code
        == 200
    )
    assert client.post("/v1/score", json={}).status_code == 401
    assert (value(ok), value(denied), value(timed)) == (before[0] + 1, before[1] + 1, before[2] + 2)


def test_fast_path_scores_a_body_up_to_the_limit_itself_and_refuses_one_byte_more(
    pair: tuple[TestClient, TestClient], feature_repo: FeatureRepo
) -> None:
    """A body padded with whitespace to max_body_bytes is scored; one byte more is a 413."""
    body = json.dumps(application_body(feature_repo.credit_codes[2])).encode()
    limit = pair[0].app.state.services.settings.max_body_bytes  # type: ignore[attr-defined]
    fast_score = _fast(pair[0])
    headers = {"Content-Type": "application/json"}
    for size, status in ((limit, 200), (limit + 1, 413)):
        before = (fast_score.answered, fast_score.handed_on)
        padded = body + b" " * (size - len(body))
        fast, framework = _both(pair, Role.SCORER, content=padded, headers=headers)
        assert fast[0] == status, fast
        assert fast == framework
        assert (fast_score.answered, fast_score.handed_on) == (before[0] + 1, before[1])
