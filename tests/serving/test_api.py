"""The HTTP surface: authentication and roles, decisions, health, readiness, metrics, 422s.

Each test checks the status code and the message a client reads.
"""

import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.credit_code import make_credit_code
from serving.api.errors import http_error
from serving.core.config import load_settings
from serving.core.services import Services
from serving.errors import AuditWriteError, ModelNotReadyError
from serving.main import create_app
from serving.schemas import Role, today_in_china
from tests.serving.conftest import make_draft

CREDIT_CODE = make_credit_code("440300", "MA5F8K2L")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(data_dir=tmp_path, bundle_dir=tmp_path / "models", batch_max_size=3)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _services(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def _auth(client: TestClient, role: Role) -> dict[str, str]:
    full, _ = _services(client).keys.create(role, f"test {role.value}")
    return {"Authorization": f"Bearer {full}"}


def _application(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "enterprise": {"credit_code": CREDIT_CODE},
        "application": {
            "product": "points_loan",
            "purpose": "rd_investment",
            "amount_wan": 500,
            "term_months": 12,
            "application_date": today_in_china().isoformat(),
        },
        "inline_features": {"rd_expense_growth": 0.12},
    }
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        target = body
        for part in parents:
            target = target[part]
        target[leaf] = value
    return body


def _post_raw(client: TestClient, url: str, body: object, headers: dict[str, str]) -> Any:
    # json.dumps writes NaN and Infinity, which httpx's json= refuses to send.
    return client.post(
        url, content=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )


# --- authentication and roles -------------------------------------------------------------


def test_read_decision_returns_401_when_key_is_missing(client: TestClient) -> None:
    """No Authorization header: 401, a Bearer challenge, and how to send a key."""
    response = client.get("/v1/decisions/dec_x")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="jifen"'
    assert response.json()["detail"] == (
        "missing API key: send the header 'Authorization: Bearer jf_<key id>_<secret>'"
    )


def test_read_decision_returns_401_when_key_is_wrong(client: TestClient) -> None:
    """A well-formed key that is not ours: 401 'invalid API key'."""
    headers = {"Authorization": "Bearer jf_0123456789ab_" + "x" * 43}
    response = client.get("/v1/decisions/dec_x", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="jifen"'
    assert response.json()["detail"] == "invalid API key"


def test_read_decision_returns_401_when_key_is_revoked(client: TestClient) -> None:
    """A revoked key is refused with a message saying so."""
    full, key = _services(client).keys.create(Role.AUDITOR, "old")
    _services(client).keys.revoke(key.key_id)
    response = client.get("/v1/decisions/dec_x", headers={"Authorization": f"Bearer {full}"})
    assert response.status_code == 401
    assert response.json()["detail"] == f"API key {key.key_id} was revoked"


def test_read_decision_returns_403_when_role_is_scorer(client: TestClient) -> None:
    """A scorer key cannot read decisions; the message names the role needed."""
    headers = _auth(client, Role.SCORER)
    key_id = headers["Authorization"].split("_")[1]
    response = client.get("/v1/decisions/dec_x", headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"API key {key_id} has role 'scorer'; reading decisions requires role auditor"
    )


def test_score_returns_403_when_role_is_auditor(client: TestClient) -> None:
    """Roles do not nest: an auditor cannot score."""
    response = client.post("/v1/score", json=_application(), headers=_auth(client, Role.AUDITOR))
    assert response.status_code == 403
    assert response.json()["detail"].endswith("scoring requires role scorer")


def test_read_decision_returns_200_and_the_sealed_record_when_role_is_auditor(
    client: TestClient,
) -> None:
    """An auditor reads the whole sealed record, with its hash checked."""
    record = _services(client).store.append(make_draft(3))
    response = client.get(
        f"/v1/decisions/{record.decision_id}", headers=_auth(client, Role.AUDITOR)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["decision_id"] == record.decision_id
    assert body["sequence"] == 1 and body["hash"] == record.hash and body["hash_valid"] is True
    assert body["outputs"]["grade"] == "B"
    assert body["recorded_at"].endswith("Z")


def test_read_decision_returns_404_that_says_so_when_id_is_unknown(client: TestClient) -> None:
    """An unknown decision id: 404 naming the id."""
    response = client.get("/v1/decisions/dec_unknown", headers=_auth(client, Role.AUDITOR))
    assert response.status_code == 404
    assert response.json()["detail"] == "decision 'dec_unknown' is not in the audit log"


def test_read_decision_returns_422_when_id_has_forbidden_characters(client: TestClient) -> None:
    """Decision ids are [A-Za-z0-9_-]{1,64}; anything else is a field-level 422."""
    response = client.get("/v1/decisions/dec%20x", headers=_auth(client, Role.AUDITOR))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "decision_id"]


# --- service routes -----------------------------------------------------------------------


def test_health_returns_200_while_the_process_runs(client: TestClient) -> None:
    """Liveness needs no key and no model."""
    response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_ready_returns_503_with_reasons_when_no_model_is_loaded(client: TestClient) -> None:
    """Without a bundle or a feature store, readiness names both and says the store is fine."""
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["audit_store"] == "ok"
    assert body["checks"]["model"].startswith("no model bundle under ")
    assert "no feature_store.yaml" in body["checks"]["feature_store"]


def _metric(text: str, series: str) -> float:
    """Value of one Prometheus series in an exposition text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_app_sets_the_gil_switch_interval_while_it_runs_and_restores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JIFEN_GIL_SWITCH_MS holds from start-up to shut-down; the previous value comes back."""
    monkeypatch.setenv("JIFEN_GIL_SWITCH_MS", "2.5")
    before = sys.getswitchinterval()
    settings = load_settings(data_dir=tmp_path, bundle_dir=tmp_path / "models")
    with TestClient(create_app(settings)) as test_client:
        assert test_client.get("/health").status_code == 200
        assert sys.getswitchinterval() == pytest.approx(0.0025)
    assert sys.getswitchinterval() == before


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    """Requests are counted once each, under the route template; decisions counter exists.

    Counts are compared before and after the test's requests. Other apps built in the same
    process (and Feast, which sets ``PROMETHEUS_MULTIPROC_DIR`` when imported) must not
    add to this app's counts.
    """
    route = "/v1/decisions/{decision_id}"
    decisions = f'jifen_http_requests_total{{method="GET",route="{route}",status="401"}}'
    health = 'jifen_http_request_duration_seconds_count{method="GET",route="/health"}'
    before = client.get("/metrics").text
    client.get("/v1/decisions/dec_a")
    client.get("/v1/decisions/dec_b")
    client.get("/health")
    text = client.get("/metrics").text
    assert _metric(text, decisions) - _metric(before, decisions) == 2.0
    assert _metric(text, health) - _metric(before, health) == 1.0
    assert "/v1/decisions/dec_a" not in text
    assert "# TYPE jifen_decisions_total counter" in text


# --- scoring requests ---------------------------------------------------------------------


def test_score_returns_503_when_no_model_is_loaded(client: TestClient) -> None:
    """A valid request from a scorer gets 503 naming the missing model, not a decision."""
    response = client.post("/v1/score", json=_application(), headers=_auth(client, Role.SCORER))
    assert response.status_code == 503
    assert response.json()["detail"].startswith("no model loaded: no model bundle under ")


def test_score_returns_401_before_validating_when_key_is_missing(client: TestClient) -> None:
    """Anonymous callers learn nothing about validation."""
    response = client.post("/v1/score", json={"nonsense": True})
    assert response.status_code == 401


def test_score_returns_422_naming_credit_code_when_check_character_is_wrong(
    client: TestClient,
) -> None:
    """A bad check character is named, with the code masked and the expected character."""
    bad = CREDIT_CODE[:-1] + ("0" if CREDIT_CODE[-1] != "0" else "1")
    response = client.post(
        "/v1/score",
        json=_application(**{"enterprise.credit_code": bad}),
        headers=_auth(client, Role.SCORER),
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "enterprise", "credit_code"]
    assert f"expected {CREDIT_CODE[-1]!r} (GB 32100-2015)" in error["msg"]
    assert bad not in response.text  # neither echoed in the message nor as "input"


def test_score_returns_422_naming_the_feature_when_a_value_is_nan(client: TestClient) -> None:
    """NaN and infinity in inline_features are refused with the feature named (not a 500)."""
    body = _application(
        inline_features={"rd_expense_growth": float("nan"), "tax_paid_12m": float("inf")}
    )
    response = _post_raw(client, "/v1/score", body, _auth(client, Role.SCORER))
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert errors == {
        ("body", "inline_features", "rd_expense_growth"): "Input should be a finite number",
        ("body", "inline_features", "tax_paid_12m"): "Input should be a finite number",
    }


def test_score_returns_422_naming_application_date_when_it_is_in_the_future(
    client: TestClient,
) -> None:
    """An application dated after today (Asia/Shanghai) is refused, naming the field."""
    tomorrow = today_in_china() + timedelta(days=1)
    response = client.post(
        "/v1/score",
        json=_application(**{"application.application_date": tomorrow.isoformat()}),
        headers=_auth(client, Role.SCORER),
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "application", "application_date"]
    assert error["msg"].startswith(
        f"application_date must not be in the future; got {tomorrow.isoformat()}"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("application.product", "car_loan", "product must be one of points_loan, tech_credit_loan"),
        ("application.amount_wan", 0, "Input should be greater than 0"),
        ("application.amount_wan", 1e9, "Input should be less than or equal to 100000"),
        ("application.term_months", 7, "Input should be 3, 6, 12, 24 or 36"),
    ],
)
def test_score_returns_422_naming_the_field_when_application_breaks_a_rule(
    client: TestClient, field: str, value: object, message: str
) -> None:
    """Product, amount and term are checked against the applications contract."""
    response = client.post(
        "/v1/score", json=_application(**{field: value}), headers=_auth(client, Role.SCORER)
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", *field.split(".")]
    assert error["msg"].startswith(message)


def test_score_batch_returns_422_when_batch_exceeds_the_configured_size(
    client: TestClient,
) -> None:
    """batch_max_size (3 here) bounds a batch, with the field and the limit named."""
    body = {"items": [_application()] * 4}
    response = client.post("/v1/score/batch", json=body, headers=_auth(client, Role.SCORER))
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "items"],
            "msg": "items must hold at most 3 applications (batch_max_size); got 4",
            "type": "too_long",
        }
    ]


def test_http_error_maps_audit_write_failure_to_503_without_database_details() -> None:
    """A decision whose record did not commit is withheld with 503; the DSN stays in our logs."""
    exc = AuditWriteError("decision dec_1 was not recorded in PostgreSQL postgresql://u@db/j: x")
    http = http_error(exc)
    assert http.status_code == 503
    assert http.detail == (
        "the decision could not be recorded in the audit log and is withheld; retry later"
    )
    assert http_error(ModelNotReadyError("no model loaded: x")).detail == "no model loaded: x"
