"""Persistence of the audit log and the API keys: SQLite (default) or PostgreSQL.

``audit_records`` is append-only (triggers reject UPDATE and DELETE; on PostgreSQL also
TRUNCATE) and a unique ``prev_hash`` makes a forked chain impossible to store.

SQLite (WAL, ``synchronous=FULL``: a commit is on disk before ``append`` returns): each
process that appends owns a lane, a chain in a file of its own, for as long as it runs
(an ``flock`` on ``<file>-owner.lock``; the first free lane, created when none is free).
Lane 0 is the main file, which also holds the API keys and the register of lanes
(``audit_lanes``); lane *k* is ``<stem>.lane<k><suffix>`` beside it. As the only writer
of its file, a lane's owner keeps the chain head in memory and appends a record with one
INSERT in autocommit: server workers never wait for each other's transactions, and the
writer thread gives up Python's lock once per commit instead of at every statement of a
``BEGIN``-read-insert-``COMMIT`` (each hand-over costs up to a switch interval while the
event loop runs). Readers (lookups, verify, reports) see every lane.

PostgreSQL keeps one lane (0) that many servers share: every append is one transaction
serialised by an advisory lock (read the head, seal, insert, commit), with
``synchronous_commit=on``.

A database that cannot be reached is a ``StoreUnavailableError`` (a 503 that names the
store) from every read and write, key lookups included; an append that fails is an
``AuditWriteError`` (its decision is withheld). The PostgreSQL pool keeps trying to
reconnect and, past ``RECONNECT_WINDOW_S``, starts over at the next request, so that the
service answers again within seconds of the server's return.

SQL is written once with ``?`` placeholders; the PostgreSQL store rewrites them to ``%s``.
"""

import fcntl
import heapq
import logging
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, Protocol

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from serving.core.audit import AuditRow, PreparedDraft, checked_record, genesis_hash, seal
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
_ROW_COLUMNS: Final = "sequence, decision_id, prev_hash, hash, body, recorded_at"
_KEY_COLUMNS: Final = "key_id, name, role, secret_sha256, created_at, revoked_at"
_INSERT_RECORD: Final = (
    "INSERT INTO audit_records (sequence, decision_id, recorded_at, prev_hash, hash, body) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_HEAD: Final = "SELECT sequence, hash FROM audit_records ORDER BY sequence DESC LIMIT 1"
_WAL_PAGES: Final = 1000
"""SQLite's default WAL size (pages) at which a commit checkpoints."""
MAX_LANES: Final = 64
"""Most SQLite lanes (processes appending at once) a log takes."""
RECONNECT_WINDOW_S: Final = 10.0
"""How long the pool retries a lost PostgreSQL connection (backing off from 1 s, doubling)
before it gives up and tries afresh at the next request. Without it the pool backs off for
5 minutes, doubling each wait: a 30-second outage left the service down for another 30."""
MB: Final = 1024 * 1024
_PG_DOWN: Final = (psycopg.OperationalError, psycopg.InterfaceError)
"""PostgreSQL errors that mean the server cannot be reached or the connection was lost
(``PoolTimeout`` is one): the store is unavailable, not the request wrong."""

_Params = tuple[object, ...]


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
    def _reading(self, lane: int = 0) -> AbstractContextManager[_Cursor]:
        """Yield a cursor for short reads of ``lane`` (lane 0 also holds the keys)."""

    @abstractmethod
    def _streaming(self, lane: int = 0) -> AbstractContextManager[_Cursor]:
        """Yield a cursor on ``lane`` for long reads that must not hold up appends."""

    def lanes(self) -> list[int]:
        """Return the lanes of the log, in order."""
        return [0]

    def lane_problems(self) -> list[str]:
        """Return what is wrong with the set of lanes itself (e.g. a lane's file is gone)."""
        return []

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
        try:
            with self._writing(chain=True) as cur:
                head = cur.execute(_HEAD).fetchone()
                start = (head[0] + 1, head[1]) if head else (1, genesis_hash(0))
                records, params = self._seal_group(drafts, 0, *start)
                for values in params:
                    cur.execute(_INSERT_RECORD, values)
        except self._failures as exc:
            raise self._not_recorded(drafts, exc) from exc
        return records

    @property
    def _failures(self) -> tuple[type[Exception], ...]:
        return (*self._errors, PoolTimeout, OSError)

    def _not_recorded(
        self, drafts: Sequence[DecisionDraft | PreparedDraft], exc: Exception
    ) -> AuditWriteError:
        if isinstance(exc, AuditWriteError):
            return exc
        first = drafts[0].decision_id if drafts else "?"
        more = f" (and {len(drafts) - 1} more)" if len(drafts) > 1 else ""
        return AuditWriteError(
            f"decision {first}{more} was not recorded in {self.description}: {_reason(exc)}"
        )

    def _seal_group(
        self,
        drafts: Sequence[DecisionDraft | PreparedDraft],
        lane: int,
        sequence: int,
        prev_hash: str,
    ) -> tuple[list[StoredRecord], list[_Params]]:
        """Seal ``drafts`` as records ``sequence``, ``sequence + 1``... of ``lane``."""
        recorded_at = datetime.now(UTC)
        at = self._time_param(recorded_at)
        records: list[StoredRecord] = []
        params: list[_Params] = []
        for draft in drafts:
            record, row = seal(
                draft, sequence=sequence, prev_hash=prev_hash, recorded_at=recorded_at, lane=lane
            )
            params.append((row.sequence, row.decision_id, at, row.prev_hash, row.hash, row.body))
            records.append(record)
            sequence, prev_hash = sequence + 1, row.hash
        return records, params

    def get(self, decision_id: str) -> StoredRecord:
        """Return the record of ``decision_id``.

        Raises:
            DecisionNotFoundError: there is none.
            AuditIntegrityError: the row found disagrees with its sealed body.

        """
        return checked_record(self.get_row(decision_id))

    def get_row(self, decision_id: str) -> AuditRow:
        """Return the stored row of ``decision_id``, from whichever lane holds it."""
        for lane in self.lanes():
            with self._reading(lane) as cur:
                found = cur.execute(
                    f"SELECT {_ROW_COLUMNS} FROM audit_records WHERE decision_id = ?",
                    (decision_id,),
                ).fetchone()
            if found is not None:
                return _row(found, lane)
        raise DecisionNotFoundError(f"decision {decision_id!r} is not in the audit log")

    def iter_rows(self, *, lane: int = 0, from_sequence: int = 1) -> Iterator[AuditRow]:
        """Stream one lane's stored rows in sequence order."""
        with self._streaming(lane) as cur:
            cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM audit_records WHERE sequence >= ? ORDER BY sequence",
                (from_sequence,),
            )
            for found in cur:
                yield _row(found, lane)

    def iter_records(self, *, since: datetime | None = None) -> Iterator[StoredRecord]:
        """Stream records of every lane in time order, recorded at or after ``since`` if given."""
        streams = [self._lane_records(lane, since) for lane in self.lanes()]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=lambda r: (r.recorded_at, r.lane, r.sequence))

    def _lane_records(self, lane: int, since: datetime | None) -> Iterator[StoredRecord]:
        where, params = "", list[object]()
        if since is not None:
            where, params = "WHERE recorded_at >= ?", [self._time_param(since)]
        with self._streaming(lane) as cur:
            cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM audit_records {where} ORDER BY sequence", params
            )
            for found in cur:  # the time filter read a column: it must be the sealed time
                yield checked_record(_row(found, lane))

    def count(self, lane: int | None = None) -> int:
        """Return the number of stored records, of one lane or of all."""
        total = 0
        for each in self.lanes() if lane is None else [lane]:
            with self._reading(each) as cur:
                total += int(cur.execute("SELECT count(*) FROM audit_records").fetchone()[0])
        return total

    def head(self, lane: int = 0) -> AuditRow | None:
        """Return the last stored row of ``lane``, or None when the lane is empty."""
        with self._reading(lane) as cur:
            found = cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM audit_records ORDER BY sequence DESC LIMIT 1"
            ).fetchone()
        return None if found is None else _row(found, lane)

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


def _row(found: Sequence[Any], lane: int) -> AuditRow:
    sequence, decision_id, prev_hash, digest, body, recorded_at = found
    if isinstance(recorded_at, datetime):  # PostgreSQL: spelled as the body spells times
        recorded_at = utc_iso(recorded_at)
    return AuditRow(sequence, decision_id, prev_hash, digest, body, lane, recorded_at)


def _reason(exc: BaseException) -> str:
    # PostgreSQL's DETAIL can quote the failing row (credit codes): keep the primary line.
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        return exc.diag.message_primary
    return str(exc) or type(exc).__name__


@contextmanager
def _available(description: str, errors: tuple[type[Exception], ...]) -> Iterator[None]:
    """Turn ``errors`` raised inside into StoreUnavailableError naming the store."""
    try:
        yield
    except errors as exc:
        raise StoreUnavailableError(f"{description} is unavailable: {_reason(exc)}") from exc


def _key_from_row(row: Sequence[Any]) -> StoredKey:
    return StoredKey.model_validate(dict(zip(_KEY_COLUMNS.split(", "), row, strict=True)))


def _check_not_replaced(path: Path, inode: int) -> None:
    """AuditWriteError if ``path`` is no longer the file opened as ``inode``."""
    # Writes to a deleted or replaced file would go to a ghost inode, "committed".
    try:
        if path.stat().st_ino == inode:
            return
    except OSError:
        pass
    raise AuditWriteError(f"{path} was removed or replaced since the store was opened")


class _Lane:
    """A lane this process owns: its file, its connection and the head of its chain.

    Ownership is an ``flock`` on ``<file>-owner.lock``, held until ``close`` (or the
    process's end, a crash included), so no other process appends to this chain meanwhile
    and the head kept here stays the file's.
    """

    def __init__(self, number: int, path: Path, owner_fd: int, conn: sqlite3.Connection) -> None:
        self.number, self.path, self.conn = number, path, conn
        self._owner_fd = owner_fd
        self.inode = path.stat().st_ino
        self.next: tuple[int, str] | None = None
        """Sequence and ``prev_hash`` of the next record; None: read it from the file."""

    def start(self) -> tuple[int, str]:
        """Return where the next record goes, reading the head from the file if not known."""
        if self.next is None:
            head = self.conn.execute(_HEAD).fetchone()
            self.next = (head[0] + 1, head[1]) if head else (1, genesis_hash(self.number))
        return self.next

    def release(self, *, close_conn: bool) -> None:
        """Give the lane up (the owner lock goes last, after the connection)."""
        if close_conn:
            self.conn.close()
        os.close(self._owner_fd)


class SqliteStore(Store):
    """A store in SQLite files (WAL, ``synchronous=FULL``) shared by threads.

    The main file holds the keys and lane 0; appends go to the lane this store claims at
    its first append (see the module's notes). Writes go through one connection per file
    under a lock; short reads (key lookups, decisions) use other connections so they
    never wait behind an append's fsync.
    """

    _errors = (sqlite3.Error,)
    local = True

    def __init__(
        self,
        path: Path,
        *,
        timeout_s: float = 2.0,
        checkpoint_every_s: float | None = None,
        min_free_bytes: int = 0,
    ) -> None:
        self.path = path
        self.description = f"SQLite {path}"
        self._timeout_s = timeout_s
        self._min_free_bytes = min_free_bytes
        self._checkpoint_every_s = checkpoint_every_s
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._lane: _Lane | None = None
        self._readers: dict[int, sqlite3.Connection] = {}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect(path)
            self._conn.executescript(_schema("sqlite"))
            self._readers[0] = self._connect(path)
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

    def lane_path(self, lane: int) -> Path:
        """Return the file of ``lane``: the main file for lane 0."""
        if lane == 0:
            return self.path
        return self.path.with_name(f"{self.path.stem}.lane{lane}{self.path.suffix}")

    def lanes(self) -> list[int]:
        """Return lane 0 and every lane in the register, in order."""
        with self._read_lock:
            found = self._readers[0].execute("SELECT lane FROM audit_lanes ORDER BY lane")
            return [0, *(int(r[0]) for r in found)]

    def lane_problems(self) -> list[str]:
        """Name registered lanes whose file is gone and lane files the register lacks."""
        registered = set(self.lanes())
        problems = [
            f"lane {lane}: its file {self.lane_path(lane)} is missing"
            for lane in sorted(registered)
            if not self.lane_path(lane).exists()
        ]
        pattern = f"{self.path.stem}.lane*{self.path.suffix}"
        for path in sorted(self.path.parent.glob(pattern)):
            number = path.name[len(self.path.stem) + 5 : len(path.name) - len(self.path.suffix)]
            if not (number.isdigit() and int(number) in registered):
                problems.append(f"{path} looks like a lane file but is not in the register")
        return problems

    def _checkpoint_loop(self, every_s: float) -> None:
        conns: dict[Path, sqlite3.Connection] = {}
        try:
            while not self._stop.wait(every_s):
                lane = self._lane
                path = self.path if lane is None else lane.path
                try:
                    if path not in conns:
                        conns[path] = self._connect(path)
                    conns[path].execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the backstop still bounds the log
                    log.warning("background checkpoint of %s failed: %s", path, exc)
        finally:
            for conn in conns.values():
                conn.close()

    def _connect(self, path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(
            path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._timeout_s,
        )
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreUnavailableError(f"SQLite {path} cannot use WAL mode; got {mode!r}")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _existing(self, lane: int) -> Path:
        path = self.lane_path(lane)
        if lane and not path.exists():  # connecting would create an empty lane
            raise StoreUnavailableError(f"lane {lane} of {self.description}: {path} is missing")
        return path

    def _time_param(self, value: datetime) -> object:
        return utc_iso(value)

    @contextmanager
    def _reading(self, lane: int = 0) -> Iterator[_Cursor]:
        with self._read_lock, _available(self.description, (sqlite3.OperationalError,)):
            conn = self._readers.get(lane)
            if conn is None:
                conn = self._readers[lane] = self._connect(self._existing(lane))
            yield conn.cursor()

    @contextmanager
    def _streaming(self, lane: int = 0) -> Iterator[_Cursor]:
        with _available(self.description, (sqlite3.OperationalError,)):
            conn = self._connect(self._existing(lane))
            try:
                conn.execute("PRAGMA query_only = ON")
                yield conn.cursor()
            finally:
                conn.close()

    @contextmanager
    def _writing(self, *, chain: bool) -> Iterator[_Cursor]:
        # The keys: rare writes to the main file, serialised by SQLite's own lock.
        with self._lock:
            _check_not_replaced(self.path, self._inode)
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def append_many(self, drafts: Sequence[DecisionDraft | PreparedDraft]) -> list[StoredRecord]:
        """Seal ``drafts`` as the next records of this store's lane and commit them at once."""
        with self._lock:
            try:
                lane = self._owned_lane()
                try:
                    return self._insert(lane, drafts)
                except sqlite3.IntegrityError:
                    # A writer that does not take lanes (an older jifen during an upgrade)
                    # appended to this file: nothing was stored; read the head again, once.
                    lane.next = None
                    return self._insert(lane, drafts)
            except self._failures as exc:
                if self._lane is not None:
                    self._lane.next = None  # whatever happened, read the head again
                raise self._not_recorded(drafts, exc) from exc

    def _insert(
        self, lane: _Lane, drafts: Sequence[DecisionDraft | PreparedDraft]
    ) -> list[StoredRecord]:
        records, params = self._seal_group(drafts, lane.number, *lane.start())
        if len(params) == 1:  # autocommit: one statement, one fsync
            lane.conn.execute(_INSERT_RECORD, params[0])
        else:
            lane.conn.execute("BEGIN IMMEDIATE")
            try:
                lane.conn.executemany(_INSERT_RECORD, params)
                lane.conn.execute("COMMIT")
            except BaseException:
                if lane.conn.in_transaction:
                    lane.conn.execute("ROLLBACK")
                raise
        last = records[-1]
        lane.next = (last.sequence + 1, last.hash)
        return records

    def _owned_lane(self) -> _Lane:
        """Return the store's lane (claimed if need be), its file checked to be the one opened."""
        lane = self._claim()
        _check_not_replaced(lane.path, lane.inode)
        return lane

    def _claim(self) -> _Lane:
        """Return this store's lane, claiming the first free one (created if need be)."""
        if self._lane is not None:
            return self._lane
        for number in range(MAX_LANES):
            path = self.lane_path(number)
            fd = os.open(f"{path}-owner.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                conn = self._conn if number == 0 else self._open_lane(number, path)
                self._lane = _Lane(number, path, fd, conn)
            except BaseException:
                os.close(fd)
                raise
            log.info("appending to lane %d of %s (%s)", number, self.description, path.name)
            return self._lane
        raise AuditWriteError(
            f"{self.description}: all {MAX_LANES} lanes are owned by other processes"
        )

    def _open_lane(self, number: int, path: Path) -> sqlite3.Connection:
        conn = self._connect(path)
        try:
            conn.executescript(_schema("sqlite"))
            if self._checkpoint_every_s is not None:
                conn.execute(f"PRAGMA wal_autocheckpoint = {10 * _WAL_PAGES}")
            self._conn.execute(
                "INSERT OR IGNORE INTO audit_lanes (lane, created_at) VALUES (?, ?)",
                (number, utc_iso(datetime.now(UTC))),
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def check_writable(self) -> str | None:
        """Claim a lane and take its write lock; report a replaced file or a stuck writer.

        Also a disk with less room than the store needs: taking the lock writes nothing, so
        a full disk passes it while every append fails.
        """
        try:
            with self._lock:
                lane = self._owned_lane()
                lane.conn.execute("BEGIN IMMEDIATE")
                lane.conn.execute("ROLLBACK")
            return self._disk_problem(lane.path)
        except (sqlite3.Error, OSError, AuditWriteError) as exc:
            return f"{self.description} is not writable: {exc}"

    def _disk_problem(self, path: Path) -> str | None:
        """Say so when the disk holding ``path`` has less free space than configured."""
        stat = os.statvfs(path.parent)
        free = stat.f_bavail * stat.f_frsize
        if free >= self._min_free_bytes and free > 0:
            return None
        return (
            f"{self.description} is not writable: the disk holding {path.parent} has "
            f"{free / MB:.1f} MB free, below the {self._min_free_bytes / MB:g} MB the audit log "
            "needs (audit_min_free_mb); every decision would fail to be recorded"
        )

    def close(self) -> None:
        """Close the connections and give up the lane."""
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=self._timeout_s + 1)
        with self._lock, self._read_lock:
            if self._lane is not None:
                self._lane.release(close_conn=self._lane.number != 0)
                self._lane = None
            self._conn.close()
            for conn in self._readers.values():
                conn.close()


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
            reconnect_timeout=RECONNECT_WINDOW_S,
            configure=_configure_pg,
            open=False,
            name="jifen-audit",
        )
        try:
            self._pool.open(wait=True, timeout=timeout_s)
            with self._writing(chain=True) as cur:
                cur.execute(_schema("postgres"))
        except (psycopg.Error, StoreUnavailableError) as exc:
            self._pool.close()
            raise StoreUnavailableError(f"cannot open {self.description}: {exc}") from exc

    def _time_param(self, value: datetime) -> object:
        return value

    @contextmanager
    def _reading(self, lane: int = 0) -> Iterator[_Cursor]:
        _only_lane_zero(lane)
        with (
            _available(self.description, _PG_DOWN),
            self._pool.connection() as conn,
            conn.cursor() as cur,
        ):
            yield _PgCursor(cur)

    @contextmanager
    def _streaming(self, lane: int = 0) -> Iterator[_Cursor]:
        _only_lane_zero(lane)
        # A named (server-side) cursor streams rows instead of loading the whole log.
        with (
            _available(self.description, _PG_DOWN),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="jifen_audit_stream") as cur,
        ):
            cur.itersize = 2000
            yield _PgCursor(cur)

    @contextmanager
    def _writing(self, *, chain: bool) -> Iterator[_Cursor]:
        with (
            _available(self.description, _PG_DOWN),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
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
        except StoreUnavailableError as exc:  # the underlying error, named once
            return f"{self.description} is not reachable: {_reason(exc.__cause__ or exc)}"
        except psycopg.Error as exc:
            return f"{self.description} cannot be checked: {_reason(exc)}"
        if recovery or read_only == "on":
            return f"{self.description} is read-only (standby or read-only transactions)"
        return None

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()


def _only_lane_zero(lane: int) -> None:
    if lane != 0:
        raise StoreUnavailableError(f"PostgreSQL keeps one lane (0); lane {lane} does not exist")


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
    min_free_bytes: int = 0,
) -> Store:
    """Open (and create if needed) the store at ``target``.

    ``timeout_s`` bounds how long an append waits for the database before it fails: the
    SQLite write lock, or a PostgreSQL connection from the pool. ``checkpoint_every_s``
    (SQLite, long-running servers) moves WAL checkpoints out of commits into a thread.
    ``min_free_bytes`` (SQLite) is the free disk space below which the store does not call
    itself writable.
    """
    if isinstance(target, SqliteTarget):
        return SqliteStore(
            target.path,
            timeout_s=timeout_s,
            checkpoint_every_s=checkpoint_every_s,
            min_free_bytes=min_free_bytes,
        )
    return PostgresStore(target.dsn, pool_size=pool_size, timeout_s=timeout_s)
