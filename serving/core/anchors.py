"""Signed anchors: the audit log's chain heads, kept outside the log.

A hash chain shows a record altered, removed or reordered among the records it still
holds, but not a tail cut off, nor a tail replaced by forged records chained correctly
from the cut: either leaves a valid chain. An anchor (a lane's sequence and hash at a
moment) kept where the log's files are not catches both, because the anchored record
must still be there with that hash; and a lane removed whole (its file and its register
row) was anchored and is gone.

The service publishes the head of every lane on a schedule and at a clean shutdown
(``serving.core.anchor_publisher``), each anchor signed with an Ed25519 key it holds (made
on first use, mode 0600), into a folder or a PostgreSQL database with the public key
beside the anchors (``serving.core.anchor_store``), so a verifier needs no secret. This
module defines a signed anchor, the key, and which anchors a log is checked against: per
lane, the newest whose signature holds (``select_latest``).

An anchor names its log by where the log is (``log_id``); anchors of other logs kept in
the same place are left aside.
"""

import base64
import hashlib
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from jifen.errors import ConfigError
from serving.core.audit import Anchor, canonical_json
from serving.core.config import AuditTarget, ServingSettings, SqliteTarget, postgres_database
from serving.schemas import utc_iso

log = logging.getLogger(__name__)

ANCHOR_FORMAT: Final = "jifen-anchor/1"


def log_id(target: AuditTarget) -> str:
    """Name an audit log by where it is: its main file, or its PostgreSQL database."""
    if isinstance(target, SqliteTarget):
        return f"sqlite:///{target.path.resolve()}"
    host, port, database = postgres_database(target.dsn)
    return f"postgresql://{host}:{port}/{database}"


class SignedAnchor(BaseModel):
    """One published anchor: a lane's head, who published it when, and the signature."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    format: Literal["jifen-anchor/1"] = ANCHOR_FORMAT
    log: str = Field(min_length=1)
    lane: int = Field(ge=0)
    sequence: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    published_at: str
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature: str
    """Ed25519 signature (base64) of the canonical JSON of every other field."""

    def message(self) -> bytes:
        """Return the bytes the signature covers."""
        return canonical_json(self.model_dump(exclude={"signature"})).encode("utf-8")

    def line(self) -> str:
        """Return the anchor as one line of ``anchors.jsonl`` (without the newline)."""
        return canonical_json(self.model_dump())

    def anchor(self, where: str) -> Anchor:
        """Return the anchor the chain verifier checks, saying where it was published."""
        return Anchor(
            self.sequence, self.hash, self.lane, origin=f"published {self.published_at} in {where}"
        )


def public_key_id(key: Ed25519PublicKey) -> str:
    """Name a public key by the first 16 hex digits of its SHA-256 (short and stable)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    """Read an Ed25519 public key (PEM); ConfigError naming ``where`` if it is not one."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ConfigError(f"{where} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where} must hold an Ed25519 public key; got {type(key).__name__}")
    return key


class AnchorKey:
    """The private key the service signs anchors with."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = public_key_id(self.public)
        self.public_pem = self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def load(cls, path: Path) -> "AnchorKey":
        """Read the key file, refusing one that others than its owner may read.

        Raises:
            ConfigError: the file cannot be read, is open to others, or is not an Ed25519 key.

        """
        try:
            mode = path.stat().st_mode & 0o777
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the anchor key {path}: {exc}") from exc
        if mode & 0o077:
            raise ConfigError(
                f"the anchor key {path} must be readable by its owner only (mode 0600); "
                f"got {mode:04o}"
            )
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise ConfigError(f"{path} must hold an Ed25519 key; got {type(private).__name__}")
        return cls(private)

    @classmethod
    def load_or_create(cls, path: Path) -> "AnchorKey":
        """Read the key file, making a new key there (mode 0600) if there is none."""
        if not path.exists():
            _create_key_file(path)
        return cls.load(path)

    def sign(self, log_name: str, head: Anchor, published_at: datetime) -> SignedAnchor:
        """Sign ``head`` (a lane's sequence and hash) as published now for ``log_name``."""
        unsigned = SignedAnchor(
            log=log_name,
            lane=head.lane,
            sequence=head.sequence,
            hash=head.hash,
            published_at=utc_iso(published_at),
            key_id=self.key_id,
            signature="",
        )
        signature = base64.b64encode(self._private.sign(unsigned.message())).decode("ascii")
        return unsigned.model_copy(update={"signature": signature})


def _create_key_file(path: Path) -> None:
    """Write a fresh key to ``path`` unless another process got there first."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # never replaces a key another worker made meanwhile
        except FileExistsError:
            pass
        else:
            log.warning("made a new anchor signing key %s", path)
    except OSError as exc:
        raise ConfigError(f"cannot create the anchor key {path}: {exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)


def verify_signature(anchor: SignedAnchor, key: Ed25519PublicKey) -> bool:
    """Whether ``anchor`` was signed by ``key`` exactly as it reads."""
    try:
        key.verify(base64.b64decode(anchor.signature, validate=True), anchor.message())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class AnchorReading:
    """What an anchor store holds for one log: the newest anchors per lane, and the keys."""

    candidates: list[tuple[SignedAnchor, str]] = field(default_factory=list)
    """Up to a few newest anchors of each lane, with where each was read."""
    public_keys: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    other_logs: dict[str, int] = field(default_factory=dict)
    """Anchors of other logs in the same store, counted by log."""


@dataclass
class PublishedAnchors:
    """The anchors a log is checked against: per lane, the newest whose signature holds."""

    source: str
    log: str
    anchors: dict[int, Anchor] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Anchors that fail their signature or cannot be read: each is a finding."""
    notes: list[str] = field(default_factory=list)
    key_ids: set[str] = field(default_factory=set)
    """Keys whose signatures were checked and held."""
    newest_at: str = ""
    """When the newest of the anchors kept was published."""


def select_latest(
    reading: AnchorReading, source: str, log_name: str, trusted: Collection[str] | None
) -> PublishedAnchors:
    """Keep, per lane, the newest anchor signed by a trusted key whose signature holds.

    ``trusted`` None trusts every public key published beside the anchors.
    """
    result = PublishedAnchors(source, log_name, problems=list(reading.problems))
    keys: dict[str, Ed25519PublicKey] = {}
    for key_id, pem in reading.public_keys.items():
        keys[key_id] = load_public_key(pem, f"public key {key_id} in {source}")
    untrusted = 0
    for signed, where in reading.candidates:
        if signed.lane in result.anchors:
            continue
        if trusted is not None and signed.key_id not in trusted:
            untrusted += 1
            continue
        key = keys.get(signed.key_id)
        what = f"anchor of lane {signed.lane} #{signed.sequence} in {where}"
        if key is None:
            result.problems.append(
                f"{what} is signed by key {signed.key_id}, whose public key is not in {source}"
            )
        elif not verify_signature(signed, key):
            result.problems.append(
                f"{what}: its signature does not verify with key {signed.key_id} "
                "(the anchor was altered or forged)"
            )
        else:
            result.anchors[signed.lane] = signed.anchor(where)
            result.key_ids.add(signed.key_id)
            result.newest_at = max(result.newest_at, signed.published_at)
    if untrusted:
        result.notes.append(
            f"{untrusted} anchor(s) signed by keys other than {', '.join(sorted(trusted or []))} "
            "left aside"
        )
    if not result.anchors and reading.other_logs:
        result.notes.append(
            f"{source} holds anchors of other logs only: {', '.join(sorted(reading.other_logs))}"
        )
    return result


def trusted_keys(settings: ServingSettings, pinned: Path | None) -> set[str] | None:
    """Return the key ids a verifier trusts.

    The pinned public key's; else the service's own key's, if this process can read it;
    else None: every key published beside the anchors.
    """
    if pinned is not None:
        try:
            pem = pinned.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the anchor public key {pinned}: {exc}") from exc
        return {public_key_id(load_public_key(pem, str(pinned)))}
    if settings.anchor_key.exists():
        try:
            return {AnchorKey.load(settings.anchor_key).key_id}
        except ConfigError as exc:
            log.warning("not using the service's anchor key to pick anchors: %s", exc)
    return None
