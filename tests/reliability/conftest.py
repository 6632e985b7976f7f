"""Fixtures of the reliability tests: the serving world, in process and as ``jifen serve``.

The trained bundles and the materialized Feast store are the serving tests' own fixtures
(``tests.serving.conftest``), registered here again so this package can use them. A
served world is a fresh audit log with one key per role; ``start(workers)`` runs
``jifen serve`` on it (``tests.serving.test_crash.Server``) and every server started is
stopped at the end of the test.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.core.config import SqliteTarget
from serving.core.db import open_store
from serving.core.security import KeyRing
from serving.main import create_app
from serving.schemas import Role
from tests.serving.conftest import (  # noqa: F401  (fixtures, registered for this package)
    FeatureRepo,
    TrainedBundles,
    feature_repo,
    postgres_dsn,
    postgres_server,
    scoring_settings,
    trained_bundles,
)
from tests.serving.test_crash import Server


def _keys(audit: Path) -> dict[Role, str]:
    """One fresh key per role in the audit database at ``audit``."""
    store = open_store(SqliteTarget(audit))
    try:
        return {role: KeyRing(store).create(role, f"reliability {role.value}")[0] for role in Role}
    finally:
        store.close()


@dataclass
class ServedWorld:
    """A ``jifen serve`` environment on a fresh audit log, and the servers started on it."""

    folder: Path
    env: dict[str, str]
    keys: dict[Role, str]
    servers: list[Server] = field(default_factory=list)

    def start(self, workers: int = 1, **env: str) -> Server:
        """Start ``jifen serve --workers N`` (``env`` adds ``JIFEN_*`` values); wait until ready."""
        server = Server({**self.env, **env}, self.folder / "server.log", workers=workers)
        self.servers.append(server)
        server.wait_ready()
        return server

    def headers(self, role: Role) -> dict[str, str]:
        """The authorization header of the world's key for ``role``."""
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture
def served_world(
    tmp_path: Path,
    trained_bundles: TrainedBundles,  # noqa: F811
    feature_repo: FeatureRepo,  # noqa: F811
) -> Iterator[ServedWorld]:
    """A world to run ``jifen serve`` on; its servers are killed at the end."""
    env = {
        **os.environ,
        "JIFEN_DATA_DIR": str(tmp_path),
        "JIFEN_AUDIT_DSN": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        "JIFEN_BUNDLE_DIR": str(trained_bundles.root),
        "JIFEN_FEATURE_REPO_DIR": str(feature_repo.path),
        "JIFEN_LOG_LEVEL": "WARNING",
        "FEAST_USAGE": "False",
    }
    world = ServedWorld(tmp_path, env, _keys(tmp_path / "audit.sqlite3"))
    yield world
    for server in world.servers:
        server.kill()


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(
    tmp_path: Path,
    trained_bundles: TrainedBundles,  # noqa: F811
    feature_repo: FeatureRepo,  # noqa: F811
) -> Iterator[AppFactory]:
    """Build an in-process app on the fixture world (settings overrides as keywords), started."""
    clients: list[TestClient] = []

    def build(**overrides: object) -> TestClient:
        folder = tmp_path / f"app{len(clients)}"
        folder.mkdir()
        settings = scoring_settings(folder, trained_bundles.root, feature_repo.path, **overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def both_paths(
    tmp_path_factory: pytest.TempPathFactory,
    trained_bundles: TrainedBundles,  # noqa: F811
    feature_repo: FeatureRepo,  # noqa: F811
) -> Iterator[tuple[TestClient, TestClient]]:
    """(fast, framework): one world served with the fast path of /v1/score on, and off."""
    clients = []
    for fast in (True, False):
        folder = tmp_path_factory.mktemp(f"fast-{fast}")
        repo = feature_repo.path
        settings = scoring_settings(folder, trained_bundles.root, repo, fast_score=fast)
        clients.append(TestClient(create_app(settings)))
    with clients[0] as fast_client, clients[1] as framework:
        yield fast_client, framework


def key_headers(client: TestClient, role: Role) -> dict[str, str]:
    """A new key of ``role`` on an in-process app, as an authorization header."""
    full, _ = client.app.state.services.keys.create(role, f"reliability {role.value}")  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {full}"}


def ask_both(
    pair: tuple[TestClient, TestClient], path: str, role: Role | None, **request: Any
) -> list[tuple[int, Any]]:
    """POST the same request to both apps (with a key of ``role``); their (status, body)."""
    answers = []
    given = request.pop("headers", {})
    for client in pair:
        headers = {**given, **(key_headers(client, role) if role else {})}
        response = client.post(path, headers=headers, **request)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        answers.append((response.status_code, body))
    return answers
