"""Strict types: money, counts, dates and codes are taken only in their own JSON type.

``"amount_wan": true`` was scored as 1 万元 and approved, and ``"300"`` was read as 300: a
bank system that sends either has a bug the service must not hide. Each refusal is a 422
naming the field and what came, the same on the fast path of ``POST /v1/score`` as on the
FastAPI route, and in a batch item; nothing is scored or recorded.
"""

from typing import Any, Final

import pytest
from fastapi.testclient import TestClient

from features.credit_code import ALPHABET
from serving.schemas import Role
from tests.reliability.conftest import ask_both, key_headers
from tests.serving.conftest import FeatureRepo, application_body

pytestmark = pytest.mark.reliability

REFUSED: Final = [
    ("application.amount_wan", True, "amount_wan must be a JSON number; got true"),
    ("application.amount_wan", "300", "amount_wan must be a JSON number; got the string '300'"),
    ("application.amount_wan", None, "amount_wan must be a JSON number; got null"),
    ("application.term_months", "12", "term_months must be a JSON integer; got the string '12'"),
    ("application.term_months", 12.0, "term_months must be a JSON integer; got 12.0"),
    ("application.term_months", True, "term_months must be a JSON integer; got true"),
    (
        "application.application_date",
        1760918400,
        "application_date must be a date written YYYY-MM-DD; got 1760918400",
    ),
    (
        "application.application_date",
        "2025-10-20T00:00:00",
        "application_date must be a date written YYYY-MM-DD; got the string '2025-10-20T00:00:00'",
    ),
    (
        "inline_features",
        {"app_amount_wan": False},
        "inline_features['app_amount_wan'] must be a JSON number; got false",
    ),
    (
        "inline_features",
        {"app_amount_wan": "300"},
        "inline_features['app_amount_wan'] must be a JSON number; got the string '300'",
    ),
    ("enterprise.credit_code", "", "credit_code '' must have 18 characters; got 0"),
    (
        "enterprise.credit_code",
        911101080,
        "credit_code '911101*80' must be a string; got int",
    ),
]
"""(dotted field, value sent, message of the 422)."""


def _loc(field: str) -> list[str]:
    return ["body", *field.split(".")]


@pytest.mark.parametrize(("field", "value", "message"), REFUSED)
def test_a_value_of_the_wrong_json_type_is_refused_422_naming_field_and_value(
    both_paths: tuple[TestClient, TestClient],
    feature_repo: FeatureRepo,
    field: str,
    value: Any,
    message: str,
) -> None:
    """Same status, location and message on both paths; no decision is recorded."""
    body = application_body(feature_repo.credit_codes[0], **{field: value})
    recorded = [client.app.state.services.store.count() for client in both_paths]  # type: ignore[attr-defined]
    fast, framework = ask_both(both_paths, "/v1/score", Role.SCORER, json=body)
    assert fast == framework
    status, answer = fast
    assert status == 422
    assert answer["detail"] == [{"loc": _loc(field), "msg": message, "type": "value_error"}]
    assert [client.app.state.services.store.count() for client in both_paths] == recorded  # type: ignore[attr-defined]


def test_amount_true_in_a_batch_fails_that_item_alone(
    both_paths: tuple[TestClient, TestClient], feature_repo: FeatureRepo
) -> None:
    """A batch is validated whole: a boolean amount in item 1 is a 422 that names the item."""
    client = both_paths[1]
    good = application_body(feature_repo.credit_codes[0])
    bad = application_body(feature_repo.credit_codes[1], **{"application.amount_wan": True})
    response = client.post(
        "/v1/score/batch",
        json={"items": [good, bad]},
        headers=key_headers(client, Role.SCORER),
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "items", 1, "application", "amount_wan"]
    assert error["msg"] == "amount_wan must be a JSON number; got true"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("application.amount_wan", 300),
        ("application.amount_wan", 300.5),
        ("application.term_months", 24),
        ("inline_features", {"app_amount_wan": 120}),
    ],
)
def test_numbers_in_their_own_type_are_still_scored(
    both_paths: tuple[TestClient, TestClient], feature_repo: FeatureRepo, field: str, value: Any
) -> None:
    """Strictness refuses the wrong type only: an integer amount is a number, 24 a term."""
    body = application_body(feature_repo.credit_codes[2], **{field: value})
    answers = ask_both(both_paths, "/v1/score", Role.SCORER, json=body)
    assert [status for status, _ in answers] == [200, 200], answers


def test_the_published_schema_refuses_an_empty_credit_code(
    both_paths: tuple[TestClient, TestClient],
) -> None:
    """credit_code: 18 characters of the GB 32100 alphabet, stated in the OpenAPI schema."""
    schema = both_paths[0].get("/openapi.json").json()
    code = schema["components"]["schemas"]["Enterprise"]["properties"]["credit_code"]
    assert (code["type"], code["minLength"], code["maxLength"]) == ("string", 18, 18)
    assert code["pattern"] == f"^[{ALPHABET}]{{18}}$"
    application = schema["components"]["schemas"]["Application"]["properties"]
    assert application["amount_wan"]["type"] == "number"
    assert application["term_months"]["type"] == "integer"
