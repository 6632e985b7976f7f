"""Where signed audit anchors are kept: a folder, or tables of a PostgreSQL database.

A folder holds ``anchors.jsonl`` (one anchor a line, appended in one write per
publication and fsynced) and ``anchor-key-<key id>.pub`` beside it. A database holds
``audit_anchors`` and ``audit_anchor_keys``, append-only (``sql/anchors_postgres.sql``).
Either is outside the audit log's own files: the settings refuse the log's folder or
database.
"""

import heapq
import os
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import orjson
import psycopg
from pydantic import ValidationError

from jifen.errors import ConfigError
from serving.core.anchors import (
    AnchorKey,
    AnchorReading,
    PublishedAnchors,
    SignedAnchor,
    load_public_key,
    public_key_id,
    select_latest,
)
from serving.core.config import AnchorDatabase, AnchorFolder, AnchorTarget, redact_dsn
from serving.errors import StoreUnavailableError

ANCHORS_FILE: Final = "anchors.jsonl"
_CANDIDATES: Final = 8
"""Anchors kept per lane while reading, newest first: the newest whose signature holds wins."""
_SCHEMA_LOCK: Final = 0x4A4946454E41  # "JIFENA": creating the anchor tables


class AnchorStore(ABC):
    """Where anchors are published and read back."""

    description: str

    @abstractmethod
    def publish(self, anchors: Sequence[SignedAnchor], key: AnchorKey) -> None:
        """Append ``anchors`` durably, with ``key``'s public key beside them.

        Raises:
            StoreUnavailableError: nothing could be written.

        """

    @abstractmethod
    def read(self, log_name: str) -> AnchorReading:
        """Return the newest anchors of ``log_name`` (StoreUnavailableError if unreadable)."""

    def close(self) -> None:  # noqa: B027  (most stores hold nothing open)
        """Release connections (none by default)."""


class _Newest:
    """Keeps the newest few raw anchors of each lane while a store is scanned."""

    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[int, int, dict[str, Any], str]]] = {}
        self._count = 0

    def offer(self, data: dict[str, Any], where: str) -> None:
        lane, sequence = data.get("lane"), data.get("sequence")
        key = (lane, sequence) if type(lane) is int and type(sequence) is int else (-1, 0)
        heap = self._heaps.setdefault(key[0], [])
        self._count += 1
        item = (key[1], self._count, data, where)  # later publication wins a tie
        if len(heap) < _CANDIDATES:
            heapq.heappush(heap, item)
        else:
            heapq.heappushpop(heap, item)

    def into(self, reading: AnchorReading) -> None:
        for heap in self._heaps.values():
            for _, _, data, where in sorted(heap, key=lambda i: (i[0], i[1]), reverse=True):
                try:
                    reading.candidates.append((SignedAnchor.model_validate(data), where))
                except ValidationError as exc:
                    reading.problems.append(f"{where} is not a valid anchor: {_first(exc)}")


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'anchor'}: {error['msg']}"


class FolderAnchorStore(AnchorStore):
    """Anchors appended to ``<folder>/anchors.jsonl``; public keys as ``anchor-key-<id>.pub``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / ANCHORS_FILE
        self.description = str(self.path)

    def publish(self, anchors: Sequence[SignedAnchor], key: AnchorKey) -> None:
        """Append one line per anchor in a single write, then fsync."""
        data = "".join(f"{a.line()}\n" for a in anchors).encode("utf-8")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_public_key(key)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # One write of whole lines: lines of workers publishing at once never mix.
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write: {written} of {len(data)} bytes")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreUnavailableError(f"anchors not published in {self.path}: {exc}") from exc

    def _write_public_key(self, key: AnchorKey) -> None:
        path = self.folder / f"anchor-key-{key.key_id}.pub"
        if path.exists():
            return
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(key.public_pem)
        temporary.replace(path)

    def read(self, log_name: str) -> AnchorReading:
        """Scan the file once, keeping the newest anchors of each lane of ``log_name``."""
        reading = AnchorReading()
        try:
            for path in sorted(self.folder.glob("anchor-key-*.pub")):
                self._read_public_key(path, reading)
            if self.path.exists():
                self._scan(log_name, reading)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read anchors in {self.folder}: {exc}") from exc
        return reading

    def _read_public_key(self, path: Path, reading: AnchorReading) -> None:
        pem = path.read_bytes()
        try:
            key_id = public_key_id(load_public_key(pem, str(path)))
        except ConfigError as exc:
            reading.problems.append(str(exc))
            return
        if path.name != f"anchor-key-{key_id}.pub":
            reading.problems.append(f"{path} holds key {key_id}, not the key its name says")
            return
        reading.public_keys[key_id] = pem

    def _scan(self, log_name: str, reading: AnchorReading) -> None:
        newest = _Newest()
        with self.path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                where = f"{self.path.name} line {number}"
                try:
                    data = orjson.loads(line)
                except orjson.JSONDecodeError:
                    reading.problems.append(f"{where} is not JSON")
                    continue
                name = data.get("log") if isinstance(data, dict) else None
                if not isinstance(name, str):
                    reading.problems.append(f"{where} is not an anchor (no log named)")
                elif name != log_name:
                    reading.other_logs[name] = reading.other_logs.get(name, 0) + 1
                else:
                    newest.offer(data, where)
        newest.into(reading)


class PostgresAnchorStore(AnchorStore):
    """Anchors in ``audit_anchors`` of a PostgreSQL database, keys in ``audit_anchor_keys``.

    A connection per publication: one every few seconds costs nothing worth a pool.
    """

    def __init__(self, dsn: str, *, timeout_s: float = 2.0) -> None:
        self._dsn = dsn
        self._timeout = max(2, round(timeout_s))  # libpq's shortest connect timeout
        self.description = f"PostgreSQL {redact_dsn(dsn)} (audit_anchors)"
        self._schema_ready = False

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._dsn, connect_timeout=self._timeout)

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        if self._schema_ready:
            return
        schema = (files("serving.core") / "sql" / "anchors_postgres.sql").read_text("utf-8")
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(schema)
        self._schema_ready = True

    def publish(self, anchors: Sequence[SignedAnchor], key: AnchorKey) -> None:
        """Insert the anchors (and the public key, once) in one transaction."""
        rows = [
            (a.log, a.lane, a.sequence, a.hash, a.published_at, a.key_id, a.signature, a.format)
            for a in anchors
        ]
        try:
            with self._connect() as conn:
                self._ensure_schema(conn)
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO audit_anchor_keys (key_id, public_key) VALUES (%s, %s) "
                        "ON CONFLICT (key_id) DO NOTHING",
                        (key.key_id, key.public_pem.decode("ascii")),
                    )
                    cur.executemany(
                        "INSERT INTO audit_anchors (log, lane, sequence, hash, published_at, "
                        "key_id, signature, format) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"anchors not published in {self.description}: {exc}"
            ) from exc

    def read(self, log_name: str) -> AnchorReading:
        """Read the newest anchors of each lane of ``log_name`` and every public key."""
        reading = AnchorReading()
        try:
            with self._connect() as conn:
                if conn.execute("SELECT to_regclass('audit_anchors')").fetchone() == (None,):
                    return reading  # nothing was ever published here
                self._read_into(conn, log_name, reading)
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot read anchors in {self.description}: {exc}"
            ) from exc
        return reading

    def _read_into(
        self, conn: psycopg.Connection[Any], log_name: str, reading: AnchorReading
    ) -> None:
        for key_id, pem in conn.execute("SELECT key_id, public_key FROM audit_anchor_keys"):
            reading.public_keys[key_id] = pem.encode("ascii")
        newest = conn.execute(
            "SELECT id, format, log, lane, sequence, hash, published_at, key_id, signature "
            "FROM (SELECT *, row_number() OVER (PARTITION BY lane ORDER BY sequence DESC, "
            "id DESC) AS rank FROM audit_anchors WHERE log = %s) AS a WHERE rank <= %s "
            "ORDER BY lane, sequence DESC, id DESC",
            (log_name, _CANDIDATES),
        )
        names = ("format", "log", "lane", "sequence", "hash", "published_at", "key_id")
        for row_id, *values, signature in newest:
            data = {**dict(zip(names, values, strict=True)), "signature": signature}
            data["hash"] = str(data["hash"]).strip()  # CHAR(64)
            where = f"audit_anchors id {row_id}"
            try:
                reading.candidates.append((SignedAnchor.model_validate(data), where))
            except ValidationError as exc:
                reading.problems.append(f"{where} is not a valid anchor: {_first(exc)}")
        others = conn.execute(
            "SELECT log, count(*) FROM audit_anchors WHERE log <> %s GROUP BY log", (log_name,)
        )
        reading.other_logs.update({name: int(n) for name, n in others})


def open_anchor_store(target: AnchorTarget, *, timeout_s: float = 2.0) -> AnchorStore:
    """Return the anchor store at ``target`` (nothing is opened until it is used)."""
    if isinstance(target, AnchorFolder):
        return FolderAnchorStore(target.path)
    assert isinstance(target, AnchorDatabase)  # the union has two members
    return PostgresAnchorStore(target.dsn, timeout_s=timeout_s)


def read_published(
    store: AnchorStore, log_name: str, trusted: Collection[str] | None = None
) -> PublishedAnchors:
    """Read ``store`` and select the anchors ``log_name`` is checked against."""
    return select_latest(store.read(log_name), store.description, log_name, trusted)
