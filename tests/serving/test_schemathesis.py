"""Property-based tests of the OpenAPI surface: no input the schema allows gives a 500.

Schemathesis generates requests from the app's own OpenAPI schema and sends them in
process (its ASGI transport starts the app's lifespan once, with a real bundle, Feast
store and audit log). Each operation gets a bounded number of examples, with the key of
the role it needs, so generation reaches validation and scoring rather than stopping at
401. Checks: no server error; status codes, content types and bodies as documented.
"""

from pathlib import Path
from typing import Any, Final

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from features.credit_code import make_credit_code
from serving.core.db import open_store
from serving.core.security import KeyRing
from serving.main import create_app
from serving.schemas import CREDIT_CODE_FORMAT, Role
from tests.serving.conftest import FeatureRepo, TrainedBundles, scoring_settings

MAX_EXAMPLES: Final = 25
KEYS: dict[Role, str] = {}
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory,
    trained_bundles: TrainedBundles,
    feature_repo: FeatureRepo,
) -> Any:
    """The app's schema, loaded from the app itself; one key per role stored beforehand."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    settings = scoring_settings(folder, trained_bundles.root, feature_repo.path, batch_max_size=5)
    store = open_store(settings.audit_target)
    try:
        for role in Role:
            KEYS[role], _ = KeyRing(store).create(role, f"schemathesis {role.value}")
    finally:
        store.close()
    # Mostly firms the store knows, so generation reaches scoring, plus unknown and bad codes.
    codes = st.one_of(
        st.sampled_from(feature_repo.credit_codes),
        st.just(make_credit_code("110108", "YY9YY9YY")),
        st.text(max_size=20),
    )
    schemathesis.openapi.format(CREDIT_CODE_FORMAT, codes)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


def _role_for(path: str) -> Role:
    if path.startswith("/v1/score"):
        return Role.SCORER
    if path.startswith("/v1/admin"):
        return Role.ADMIN
    return Role.AUDITOR


def _exercise(operation: Any, headers: dict[str, str]) -> None:
    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_api_answers_every_generated_request_as_documented_and_never_with_a_500(
    api_schema: Any,
) -> None:
    """Every operation, with the right role's key: no 5xx, and the answer matches the schema.

    Operations are driven one by one with Hypothesis (``schema.parametrize`` does not run
    under pytest 9); a failure names the operation and the failing case.
    """
    tested = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        _exercise(operation, {"Authorization": f"Bearer {KEYS[_role_for(operation.path)]}"})
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert {
        "POST /v1/score",
        "POST /v1/score/batch",
        "POST /v1/decisions/{decision_id}/replay",
        "GET /v1/model",
        "POST /v1/admin/reload",
    } <= set(tested)
