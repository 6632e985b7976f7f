"""Durability under a crash: kill -9 the server mid-load; every answered decision is on disk.

``jifen serve`` runs as a subprocess on a free loopback port, threads score firms as fast
as they can, and the server is killed with SIGKILL while requests are in flight. After a
restart on the same SQLite audit log, every decision that got a 200 must have its record,
and ``jifen audit verify`` must find the chain intact.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import psutil
import pytest

from serving.core.config import SqliteTarget
from serving.core.db import open_store
from serving.core.security import KeyRing
from serving.schemas import Role
from tests.serving.conftest import FeatureRepo, TrainedBundles, application_body

pytestmark = pytest.mark.slow

JIFEN: Final = Path(sys.executable).with_name("jifen")
STARTUP_S: Final = 120.0
THREADS: Final = 4
KILL_AFTER: Final = 60
"""Answered decisions before the kill."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _verify(env: dict[str, str]) -> str:
    """Run ``jifen audit verify`` on the server's log; fail unless it exits 0; return its output."""
    verify = subprocess.run(
        [str(JIFEN), "audit", "verify", "--dsn", env["JIFEN_AUDIT_DSN"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = verify.stdout + verify.stderr
    assert verify.returncode == 0, output
    return output


class Server:
    """A ``jifen serve`` subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [
                str(JIFEN),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"jifen serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"jifen serve was not ready within {STARTUP_S:.0f} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        self.process.wait(timeout=30)
        self._log.close()


@pytest.fixture
def served(
    tmp_path: Path, trained_bundles: TrainedBundles, feature_repo: FeatureRepo
) -> Iterator[tuple[dict[str, str], dict[Role, str], list[Server]]]:
    """Environment and keys of a server on a fresh audit log; servers are killed at the end."""
    dsn = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    env = {
        **os.environ,
        "JIFEN_DATA_DIR": str(tmp_path),
        "JIFEN_AUDIT_DSN": dsn,
        "JIFEN_BUNDLE_DIR": str(trained_bundles.root),
        "JIFEN_FEATURE_REPO_DIR": str(feature_repo.path),
        "JIFEN_LOG_LEVEL": "WARNING",
        "FEAST_USAGE": "False",
    }
    store = open_store(SqliteTarget(tmp_path / "audit.sqlite3"))
    try:
        keys = {role: KeyRing(store).create(role, f"crash {role.value}")[0] for role in Role}
    finally:
        store.close()
    servers: list[Server] = []
    yield env, keys, servers
    for server in servers:
        server.kill()


def _started(
    servers: list[Server], env: dict[str, str], tmp_path: Path, workers: int = 1
) -> Server:
    """A ready server on the fixture's audit log (killed at the end of the test)."""
    server = Server(env, tmp_path / "server.log", workers=workers)
    servers.append(server)
    server.wait_ready()
    return server


def test_every_answered_decision_survives_kill_9_and_the_chain_verifies(
    served: tuple[dict[str, str], dict[Role, str], list[Server]],
    feature_repo: FeatureRepo,
    tmp_path: Path,
) -> None:
    """SIGKILL under load: each 200's decision_id has its record after restart; verify passes."""
    env, keys, servers = served
    server = _started(servers, env, tmp_path)
    answered: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def fire(offset: int) -> None:
        headers = {"Authorization": f"Bearer {keys[Role.SCORER]}"}
        codes = feature_repo.credit_codes
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            i = offset
            while not stop.is_set():
                try:
                    response = client.post(
                        "/v1/score", json=application_body(codes[i % len(codes)])
                    )
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(type(exc).__name__)
                    return
                with lock:
                    if response.status_code == 200:
                        answered.append(response.json()["decision_id"])
                    else:
                        failures.append(str(response.status_code))
                i += THREADS

    threads = [threading.Thread(target=fire, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(answered) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL while the threads are still sending
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answered) >= KILL_AFTER
    assert all(f in {"ConnectError", "ReadError", "RemoteProtocolError"} for f in failures), (
        failures
    )

    restarted = _started(servers, env, tmp_path)
    auditor = {"Authorization": f"Bearer {keys[Role.AUDITOR]}"}
    with httpx.Client(base_url=restarted.url, headers=auditor, timeout=10) as client:
        missing = [d for d in answered if client.get(f"/v1/decisions/{d}").status_code != 200]
    assert missing == []
    assert "audit chain intact" in _verify(env)


def test_two_workers_write_a_lane_each_and_answer_metrics_with_service_totals(
    served: tuple[dict[str, str], dict[Role, str], list[Server]],
    feature_repo: FeatureRepo,
    tmp_path: Path,
) -> None:
    """Each worker appends to its own lane; every decision is found whichever worker is
    asked; the lanes verify intact; any worker's /metrics counts all.

    Every request opens its own connection, so the workers share them; the counts read from
    /metrics must be the service's totals whichever worker answers the scrape.
    """
    env, keys, servers = served
    server = _started(servers, env, tmp_path, workers=2)
    headers = {"Authorization": f"Bearer {keys[Role.SCORER]}"}
    codes = feature_repo.credit_codes
    decisions = []
    for i in range(12):
        response = httpx.post(
            f"{server.url}/v1/score", json=application_body(codes[i % len(codes)]), headers=headers
        )
        assert response.status_code == 200, response.text
        decisions.append(response.json()["decision_id"])
    for _ in range(20):
        assert httpx.get(f"{server.url}/health").status_code == 200
    health = 'jifen_http_requests_total{method="GET",route="/health",status="200"}'
    scored = 'jifen_http_requests_total{method="POST",route="/v1/score",status="200"}'
    for _ in range(4):
        text = httpx.get(f"{server.url}/metrics").text
        counts = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(("jifen_http_requests_total{", "jifen_audit_"))
        }
        assert (counts.get(health), counts.get(scored)) == (20.0, 12.0), text
        # The audit path's own figures: one wait per request, every record in some group.
        assert counts.get("jifen_audit_wait_seconds_count") == 12.0, text
        assert counts.get("jifen_audit_group_records_sum") == 12.0, text
        assert counts.get("jifen_audit_commit_seconds_count") == counts.get(
            "jifen_audit_group_records_count"
        ), text
    auditor = {"Authorization": f"Bearer {keys[Role.AUDITOR]}"}
    lanes = set()
    for decision_id in decisions:
        for _ in range(2):  # new connections: both workers get asked
            found = httpx.get(f"{server.url}/v1/decisions/{decision_id}", headers=auditor)
            assert found.status_code == 200, found.text
            lanes.add(found.json()["lane"])
    assert lanes <= {0, 1}
    server.kill(signal.SIGTERM)
    assert "audit chain intact: 12 records in 2 lane(s)" in _verify(env)


def _established(pid: int, port: int) -> int:
    """Connections a process holds to the server's port, established."""
    return sum(
        1
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def _workers(server: Server) -> list[psutil.Process]:
    children = psutil.Process(server.process.pid).children()
    return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]


def test_keep_alive_connections_are_dealt_evenly_to_the_workers(
    served: tuple[dict[str, str], dict[Role, str], list[Server]],
    feature_repo: FeatureRepo,
    tmp_path: Path,
) -> None:
    """Four keep-alive clients on two workers: two connections each, and each one scores.

    The kernel's choice (one SO_REUSEPORT socket per worker) put all four on one worker
    twice in a row in the benchmark; dealing in turn cannot.
    """
    env, keys, servers = served
    server = _started(servers, env, tmp_path, workers=2)
    headers = {"Authorization": f"Bearer {keys[Role.SCORER]}"}
    codes = feature_repo.credit_codes
    clients = [httpx.Client(base_url=server.url, headers=headers, timeout=10) for _ in range(4)]
    try:
        for i, client in enumerate(clients):
            response = client.post("/v1/score", json=application_body(codes[i % len(codes)]))
            assert response.status_code == 200, response.text
        workers = _workers(server)
        assert len(workers) == 2
        assert sorted(_established(w.pid, server.port) for w in workers) == [2, 2]
        for client in clients:  # still served on the connection it was dealt
            assert client.get("/health").status_code == 200
    finally:
        for client in clients:
            client.close()
    server.kill(signal.SIGTERM)
    assert "audit chain intact: 4 records" in _verify(env)


def test_workers_stop_by_themselves_when_the_server_process_is_killed(
    served: tuple[dict[str, str], dict[Role, str], list[Server]],
    feature_repo: FeatureRepo,
    tmp_path: Path,
) -> None:
    """kill -9 of the process that deals connections: its workers exit, the chain verifies."""
    env, keys, servers = served
    server = _started(servers, env, tmp_path, workers=2)
    headers = {"Authorization": f"Bearer {keys[Role.SCORER]}"}
    response = httpx.post(
        f"{server.url}/v1/score",
        json=application_body(feature_repo.credit_codes[0]),
        headers=headers,
    )
    assert response.status_code == 200, response.text
    workers = _workers(server)
    assert len(workers) == 2
    server.kill()  # SIGKILL: the server process cannot stop them
    _, alive = psutil.wait_procs(workers, timeout=60)
    assert alive == [], f"workers still running after their server was killed: {alive}"
    with pytest.raises(httpx.ConnectError):  # nobody listens on the port any more
        httpx.get(f"{server.url}/health", timeout=5)
    assert "audit chain intact: 1 records" in _verify(env)


def test_a_port_in_use_is_named_and_the_server_exits_1(tmp_path: Path) -> None:
    """``--workers 2`` on a port another process listens on: one clear line, exit code 1."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [str(JIFEN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env={**os.environ, "JIFEN_DATA_DIR": str(tmp_path), "JIFEN_LOG_LEVEL": "INFO"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    said = " ".join((done.stdout + done.stderr).split())  # the log wraps long lines
    assert done.returncode == 1, said
    assert f"cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use" in said
