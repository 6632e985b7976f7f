"""``/ready`` says ready only when a decision can be made and recorded.

Two states used to read "ready" while every score failed: an online store that answers but
holds no firm (every score a 404), and a full disk under the SQLite audit log (every
decision withheld, a 503). The full disk is real: a small tmpfs mounted for the test and
filled to the last byte.
"""

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from fastapi.testclient import TestClient

from features.store.config import load_store_settings, write_feature_store_yaml
from serving.core.config import load_settings
from serving.main import create_app
from serving.schemas import Role
from tests.reliability.conftest import AppFactory, key_headers
from tests.serving.conftest import (
    FeatureRepo,
    TrainedBundles,
    application_body,
    scoring_settings,
)

pytestmark = pytest.mark.reliability

DISK_MB: Final = 8
"""Size of the tmpfs that holds the audit log."""


def _empty_copy(repo: FeatureRepo, folder: Path) -> Path:
    """A copy of the Feast repository whose online tables hold no row."""
    shutil.copytree(repo.path, folder)
    write_feature_store_yaml(load_store_settings(), folder)  # point at the copy's files
    conn = sqlite3.connect(folder / "online_store.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        conn.execute(f'DELETE FROM "{table}"')
    conn.commit()
    conn.close()
    assert tables, "the online store copy has no table to empty"
    return folder


def test_ready_is_503_naming_the_store_when_the_online_store_holds_no_firm(
    trained_bundles: TrainedBundles, feature_repo: FeatureRepo, tmp_path: Path
) -> None:
    """An empty online store answers every read (so it "works") but every score is a 404."""
    repo = _empty_copy(feature_repo, tmp_path / "empty")
    with TestClient(create_app(scoring_settings(tmp_path, trained_bundles.root, repo))) as client:
        response = client.get("/ready")
        score = client.post(
            "/v1/score",
            json=application_body(feature_repo.credit_codes[0]),
            headers=key_headers(client, Role.SCORER),
        )
    assert score.status_code == 404  # what the readiness protects callers from
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert "holds no firm" in body["checks"]["feature_store"]
    assert "jifen features materialize" in body["checks"]["feature_store"]
    assert body["checks"]["audit_store"] == "ok" and body["checks"]["model"] == "ok"


def test_ready_is_200_when_the_online_store_holds_firms(
    make_client: AppFactory, feature_repo: FeatureRepo
) -> None:
    """The same check passes on the materialized store: it does not refuse a working one."""
    response = make_client().get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "ready": True,
        "checks": {"audit_store": "ok", "model": "ok", "feature_store": "ok"},
    }


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_MB`` MB mounted for the test (needs root, as CI and make test run)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a {DISK_MB} MB tmpfs (run as root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left (smaller and smaller writes); return it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    size = 64 * 1024
    try:
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:  # no room for this much: try half
                size //= 2
    finally:
        os.close(fd)
    assert shutil.disk_usage(disk).free == 0
    return filler


def _score(client: TestClient, headers: dict[str, str], code: str) -> tuple[int, dict[str, object]]:
    response = client.post("/v1/score", json=application_body(code), headers=headers)
    return response.status_code, response.json()


def test_ready_is_503_naming_the_disk_when_the_audit_log_disk_is_full_and_200_again_once_freed(
    trained_bundles: TrainedBundles, feature_repo: FeatureRepo, small_disk: Path, tmp_path: Path
) -> None:
    """Fill the disk under the audit log: not ready (the reason names the disk), no 200 is
    acknowledged without its record; free it: ready again and decisions are recorded."""
    settings = load_settings(
        data_dir=tmp_path,
        audit_dsn=f"sqlite:///{small_disk / 'audit.sqlite3'}",
        audit_min_free_mb=1,
        bundle_dir=trained_bundles.root,
        feature_repo_dir=feature_repo.path,
    )
    with TestClient(create_app(settings)) as client:
        _fill_and_free(client, feature_repo, small_disk)


def _fill_and_free(client: TestClient, feature_repo: FeatureRepo, small_disk: Path) -> None:
    headers = key_headers(client, Role.SCORER)
    codes = feature_repo.credit_codes
    assert client.get("/ready").status_code == 200
    assert _score(client, headers, codes[0])[0] == 200

    filler = _fill(small_disk)
    ready_full = client.get("/ready")
    outcomes = [_score(client, headers, codes[i % len(codes)]) for i in range(20)]

    filler.unlink()
    ready_freed = client.get("/ready")
    after = _score(client, headers, codes[1])

    assert ready_full.status_code == 503
    reason = ready_full.json()["checks"]["audit_store"]
    assert str(small_disk) in reason and "MB free" in reason, reason
    assert {status for status, _ in outcomes} <= {200, 503}
    assert 503 in {status for status, _ in outcomes}, "a full disk never failed a decision"
    store = client.app.state.services.store  # type: ignore[attr-defined]
    for status, body in outcomes:
        if status == 200:  # acknowledged: then it is on the full disk's log
            assert store.get(str(body["decision_id"])).decision_id == body["decision_id"]
        else:
            assert "could not be recorded" in str(body["detail"])
    assert ready_freed.status_code == 200, ready_freed.text
    assert after[0] == 200
    assert store.get(str(after[1]["decision_id"])).decision_id == after[1]["decision_id"]
