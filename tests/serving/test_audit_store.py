"""The audit store: appends commit or fail loudly, the chain survives concurrency,
records cannot be updated or deleted through SQL, and reads return what was sealed.
"""

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from serving.core.audit import genesis_hash, verify_rows
from serving.core.config import PostgresTarget, SqliteTarget
from serving.core.db import SqliteStore, Store, open_store
from serving.errors import AuditWriteError, DecisionNotFoundError, StoreUnavailableError
from tests.serving.conftest import Backend, make_draft


def test_get_returns_the_sealed_record_when_decision_exists(store: Store) -> None:
    """A record read back equals the one append returned, field for field."""
    appended = store.append(make_draft(7))
    assert store.get(appended.decision_id) == appended
    assert appended.inputs["credit_code"] == make_draft().inputs["credit_code"]
    assert appended.explanation["reasons"][0]["zh"] == "研发费用增长"  # type: ignore[index]


def test_get_raises_not_found_when_decision_is_unknown(store: Store) -> None:
    """Asking for an id that was never recorded says so."""
    with pytest.raises(DecisionNotFoundError, match="decision 'dec_nope' is not in the audit log"):
        store.get("dec_nope")


def test_iter_records_filters_by_time(store: Store) -> None:
    """`since` keeps records recorded at or after it."""
    records = [store.append(make_draft(i)) for i in range(3)]
    assert [r.sequence for r in store.iter_records()] == [1, 2, 3]
    assert [r.sequence for r in store.iter_records(since=records[1].recorded_at)] == [2, 3]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert list(store.iter_records(since=future)) == []


def test_concurrent_appends_keep_one_valid_chain(backend: Backend) -> None:
    """Eight threads appending at once yield sequences 1..N with every link intact."""
    store = backend.open(pool_size=4)
    errors: list[BaseException] = []

    def worker(start: int) -> None:
        try:
            for i in range(start, start + 15):
                store.append(make_draft(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 100,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        rows = list(store.iter_rows())
        assert [r.sequence for r in rows] == list(range(1, 121))
        assert verify_rows(rows) == []
    finally:
        store.close()


def test_append_raises_and_leaves_no_record_when_decision_id_repeats(store: Store) -> None:
    """A failed insert rolls back: no partial record, and the chain continues after it."""
    first = store.append(make_draft(1))
    with pytest.raises(
        AuditWriteError, match=f"decision {first.decision_id} was not recorded"
    ) as info:
        store.append(make_draft(2, decision_id=first.decision_id))
    assert "DETAIL" not in str(info.value)  # PostgreSQL's detail may quote the row
    assert store.count() == 1
    nxt = store.append(make_draft(3))
    assert (nxt.sequence, nxt.prev_hash) == (2, first.hash)
    assert verify_rows(store.iter_rows()) == []


def test_append_refuses_a_non_finite_number_naming_where_it_is(store: Store) -> None:
    """A NaN anywhere in a draft is found when it is sealed: named, and nothing is stored."""
    first = store.append(make_draft(1))
    reasons = [{"feature": "rd_expense_growth", "shap": float("-inf")}]
    for field, value, where in [
        ("outputs", {"pd": float("nan"), "grade": "B"}, "outputs.pd = nan"),
        ("explanation", {"reasons": reasons}, "explanation.reasons.0.shap = -inf"),
    ]:
        bad = make_draft(2).model_copy(update={field: value})
        with pytest.raises(AuditWriteError, match=f"must be finite numbers; got {where}"):
            store.append(bad)
    assert store.count() == 1
    nxt = store.append(make_draft(3))
    assert (nxt.sequence, nxt.prev_hash) == (2, first.hash)


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_records SET body = '{}'", "DELETE FROM audit_records"]
)
def test_append_only_trigger_rejects_change_when_sql_bypasses_the_store(
    backend: Backend, store: Store, statement: str
) -> None:
    """UPDATE and DELETE straight on the table are refused by the database itself."""
    store.append(make_draft(1))
    verb = statement.split()[0]
    if isinstance(backend.target, SqliteTarget):
        conn = sqlite3.connect(backend.target.path)
        with pytest.raises(sqlite3.IntegrityError, match=f"append-only: {verb} rejected"):
            conn.execute(statement)
        conn.close()
    else:
        assert isinstance(backend.target, PostgresTarget)
        with (
            psycopg.connect(backend.target.dsn) as conn,
            pytest.raises(psycopg.errors.RaiseException, match=f"append-only: {verb} rejected"),
        ):
            conn.execute(statement)
    assert store.count() == 1


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_lanes SET lane = 9", "DELETE FROM audit_lanes"]
)
def test_the_register_of_lanes_is_append_only(sqlite_backend: Backend, statement: str) -> None:
    """A lane cannot be struck from the register (verify would then skip its chain)."""
    owner = sqlite_backend.open()
    owner.append(make_draft(1))
    second = sqlite_backend.open()
    assert second.append(make_draft(2)).lane == 1
    assert isinstance(sqlite_backend.target, SqliteTarget)
    conn = sqlite3.connect(sqlite_backend.target.path)
    verb = statement.split()[0]
    with pytest.raises(sqlite3.IntegrityError, match=f"append-only: {verb} rejected"):
        conn.execute(statement)
    conn.close()
    assert second.lanes() == [0, 1]
    second.close()
    owner.close()


@pytest.mark.integration
def test_truncate_is_rejected_on_postgres(postgres_dsn: str) -> None:
    """TRUNCATE skips row triggers, so PostgreSQL has a statement trigger for it."""
    store = open_store(PostgresTarget(postgres_dsn), pool_size=1)
    store.append(make_draft(1))
    with (
        psycopg.connect(postgres_dsn) as conn,
        pytest.raises(psycopg.errors.RaiseException, match="append-only: TRUNCATE rejected"),
    ):
        conn.execute("TRUNCATE audit_records")
    assert store.count() == 1
    store.close()


def test_append_raises_when_another_writer_holds_the_lock(sqlite_backend: Backend) -> None:
    """A write that cannot get the database within the busy timeout is not acknowledged."""
    store = sqlite_backend.open(timeout_s=0.05)
    store.append(make_draft(1))
    assert isinstance(sqlite_backend.target, SqliteTarget)
    blocker = sqlite3.connect(sqlite_backend.target.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(
            AuditWriteError, match=r"was not recorded in SQLite .*database is locked"
        ):
            store.append(make_draft(2))
        assert "database is locked" in (store.check_writable() or "")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.count() == 1
    assert store.check_writable() is None
    store.close()


def test_append_raises_when_the_sqlite_file_was_removed(sqlite_backend: Backend) -> None:
    """Writes into a deleted file would vanish, so the store refuses them."""
    store = sqlite_backend.open()
    store.append(make_draft(1))
    assert isinstance(sqlite_backend.target, SqliteTarget)
    sqlite_backend.target.path.unlink()
    with pytest.raises(AuditWriteError, match="was removed or replaced"):
        store.append(make_draft(2))
    assert "was removed or replaced" in (store.check_writable() or "")
    store.close()


@pytest.mark.integration
def test_append_raises_when_the_postgres_database_is_dropped(
    postgres_server: str, postgres_dsn: str
) -> None:
    """With its database gone, an append fails with AuditWriteError instead of returning."""
    store = open_store(PostgresTarget(postgres_dsn), pool_size=1, timeout_s=0.5)
    store.append(make_draft(1))
    name = postgres_dsn.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    try:
        with pytest.raises(AuditWriteError, match="was not recorded in PostgreSQL"):
            store.append(make_draft(2))
        assert "is not reachable" in (store.check_writable() or "")
    finally:
        store.close()


def test_open_raises_store_unavailable_when_postgres_is_unreachable() -> None:
    """A server that does not answer is a clear StoreUnavailableError, without the password."""
    with pytest.raises(
        StoreUnavailableError, match=r"cannot open PostgreSQL postgresql://u:\*\*\*@"
    ):
        open_store(PostgresTarget("postgresql://u:s3cret@127.0.0.1:1/x"), timeout_s=0.5)


def test_sqlite_store_uses_wal_and_full_sync(sqlite_backend: Backend) -> None:
    """WAL journal and synchronous=FULL: an acknowledged append is on disk."""
    store = sqlite_backend.open()
    assert isinstance(store, SqliteStore)
    assert sqlite_backend.query("PRAGMA journal_mode") == [("wal",)]
    assert store._conn.execute("PRAGMA synchronous").fetchone() == (2,)
    store.close()


_APPENDER = """
import sys
from pathlib import Path
from serving.core.db import SqliteStore
from tests.serving.conftest import make_draft
store = SqliteStore(Path(sys.argv[1]))
for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 100000):
    print(store.append(make_draft(i)).decision_id, flush=True)
"""


def test_processes_appending_to_one_sqlite_file_each_build_a_valid_lane(tmp_path: Path) -> None:
    """Three processes appending at once (server workers) each own a lane: intact chains."""
    path = tmp_path / "audit.sqlite3"
    SqliteStore(path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(path), "40"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for _ in range(3)
    ]
    printed = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    store = SqliteStore(path)
    lanes = store.lanes()
    assert lanes[0] == 0 and len(lanes) <= 3  # a process that found a lane free reuses it
    rows = [row for lane in lanes for row in store.iter_rows(lane=lane)]
    assert sorted(r.decision_id for r in rows) == sorted(d for ids in printed for d in ids)
    assert store.count() == 120
    assert all(verify_rows(store.iter_rows(lane=lane), lane=lane) == [] for lane in lanes)
    assert store.lane_problems() == []
    store.close()


def test_a_store_appends_to_the_next_lane_while_another_process_owns_lane_0(
    sqlite_backend: Backend,
) -> None:
    """Lane 0 owned elsewhere: records go to a new lane file, registered, found by id."""
    first = sqlite_backend.open()
    kept = first.append(make_draft(1))
    first.close()  # gives lane 0 up
    assert isinstance(sqlite_backend.target, SqliteTarget)
    path = sqlite_backend.target.path
    holder = os.open(f"{path}-owner.lock", os.O_RDWR)  # its own open file: another owner
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        store = sqlite_backend.open()
        record = store.append(make_draft(2))
        assert (record.lane, record.sequence) == (1, 1)
        assert record.prev_hash == genesis_hash(1)
        assert (path.parent / f"{path.stem}.lane1{path.suffix}").exists()
        assert store.lanes() == [0, 1]
        assert store.get(record.decision_id) == record
        assert store.get(kept.decision_id).lane == 0
        assert store.count() == 2 and store.count(1) == 1
        assert [r.decision_id for r in store.iter_records()] == [
            kept.decision_id,
            record.decision_id,
        ]
        (path.parent / f"{path.stem}.lane1{path.suffix}").unlink()
        with pytest.raises(AuditWriteError, match="was removed or replaced"):
            store.append(make_draft(4))  # its own lane's file is checked like the main one
        store.close()
    finally:
        os.close(holder)
    again = sqlite_backend.open()  # lane 0 is free again
    assert again.append(make_draft(3)).lane == 0
    again.close()


def test_lane_problems_name_a_missing_lane_file_and_a_stray_one(sqlite_backend: Backend) -> None:
    """A registered lane whose file is gone, and a lane file the register lacks, are named."""
    owner = sqlite_backend.open()
    owner.append(make_draft(1))  # owns lane 0
    second = sqlite_backend.open()
    assert second.append(make_draft(2)).lane == 1
    second.close()
    assert isinstance(sqlite_backend.target, SqliteTarget)
    path = sqlite_backend.target.path
    lane1 = path.with_name(f"{path.stem}.lane1{path.suffix}")
    lane1.rename(path.with_name(f"{path.stem}.lane7{path.suffix}"))
    problems = owner.lane_problems()
    assert any("lane 1" in p and "missing" in p for p in problems), problems
    assert any("lane7" in p and "not in the register" in p for p in problems), problems
    owner.close()


def test_lane_owner_reads_the_head_again_after_a_writer_that_skips_lanes(
    sqlite_backend: Backend,
) -> None:
    """A record appended to lane 0 around its owner (an older jifen mid-upgrade) is chained to."""
    owner = sqlite_backend.open()
    owner.append(make_draft(1))
    old_writer = sqlite_backend.open()  # appends the pre-lane way: BEGIN, read head, INSERT
    assert Store.append_many(old_writer, [make_draft(2)])[0].sequence == 2
    third = owner.append(make_draft(3))
    assert (third.lane, third.sequence) == (0, 3)
    assert owner.count() == 3
    assert verify_rows(owner.iter_rows()) == []
    old_writer.close()
    owner.close()


def test_append_fails_clearly_when_every_lane_is_owned(
    sqlite_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No free lane: AuditWriteError naming the cause, nothing written."""
    monkeypatch.setattr("serving.core.db.MAX_LANES", 1)
    owner = sqlite_backend.open()
    owner.append(make_draft(1))
    other = sqlite_backend.open()
    with pytest.raises(AuditWriteError, match="all 1 lanes are owned by other processes"):
        other.append(make_draft(2))
    assert other.count() == 1
    other.close()
    owner.close()


@pytest.mark.slow
def test_acknowledged_appends_survive_kill_9(tmp_path: Path) -> None:
    """Every decision id printed after append returned is in the log after SIGKILL."""
    path = tmp_path / "audit.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", _APPENDER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().strip() for _ in range(30)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = SqliteStore(path)
    stored = {r.decision_id for r in store.iter_rows()}
    assert set(acknowledged) <= stored
    assert verify_rows(store.iter_rows()) == []
    store.close()


def test_background_checkpoints_copy_the_log_into_the_database_off_the_commit_path(
    tmp_path: Path,
) -> None:
    """With the checkpoint thread the database file takes the records between commits;
    without it (and below SQLite's own threshold) they stay in the WAL."""
    sizes = {}
    for every in (None, 0.05):
        path = tmp_path / f"audit-{every}.sqlite3"
        others = {t.ident for t in threading.enumerate()}  # other tests' stores may linger
        store = SqliteStore(path, checkpoint_every_s=every)
        before = path.stat().st_size
        for i in range(40):
            store.append(make_draft(i))
        deadline = time.monotonic() + 5
        while every and path.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.05)
        sizes[every] = path.stat().st_size - before
        store.close()
        assert verify_rows(SqliteStore(path).iter_rows()) == []
    assert sizes[None] == 0
    assert sizes[0.05] > 0
    assert not any(
        t.name == "jifen-audit-checkpoint" and t.ident not in others for t in threading.enumerate()
    )
