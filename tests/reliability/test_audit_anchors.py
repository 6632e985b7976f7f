"""Anchors by default: the service publishes its chain heads, signed, outside the log, and a
plain ``jifen audit verify`` checks the log against them.

Each test runs the service's own lifespan (``create_app``) on a fresh log, so the anchors
are the ones the service published on its schedule or at its clean shutdown; then it
tampers with the log behind the store's back, as an intruder with write access to the
log (and none to the anchors) would, and runs ``jifen audit verify`` without ``--anchor``.
The log is on SQLite with anchors in a folder (the defaults), and on the real PostgreSQL
with anchors in another database (``integration``).
"""

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from typer.testing import CliRunner, Result

from jifen.cli import app as cli
from jifen.errors import ConfigError
from serving.core.config import (
    AuditTarget,
    PostgresTarget,
    ServingSettings,
    SqliteTarget,
    get_settings,
    load_settings,
)
from serving.core.db import Store, open_store
from serving.errors import AuditIntegrityError
from serving.main import create_app
from serving.schemas import utc_iso
from tests.serving.conftest import make_draft

pytestmark = pytest.mark.reliability
runner = CliRunner()
EARLIER = "2020-01-01T00:00:00.000000Z"


@dataclass
class AnchoredLog:
    """A fresh audit log, the settings of a service on it, and its anchors' place."""

    folder: Path
    settings: ServingSettings
    env: dict[str, str]
    anchor_dsn: str | None

    @property
    def target(self) -> AuditTarget:
        return self.settings.audit_target

    def serve(self, records: int, *, second_lane: int = 0) -> list[str]:
        """Run the service while ``records`` decisions are written through its store (and
        ``second_lane`` by another writer, SQLite only); stop it cleanly. Return the ids."""
        ids: list[str] = []
        with TestClient(create_app(self.settings)) as client:
            store: Store = client.app.state.services.store  # type: ignore[attr-defined]
            ids += [store.append(make_draft(i)).decision_id for i in range(records)]
            if second_lane:
                other = open_store(self.target)
                try:
                    ids += [
                        other.append(make_draft(100 + i)).decision_id for i in range(second_lane)
                    ]
                finally:
                    other.close()
        return ids

    def verify(self, *args: str) -> Result:
        """Run ``jifen audit verify`` in this log's environment (settings read afresh)."""
        get_settings.cache_clear()
        try:
            return runner.invoke(cli, ["audit", "verify", *args], env=self.env, terminal_width=400)
        finally:
            get_settings.cache_clear()

    def lane_file(self, lane: int) -> Path:
        """The file of ``lane`` (the README's ``audit.lane<k>.sqlite3`` beside the main file)."""
        assert isinstance(self.target, SqliteTarget)
        main = self.target.path
        return main if lane == 0 else main.with_name(f"{main.stem}.lane{lane}{main.suffix}")

    def tamper(self, *statements: str, lane: int = 0, params: list[Any] | None = None) -> None:
        """Run SQL on one lane with the append-only triggers dropped, as an intruder would."""
        if isinstance(self.target, SqliteTarget):
            conn = sqlite3.connect(self.lane_file(lane), isolation_level=None)
            for trigger in ("audit_records_no_update", "audit_records_no_delete"):
                conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            for statement in statements:
                conn.execute(statement, *([params] if params else []))
            conn.close()
            return
        assert isinstance(self.target, PostgresTarget) and lane == 0
        with psycopg.connect(self.target.dsn, autocommit=True) as conn:
            conn.execute("DROP TRIGGER IF EXISTS audit_records_append_only ON audit_records")
            for statement in statements:
                conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]

    def forge_tail(self, keep: int, count: int) -> None:
        """Cut lane 0 after #keep and append ``count`` forged records chained to #keep."""
        from serving.core.audit import seal

        self.tamper(f"DELETE FROM audit_records WHERE sequence > {keep}")
        store = open_store(self.target)
        try:
            head = next(r for r in store.iter_rows(from_sequence=keep))
        finally:
            store.close()
        prev = head.hash
        for i in range(count):
            at = datetime.now(UTC)
            draft = make_draft(900 + i, decision_id=f"dec_forged_{uuid.uuid4().hex[:8]}")
            _, row = seal(draft, sequence=keep + 1 + i, prev_hash=prev, recorded_at=at)
            self.tamper(
                "INSERT INTO audit_records (sequence, decision_id, recorded_at, prev_hash, hash, "
                "body) VALUES (?, ?, ?, ?, ?, ?)",
                params=[
                    row.sequence,
                    row.decision_id,
                    _time(self.target, at),
                    prev,
                    row.hash,
                    row.body,
                ],
            )
            prev = row.hash


def _time(target: AuditTarget, at: datetime) -> object:
    return utc_iso(at) if isinstance(target, SqliteTarget) else at


@pytest.fixture
def anchor_database(postgres_server: str) -> Iterator[str]:
    """A second fresh database, for the anchors of a log kept on PostgreSQL."""
    name = f"jifen_anchors_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _world(tmp_path: Path, audit_dsn: str, anchor_dsn: str | None) -> AnchoredLog:
    values: dict[str, str] = {
        "JIFEN_DATA_DIR": str(tmp_path),
        "JIFEN_AUDIT_DSN": audit_dsn,
        "JIFEN_BUNDLE_DIR": str(tmp_path / "models"),
        "JIFEN_FEATURE_REPO_DIR": str(tmp_path / "features"),
        "JIFEN_ANCHOR_EVERY_S": "0.2",
        **({"JIFEN_ANCHOR_DSN": anchor_dsn} if anchor_dsn else {}),
    }
    settings = load_settings(
        **{k.removeprefix("JIFEN_").lower(): v for k, v in values.items()}  # type: ignore[arg-type]
    )
    return AnchoredLog(tmp_path, settings, {**values, "COLUMNS": "400"}, anchor_dsn)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> AnchoredLog:
    """A log on SQLite with anchors in a folder, or on PostgreSQL with anchors in another
    PostgreSQL database."""
    if request.param == "sqlite":
        return _world(tmp_path, f"sqlite:///{tmp_path / 'log' / 'audit.sqlite3'}", None)
    audit: str = request.getfixturevalue("postgres_dsn")
    return _world(tmp_path, audit, request.getfixturevalue("anchor_database"))


@pytest.fixture
def sqlite_log(tmp_path: Path) -> AnchoredLog:
    return _world(tmp_path, f"sqlite:///{tmp_path / 'log' / 'audit.sqlite3'}", None)


def _row(log: AnchoredLog, sequence: int, lane: int = 0) -> Any:
    store = open_store(log.target)
    try:
        return next(store.iter_rows(lane=lane, from_sequence=sequence))
    finally:
        store.close()


# --- the happy path ------------------------------------------------------------------------


def test_untouched_log_verifies_intact_against_the_anchors_the_service_published(
    log: AnchoredLog,
) -> None:
    """The service publishes the head at its clean shutdown; verify checks it by default."""
    log.serve(4)
    result = log.verify()
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 4 records in 1 lane(s)" in result.output
    assert "checked against 1 published anchor(s)" in result.output


def test_the_service_publishes_anchors_on_its_schedule_while_it_runs(log: AnchoredLog) -> None:
    """With anchor_every_s 0.2, a running service anchors new records within moments."""
    from serving.core.anchor_store import open_anchor_store, read_published
    from serving.core.anchors import log_id

    with TestClient(create_app(log.settings)) as client:
        store: Store = client.app.state.services.store  # type: ignore[attr-defined]
        head = store.append(make_draft(1))
        sink = open_anchor_store(log.settings.anchor_target)
        deadline = datetime.now(UTC).timestamp() + 10
        anchors: dict[int, Any] = {}
        while datetime.now(UTC).timestamp() < deadline and 0 not in anchors:
            time.sleep(0.05)
            anchors = read_published(sink, log_id(log.target)).anchors
        assert 0 in anchors, "no anchor published within 10 s"
        assert (anchors[0].sequence, anchors[0].hash) == (head.sequence, head.hash)


# --- the defect-7 probe, each case caught by a plain verify -------------------------------


def test_default_verify_catches_a_truncated_tail(log: AnchoredLog) -> None:
    """The last two records deleted leave a valid chain; the published anchor names the cut."""
    log.serve(5)
    anchored = _row(log, 5).hash
    log.tamper("DELETE FROM audit_records WHERE sequence > 3")
    assert log.verify("--no-anchors").exit_code == 0  # the chain alone cannot see it

    result = log.verify()
    assert result.exit_code == 1, result.output
    assert "#5" in result.output and "removed" in result.output
    assert f"the anchored record (hash {anchored[:16]}…" in result.output
    assert "the lane ends at #3 (truncated)" in result.output


def test_default_verify_catches_a_forged_tail_chained_from_the_cut(log: AnchoredLog) -> None:
    """Records #4-#5 replaced by forged ones chained correctly from #3: the anchor of #5
    names the record, the hash expected and the hash found."""
    log.serve(5)
    anchored = _row(log, 5).hash
    log.forge_tail(keep=3, count=2)
    forged = _row(log, 5)
    assert forged.decision_id.startswith("dec_forged_")
    assert log.verify("--no-anchors").exit_code == 0  # a valid chain, on its own

    result = log.verify()
    assert result.exit_code == 1, result.output
    assert "anchor_mismatch" in result.output and forged.decision_id in result.output
    assert f"expected hash {anchored[:16]}…" in result.output
    assert f"found {forged.hash[:16]}…: the record was replaced" in result.output


def test_default_verify_catches_a_lane_removed_with_its_register_row(
    sqlite_log: AnchoredLog,
) -> None:
    """A second writer's lane file deleted and its row cut from the register: the lane's
    anchor says it existed, up to which record."""
    sqlite_log.serve(2, second_lane=3)
    assert isinstance(sqlite_log.target, SqliteTarget)
    lane1 = sqlite_log.lane_file(1)
    anchored = _row(sqlite_log, 3, lane=1).hash
    conn = sqlite3.connect(sqlite_log.target.path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_lanes_no_delete")
    conn.execute("DELETE FROM audit_lanes WHERE lane = 1")
    conn.close()
    for path in lane1.parent.glob(f"{lane1.name}*"):
        path.unlink()
    assert sqlite_log.verify("--no-anchors").exit_code == 0  # one lane, intact

    result = sqlite_log.verify()
    assert result.exit_code == 1, result.output
    assert f"lane 1: anchored at #3 (hash {anchored[:16]}…" in result.output
    assert "the log has no such lane (its file and register row are gone)" in result.output


def test_verify_and_lookups_catch_an_edited_recorded_at_column(log: AnchoredLog) -> None:
    """recorded_at is what the time filter reads: an edit is named by verify (record and
    both values), flagged by hash_valid, and refused by the lookups that filter on it."""
    from serving.core.audit import hash_matches

    ids = log.serve(3)
    log.tamper("UPDATE audit_records SET recorded_at = ? WHERE sequence = 2", params=[EARLIER])
    result = log.verify()
    assert result.exit_code == 1, result.output
    assert ids[1] in result.output and "altered" in result.output
    assert "recorded_at column differs from the sealed recorded_at" in result.output
    assert f"column {EARLIER}" in result.output

    store = open_store(log.target)
    try:
        assert not hash_matches(store.get_row(ids[1])) and hash_matches(store.get_row(ids[0]))
        with pytest.raises(AuditIntegrityError, match=rf"#2 \({ids[1]}\) was altered: recorded_at"):
            list(store.iter_records(since=datetime(2019, 1, 1, tzinfo=UTC)))
        with pytest.raises(AuditIntegrityError, match="recorded_at column differs"):
            store.get(ids[1])
    finally:
        store.close()


# --- the anchors themselves ------------------------------------------------------------------


def _forge_published_anchor(log: AnchoredLog, new_hash: str) -> None:
    """Rewrite the newest published anchor's hash without its signature, as a forger would."""
    if log.anchor_dsn is None:
        path = log.folder / "anchors" / "anchors.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        old = lines[-1].split('"hash":"')[1][:64]
        lines[-1] = lines[-1].replace(old, new_hash)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return
    with psycopg.connect(log.anchor_dsn, autocommit=True) as conn:
        conn.execute("DROP TRIGGER audit_anchors_append_only ON audit_anchors")
        conn.execute(
            "UPDATE audit_anchors SET hash = %s WHERE id = (SELECT max(id) FROM audit_anchors)",
            (new_hash,),
        )


def test_default_verify_names_an_anchor_whose_signature_fails(log: AnchoredLog) -> None:
    """The newest anchor rewritten to match a forged tail fails its signature and is named;
    the older, genuine anchor (#3) still catches the forged record under it."""
    log.serve(3)
    log.serve(2)  # a second run: the newest anchor is #5, an older one #3
    log.forge_tail(keep=2, count=3)
    _forge_published_anchor(log, _row(log, 5).hash)

    result = log.verify()
    assert result.exit_code == 1, result.output
    assert "anchor of lane 0 #5" in result.output
    assert "signature does not verify with key" in result.output
    assert "(the anchor was altered or forged)" in result.output
    assert "anchor_mismatch" in result.output and _row(log, 3).decision_id in result.output


def test_no_anchors_is_an_explicit_opt_out_and_says_so(log: AnchoredLog) -> None:
    """--no-anchors checks the chain alone, and the output says the anchors were not checked."""
    log.serve(3)
    log.tamper("DELETE FROM audit_records WHERE sequence = 3")
    result = log.verify("--no-anchors")
    assert result.exit_code == 0, result.output
    assert "published anchors not checked (--no-anchors)" in result.output


def test_a_log_never_anchored_verifies_with_a_warning(sqlite_log: AnchoredLog) -> None:
    """A log written without the service has no anchors: verify says a cut would not show."""
    store = open_store(sqlite_log.target)
    try:
        store.append(make_draft(1))
    finally:
        store.close()
    result = sqlite_log.verify()
    assert result.exit_code == 0, result.output
    assert "no anchors published for sqlite:///" in result.output
    assert "a cut or replaced tail, or a removed lane, would not show" in result.output


def test_service_never_anchors_over_a_rewritten_lane(log: AnchoredLog) -> None:
    """A tail forged past the last anchor while the service was down (#3-#6 after an anchor
    at #4) is not anchored when it starts again: the anchor of #4 still names the forgery."""
    log.serve(4)
    log.forge_tail(keep=2, count=4)
    log.serve(0)  # start and stop: would anchor the forged #6 if it did not check #4 first
    result = log.verify()
    assert result.exit_code == 1, result.output
    assert "anchor_mismatch" in result.output and _row(log, 4).decision_id in result.output


def test_anchor_key_is_made_owner_only_and_refused_when_others_may_read_it(
    sqlite_log: AnchoredLog,
) -> None:
    """The signing key is made with mode 0600; a key others may read stops the service."""
    sqlite_log.serve(1)
    key = sqlite_log.settings.anchor_key
    assert key.stat().st_mode & 0o777 == 0o600
    public = list((sqlite_log.folder / "anchors").glob("anchor-key-*.pub"))
    assert len(public) == 1 and b"PUBLIC KEY" in public[0].read_bytes()
    key.chmod(0o644)
    with (
        pytest.raises(
            ConfigError, match=r"must be readable by its owner only \(mode 0600\); got 0644"
        ),
        TestClient(create_app(sqlite_log.settings)),
    ):
        pass


def test_settings_refuse_anchors_kept_with_the_log(tmp_path: Path) -> None:
    """Anchors in the log's own folder or database would go wherever the log goes."""
    with pytest.raises(ConfigError, match="anchor_dir must be another folder than the audit log's"):
        load_settings(audit_dsn=f"sqlite:///{tmp_path / 'audit.sqlite3'}", anchor_dir=tmp_path)
    dsn = "postgresql://postgres@127.0.0.1:5432/test"
    with pytest.raises(ConfigError, match="anchor_dsn must name another database than audit_dsn"):
        load_settings(audit_dsn=dsn, anchor_dsn="postgresql://postgres@127.0.0.1/test")
    with pytest.raises(ConfigError, match="anchors must be true in production"):
        load_settings(environment="production", audit_dsn=dsn, anchors=False)


def test_a_lookup_of_an_altered_record_is_a_409_naming_it_not_a_500(
    sqlite_log: AnchoredLog,
) -> None:
    """The error a lookup or replay of an edited record raises reaches the client as 409
    with the record and the column named (it escaped as a 500 before)."""
    from serving.api.errors import http_error

    ids = sqlite_log.serve(2)
    sqlite_log.tamper(
        "UPDATE audit_records SET recorded_at = ? WHERE sequence = 2", params=[EARLIER]
    )
    store = open_store(sqlite_log.target)
    try:
        with pytest.raises(AuditIntegrityError) as caught:
            store.get(ids[1])
    finally:
        store.close()
    answer = http_error(caught.value)
    assert answer.status_code == 409
    assert ids[1] in str(answer.detail) and "recorded_at" in str(answer.detail)
