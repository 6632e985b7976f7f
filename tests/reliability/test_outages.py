"""Outages of PostgreSQL under load: every route says 503 and what is down, never 500.

``jifen serve`` keeps its audit log and API keys on the real PostgreSQL, reached through a
TCP proxy this test controls (``CuttableProxy``). Threads score firms while the proxy is
cut (every connection dropped, new ones refused) and restored. While it is cut, every
route behind a key answers 503 naming the store (also once the key cache has expired: a
key lookup that cannot reach the database once escaped as a 500), ``/ready`` says why;
every decision that got a 200 at any time is in the database; after the restore, the
routes answer again.
"""

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from serving.core.config import PostgresTarget
from serving.core.db import open_store
from serving.core.security import KeyRing
from serving.schemas import Role
from tests.reliability.conftest import ServedWorld
from tests.serving.conftest import FeatureRepo, application_body

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.slow]

THREADS: Final = 3
KEY_CACHE_S: Final = 1.0
DB_TIMEOUT_S: Final = 1.0
RECOVERY_S: Final = 45.0
"""Longest wait for scores to succeed again after the restore."""
STORE_DOWN: Final = "the audit store is unavailable; retry later"


class CuttableProxy:
    """A loopback TCP proxy to ``upstream`` that can be cut (all links dropped) and restored.

    It runs its own event loop in a thread. While cut, nothing listens on its port, so a
    new connection is refused at once, as when the server is down.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.links_made = 0

    def _run(self, coro: Coroutine[object, object, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def restore(self) -> None:
        """Listen (again) on the proxy's port."""
        self._run(self._listen())

    def cut(self) -> None:
        """Stop listening and drop every link, both ways, at once."""
        self._run(self._cut())

    def close(self) -> None:
        """Cut and stop the proxy's loop."""
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._link, "127.0.0.1", self.port, reuse_address=True
        )

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _link(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_out.transport.abort()
            return
        self.links_made += 1
        self._links |= {client_out, server_out}
        await asyncio.gather(self._pipe(client_in, server_out), self._pipe(server_in, client_out))
        self._links -= {client_out, server_out}

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()


def _body(response: httpx.Response) -> dict[str, object]:
    """The JSON body, or the text of one that is not JSON (a server error's)."""
    try:
        body = response.json()
    except ValueError:
        return {"text": response.text}
    return body if isinstance(body, dict) else {"json": body}


def _via(dsn: str, port: int) -> str:
    """``dsn`` with its port replaced by ``port``."""
    parts = urlsplit(dsn)
    netloc = (
        f"{parts.username}@{parts.hostname}:{port}"
        if parts.username
        else f"{parts.hostname}:{port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def proxy() -> Iterator[CuttableProxy]:
    """A proxy to the local PostgreSQL, listening."""
    opened = CuttableProxy(("127.0.0.1", 5432))
    opened.restore()
    yield opened
    opened.close()


class Load:
    """Threads that score firms until stopped, noting each answer and when it came."""

    def __init__(self, url: str, key: str, codes: list[str]) -> None:
        self._url, self._key, self._codes = url, key, codes
        self._stop = threading.Event()
        self.answers: list[tuple[float, int, dict[str, object]]] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(THREADS)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self._key}"}
        with httpx.Client(base_url=self._url, headers=headers, timeout=30) as client:
            i = n
            while not self._stop.is_set():
                body = application_body(self._codes[i % len(self._codes)])
                i += THREADS
                try:
                    response = client.post("/v1/score", json=body)
                except httpx.HTTPError as exc:  # noted, never hidden
                    with self._lock:
                        self.answers.append((time.monotonic(), -1, {"error": str(exc)}))
                    continue
                with self._lock:
                    self.answers.append((time.monotonic(), response.status_code, _body(response)))

    def between(self, start: float, end: float) -> list[tuple[int, dict[str, object]]]:
        """Status and body of the answers that came between two moments."""
        with self._lock:
            return [(s, b) for t, s, b in self.answers if start <= t <= end]


def _every_route(
    url: str, keys: dict[Role, str], code: str, decision_id: str
) -> dict[str, tuple[int, dict[str, object]]]:
    """Status and body of one request to each route behind a key (a role that may use it)."""

    def auth(role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[role]}"}

    calls = {
        "score": ("POST", "/v1/score", Role.SCORER, application_body(code)),
        "batch": ("POST", "/v1/score/batch", Role.SCORER, {"items": [application_body(code)]}),
        "decision": ("GET", f"/v1/decisions/{decision_id}", Role.AUDITOR, None),
        "replay": ("POST", f"/v1/decisions/{decision_id}/replay", Role.AUDITOR, None),
        "report": ("GET", f"/v1/decisions/{decision_id}/report", Role.AUDITOR, None),
        "model": ("GET", "/v1/model", Role.SCORER, None),
        "reload": ("POST", "/v1/admin/reload", Role.ADMIN, None),
    }
    answers: dict[str, tuple[int, dict[str, object]]] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for route, (method, path, role, body) in calls.items():
            try:
                response = client.request(method, path, json=body, headers=auth(role))
            except httpx.HTTPError as exc:  # a dropped connection is an answer too: a wrong one
                answers[route] = (-1, {"error": repr(exc)})
                continue
            answers[route] = (response.status_code, _body(response))
    return answers


def test_postgres_cut_mid_load_is_503_everywhere_nothing_unwritten_is_acknowledged_and_it_recovers(
    served_world: ServedWorld,
    feature_repo: FeatureRepo,
    postgres_dsn: str,
    proxy: CuttableProxy,
) -> None:
    """Cut PostgreSQL under load: 503 naming the store on every route, no 500, then recovery."""
    store = open_store(PostgresTarget(postgres_dsn))
    try:
        keys = {role: KeyRing(store).create(role, f"outage {role.value}")[0] for role in Role}
    finally:
        store.close()
    server = served_world.start(
        workers=2,
        JIFEN_AUDIT_DSN=_via(postgres_dsn, proxy.port),
        JIFEN_KEY_CACHE_S=str(KEY_CACHE_S),
        JIFEN_DB_TIMEOUT_S=str(DB_TIMEOUT_S),
    )
    codes = feature_repo.credit_codes
    with httpx.Client(base_url=server.url, timeout=30) as client:
        first = client.post(
            "/v1/score",
            json=application_body(codes[0]),
            headers={"Authorization": f"Bearer {keys[Role.SCORER]}"},
        )
    assert first.status_code == 200, first.text
    decision_id = str(first.json()["decision_id"])

    with Load(server.url, keys[Role.SCORER], codes) as load:
        time.sleep(2)
        cut_at = time.monotonic()
        proxy.cut()
        time.sleep(KEY_CACHE_S + 2 * DB_TIMEOUT_S + 1)  # cached keys have expired by now
        down = _every_route(server.url, keys, codes[1], decision_id)
        ready_down = httpx.get(f"{server.url}/ready", timeout=30)
        health_down = httpx.get(f"{server.url}/health", timeout=30)
        time.sleep(2)
        restored_at = time.monotonic()
        proxy.restore()
        deadline = restored_at + RECOVERY_S
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if [s for s, _ in load.between(time.monotonic() - 0.5, time.monotonic())] and all(
                s == 200 for s, _ in load.between(time.monotonic() - 1.0, time.monotonic())
            ):
                break
        recovered_at = time.monotonic()
        time.sleep(1)
    up = _every_route(server.url, keys, codes[2], decision_id)

    # While cut: every route behind a key is a 503 that names the store, never a 500.
    assert {route: status for route, (status, _) in down.items()} == dict.fromkeys(down, 503), down
    assert {route: body.get("detail") for route, (_, body) in down.items()} == dict.fromkeys(
        down, STORE_DOWN
    )
    assert health_down.status_code == 200
    assert ready_down.status_code == 503
    assert "PostgreSQL" in ready_down.json()["checks"]["audit_store"]
    # Under load, from the cut to the restore: 200s acknowledged before it, then 503s only.
    during = Counter(s for s, _ in load.between(cut_at, restored_at))
    assert set(during) <= {200, 503}, during
    assert during[503] > 0, during
    # Recovery: scores succeed again, and every route answers as it should.
    assert recovered_at < deadline, "scores did not succeed again after PostgreSQL came back"
    assert {route: status for route, (status, _) in up.items()} == {
        "score": 200,
        "batch": 200,
        "decision": 200,
        "replay": 200,
        "report": 200,
        "model": 200,
        "reload": 200,
    }
    # Nothing acknowledged that is not written: every 200's decision is in the database.
    acknowledged = {str(b["decision_id"]) for _, s, b in load.answers if s == 200}
    with psycopg.connect(postgres_dsn) as conn:
        stored = {r[0] for r in conn.execute("SELECT decision_id FROM audit_records")}
    assert acknowledged, "the load got no decision at all"
    assert acknowledged <= stored, sorted(acknowledged - stored)[:5]
    assert all(s in {200, 503} for _, s, _ in load.answers), Counter(s for _, s, _ in load.answers)
