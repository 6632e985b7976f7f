"""Persistence of the audit log and the API keys: SQLite (default) or PostgreSQL.

Both tables live in one database. ``audit_records`` is append-only (triggers reject
UPDATE and DELETE; on PostgreSQL also TRUNCATE) and every append is one serialised
transaction: read the chain head, seal the record, insert, commit. SQLite serialises
with ``BEGIN IMMEDIATE`` (a database-wide write lock, across processes too) and runs in
WAL mode with ``synchronous=FULL`` so a commit is on disk before ``append`` returns.
PostgreSQL serialises with a transaction-scoped advisory lock and forces
``synchronous_commit=on``. A unique ``prev_hash`` makes a forked chain impossible to store.

SQL is written once with ``?`` placeholders; the PostgreSQL store rewrites them to ``%s``.
"""

import fcntl
import logging
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, Protocol

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from serving.core.audit import GENESIS_HASH, AuditRow, PreparedDraft, record_from_row, seal
from serving.core.config import AuditTarget, SqliteTarget, redact_dsn
from serving.errors import (
    AuditWriteError,
    DecisionNotFoundError,
    KeyNotFoundError,
    StoreUnavailableError,
)
from serving.schemas import DecisionDraft, StoredKey, StoredRecord, utc_iso

log = logging.getLogger(__name__)

_ADVISORY_LOCK: Final = 0x4A4946454E  # "JIFEN": one lock id for chain appends and DDL
_ROW_COLUMNS: Final = "sequence, decision_id, prev_hash, hash, body"
_KEY_COLUMNS: Final = "key_id, name, role, secret_sha256, created_at, revoked_at"
_INSERT_RECORD: Final = (
    "INSERT INTO audit_records (sequence, decision_id, recorded_at, prev_hash, hash, body) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_HEAD: Final = "SELECT sequence, hash FROM audit_records ORDER BY sequence DESC LIMIT 1"
_WAL_PAGES: Final = 1000
"""SQLite's default WAL size (pages) at which a commit checkpoints."""


def _schema(backend: str) -> str:
    return (files("serving.core") / "sql" / f"{backend}.sql").read_text(encoding="utf-8")


class _Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Store(ABC):
    """The audit log and the API keys of one database."""

    description: str
    """Where the data lives, safe to print (no password)."""
    local: bool = False
    """Reads are local file reads (SQLite): short enough to run on the event loop."""

    # --- backend hooks -------------------------------------------------------------------

    @abstractmethod
    def _reading(self) -> AbstractContextManager[_Cursor]:
        """Yield a cursor for short reads."""

    @abstractmethod
    def _streaming(self) -> AbstractContextManager[_Cursor]:
        """Yield a cursor for long reads that must not hold up appends."""

    @abstractmethod
    def _writing(self, *, chain: bool) -> AbstractContextManager[_Cursor]:
        """Yield a cursor in a transaction committed on exit; ``chain`` locks the chain."""

    @abstractmethod
    def _time_param(self, value: datetime) -> object:
        """Convert a time to the form this backend stores."""

    @abstractmethod
    def check_writable(self) -> str | None:
        """Return why an append would fail now, or None if the store takes writes."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    _errors: tuple[type[Exception], ...] = ()

    # --- audit log -----------------------------------------------------------------------

    def append(self, draft: DecisionDraft | PreparedDraft) -> StoredRecord:
        """Seal ``draft`` as the next record and commit it; AuditWriteError if not committed."""
        return self.append_many([draft])[0]

    def append_many(self, drafts: Sequence[DecisionDraft | PreparedDraft]) -> list[StoredRecord]:
        """Seal ``drafts`` as the next records, in order, and commit them in one transaction.

        One commit (one fsync) for the whole group is what lets many concurrent decisions
        share the cost of durability; each record is still sealed and chained on its own.
        Either every record is committed or none is (AuditWriteError).
        """
        failures: tuple[type[Exception], ...] = (*self._errors, PoolTimeout, OSError)
        records: list[StoredRecord] = []
        try:
            with self._writing(chain=True) as cur:
                head = cur.execute(_HEAD).fetchone()
                sequence, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
                recorded_at = datetime.now(UTC)
                for draft in drafts:
                    record, row = seal(
                        draft, sequence=sequence, prev_hash=prev_hash, recorded_at=recorded_at
                    )
                    cur.execute(
                        _INSERT_RECORD,
                        (
                            row.sequence,
                            row.decision_id,
                            self._time_param(recorded_at),
                            row.prev_hash,
                            row.hash,
                            row.body,
                        ),
                    )
                    records.append(record)
                    sequence, prev_hash = sequence + 1, row.hash
        except failures as exc:
            if isinstance(exc, AuditWriteError):
                raise
            first = drafts[0].decision_id if drafts else "?"
            more = f" (and {len(drafts) - 1} more)" if len(drafts) > 1 else ""
            raise AuditWriteError(
                f"decision {first}{more} was not recorded in {self.description}: {_reason(exc)}"
            ) from exc
        return records

    def get(self, decision_id: str) -> StoredRecord:
        """Return the record of ``decision_id``; DecisionNotFoundError if there is none."""
        return record_from_row(self.get_row(decision_id))

    def get_row(self, decision_id: str) -> AuditRow:
        """Return the stored row of ``decision_id`` (to check its hash)."""
        with self._reading() as cur:
            found = cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM audit_records WHERE decision_id = ?", (decision_id,)
            ).fetchone()
        if found is None:
            raise DecisionNotFoundError(f"decision {decision_id!r} is not in the audit log")
        return AuditRow(*found)

    def iter_rows(self, *, from_sequence: int = 1) -> Iterator[AuditRow]:
        """Stream the stored rows in sequence order."""
        with self._streaming() as cur:
            cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM audit_records WHERE sequence >= ? ORDER BY sequence",
                (from_sequence,),
            )
            for found in cur:
                yield AuditRow(*found)

    def iter_records(
        self, *, since: datetime | None = None, from_sequence: int = 1
    ) -> Iterator[StoredRecord]:
        """Stream records in sequence order, recorded at or after ``since`` if given."""
        where, params = "sequence >= ?", list[object]([from_sequence])
        if since is not None:
            where += " AND recorded_at >= ?"
            params.append(self._time_param(since))
        with self._streaming() as cur:
            cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM audit_records WHERE {where} ORDER BY sequence",
                params,
            )
            for found in cur:
                yield record_from_row(AuditRow(*found))

    def count(self) -> int:
        """Return the number of stored records."""
        with self._reading() as cur:
            return int(cur.execute("SELECT count(*) FROM audit_records").fetchone()[0])

    def head(self) -> AuditRow | None:
        """Return the last stored row, or None when the log is empty."""
        with self._reading() as cur:
            found = cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM audit_records ORDER BY sequence DESC LIMIT 1"
            ).fetchone()
        return None if found is None else AuditRow(*found)

    # --- API keys ------------------------------------------------------------------------

    def insert_key(self, key: StoredKey) -> None:
        """Store a new key (its secret's hash only)."""
        with self._writing(chain=False) as cur:
            cur.execute(
                f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL)",
                (
                    key.key_id,
                    key.name,
                    key.role.value,
                    key.secret_sha256,
                    self._time_param(key.created_at),
                ),
            )

    def get_key(self, key_id: str) -> StoredKey | None:
        """Return the key with this id, revoked or not; None if unknown."""
        with self._reading() as cur:
            found = cur.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return None if found is None else _key_from_row(found)

    def list_keys(self) -> list[StoredKey]:
        """Return every key, oldest first."""
        with self._reading() as cur:
            rows = cur.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"
            ).fetchall()
        return [_key_from_row(r) for r in rows]

    def revoke_key(self, key_id: str) -> StoredKey:
        """Mark a key revoked from now on; KeyNotFoundError if unknown."""
        with self._writing(chain=False) as cur:
            cur.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (self._time_param(datetime.now(UTC)), key_id),
            )
        key = self.get_key(key_id)
        if key is None:
            raise KeyNotFoundError(f"API key {key_id!r} does not exist")
        return key


def _reason(exc: BaseException) -> str:
    # PostgreSQL's DETAIL can quote the failing row (credit codes): keep the primary line.
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        return exc.diag.message_primary
    return str(exc) or type(exc).__name__


def _key_from_row(row: Sequence[Any]) -> StoredKey:
    return StoredKey.model_validate(dict(zip(_KEY_COLUMNS.split(", "), row, strict=True)))


class _WriterTurn:
    """Whose turn it is to write, among processes sharing one SQLite file.

    SQLite serialises writers itself, but a writer that finds the file locked sleeps 1, 2,
    5, 10... ms before it looks again, so two server workers committing at once wait for
    each other by whole milliseconds. Taking turns on an ``flock`` beside the database
    first (``<file>-writer.lock``, like SQLite's own ``-wal`` and ``-shm``) hands the
    lock over within a tenth of a millisecond. SQLite's lock still guards the data: a
    writer that skips this file (another tool) is serialised by SQLite as before.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(f"{path.name}-writer.lock")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def take(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the turn; False if another writer kept it."""
        deadline, pause = time.monotonic() + timeout_s, 0.00005
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def give(self) -> None:
        """End the turn."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the file (again: nothing)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SqliteStore(Store):
    """A store in one SQLite file (WAL, ``synchronous=FULL``) shared by threads.

    Writes go through one connection under a lock, and across processes take turns on a
    lock file (``_WriterTurn``); short reads (key lookups, decisions) use a second
    connection so they never wait behind an append's fsync.
    """

    _errors = (sqlite3.Error,)
    local = True

    def __init__(
        self, path: Path, *, timeout_s: float = 2.0, checkpoint_every_s: float | None = None
    ) -> None:
        self.path = path
        self.description = f"SQLite {path}"
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
            self._conn.executescript(_schema("sqlite"))
            self._read_conn = self._connect()
            self._turn = _WriterTurn(path)
            self._inode = path.stat().st_ino
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailableError(f"cannot open {self.description}: {exc}") from exc
        if checkpoint_every_s is not None:
            # A commit that crosses SQLite's WAL threshold copies the log into the database
            # itself, inside that commit: a stall of milliseconds for every request waiting
            # on it. A background thread checkpoints instead (PASSIVE: it never blocks a
            # writer); the commit-time checkpoint stays as a backstop at 10x the size.
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {10 * _WAL_PAGES}")
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop,
                args=(checkpoint_every_s,),
                name="jifen-audit-checkpoint",
                daemon=True,
            )
            self._checkpointer.start()

    def _checkpoint_loop(self, every_s: float) -> None:
        conn = self._connect()
        try:
            while not self._stop.wait(every_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the backstop still bounds the log
                    log.warning("background checkpoint of %s failed: %s", self.description, exc)
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._timeout_s,
        )
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreUnavailableError(f"{self.description} cannot use WAL mode; got {mode!r}")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _time_param(self, value: datetime) -> object:
        return utc_iso(value)

    def _file_replaced(self) -> str | None:
        # A deleted or swapped file would take "committed" writes into a ghost inode.
        try:
            if self.path.stat().st_ino == self._inode:
                return None
        except OSError:
            pass
        return f"{self.path} was removed or replaced since the store was opened"

    @contextmanager
    def _reading(self) -> Iterator[_Cursor]:
        with self._read_lock:
            yield self._read_conn.cursor()

    @contextmanager
    def _streaming(self) -> Iterator[_Cursor]:
        conn = self._connect()
        try:
            conn.execute("PRAGMA query_only = ON")
            yield conn.cursor()
        finally:
            conn.close()

    @contextmanager
    def _writing(self, *, chain: bool) -> Iterator[_Cursor]:
        with self._lock:
            problem = self._file_replaced()
            if problem is not None:
                raise AuditWriteError(problem)
            if not self._turn.take(self._timeout_s):
                raise AuditWriteError(
                    f"{self.description}: another process kept the write turn "
                    f"({self._turn.path}) for more than {self._timeout_s:g} s"
                )
            try:
                cur = self._conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                    cur.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            finally:
                self._turn.give()

    def check_writable(self) -> str | None:
        """Take the write lock and release it; report a replaced file or a stuck writer."""
        try:
            with self._writing(chain=False):
                pass
        except (sqlite3.Error, AuditWriteError) as exc:
            return f"{self.description} is not writable: {exc}"
        return None

    def close(self) -> None:
        """Close the connections."""
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=self._timeout_s + 1)
        with self._lock, self._read_lock:
            self._conn.close()
            self._read_conn.close()
            self._turn.close()


class PostgresStore(Store):
    """A store on a PostgreSQL server, through a small connection pool."""

    _errors = (psycopg.Error,)

    def __init__(self, dsn: str, *, pool_size: int = 4, timeout_s: float = 2.0) -> None:
        self.description = f"PostgreSQL {redact_dsn(dsn)}"
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            timeout=timeout_s,
            configure=_configure_pg,
            open=False,
            name="jifen-audit",
        )
        try:
            self._pool.open(wait=True, timeout=timeout_s)
            with self._writing(chain=True) as cur:
                cur.execute(_schema("postgres"))
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()
            raise StoreUnavailableError(f"cannot open {self.description}: {exc}") from exc

    def _time_param(self, value: datetime) -> object:
        return value

    @contextmanager
    def _reading(self) -> Iterator[_Cursor]:
        with self._pool.connection() as conn, conn.cursor() as cur:
            yield _PgCursor(cur)

    @contextmanager
    def _streaming(self) -> Iterator[_Cursor]:
        # A named (server-side) cursor streams rows instead of loading the whole log.
        with (
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="jifen_audit_stream") as cur,
        ):
            cur.itersize = 2000
            yield _PgCursor(cur)

    @contextmanager
    def _writing(self, *, chain: bool) -> Iterator[_Cursor]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if chain:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK,))
            yield _PgCursor(cur)

    def check_writable(self) -> str | None:
        """Report a server that is down, read-only, or a standby."""
        try:
            with self._reading() as cur:
                recovery, read_only = cur.execute(
                    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
                ).fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            return f"{self.description} is not reachable: {exc}"
        if recovery or read_only == "on":
            return f"{self.description} is read-only (standby or read-only transactions)"
        return None

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()


def _configure_pg(conn: psycopg.Connection[Any]) -> None:
    # An acknowledged append must survive a crash whatever the server default says.
    conn.execute("SET synchronous_commit TO on")
    conn.commit()


class _PgCursor:
    """Adapts a psycopg cursor to the ``?`` placeholders the shared SQL uses."""

    def __init__(self, cur: psycopg.Cursor[Any] | psycopg.ServerCursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> "_PgCursor":
        self._cur.execute(sql.replace("?", "%s"), params or None)
        return self

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur)


def open_store(
    target: AuditTarget,
    *,
    timeout_s: float = 2.0,
    pool_size: int = 4,
    checkpoint_every_s: float | None = None,
) -> Store:
    """Open (and create if needed) the store at ``target``.

    ``timeout_s`` bounds how long an append waits for the database before it fails: the
    SQLite write lock, or a PostgreSQL connection from the pool. ``checkpoint_every_s``
    (SQLite, long-running servers) moves WAL checkpoints out of commits into a thread.
    """
    if isinstance(target, SqliteTarget):
        return SqliteStore(target.path, timeout_s=timeout_s, checkpoint_every_s=checkpoint_every_s)
    return PostgresStore(target.dsn, pool_size=pool_size, timeout_s=timeout_s)
