"""Settings of the scoring service: one class, read once from the environment (``JIFEN_*``).

Development is permissive; production refuses values that would lose audit records or
let anyone in with a published key. ``get_settings()`` turns a refusal into a
``ConfigError`` whose message names the setting and the rule, never a password.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jifen.errors import ConfigError

BATCH_HARD_LIMIT: Final = 1000
"""Largest batch the request schema accepts whatever the settings say."""
TEMPORARY_DIRS: Final = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))
SQLITE_PREFIX: Final = "sqlite:///"
POSTGRES_PREFIXES: Final = ("postgresql://", "postgres://")
_PASSWORD_IN_URL: Final = re.compile(r"(://[^:/@\s'\"]*:)[^@\s/'\"]*@")
_PASSWORD_KEYWORD: Final = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


@dataclass(frozen=True)
class SqliteTarget:
    """An audit database in one SQLite file."""

    path: Path


@dataclass(frozen=True)
class PostgresTarget:
    """An audit database on a PostgreSQL server."""

    dsn: str


AuditTarget = SqliteTarget | PostgresTarget


@dataclass(frozen=True)
class BodyLimits:
    """What a JSON request body may be, checked before it is parsed (``serving.api.limits``)."""

    max_bytes: int
    """Larger bodies are refused with a 413, read no further than this."""
    max_depth: int
    """Deepest nesting of arrays and objects; deeper is a 400."""
    max_number_digits: int
    """Most digits in one JSON number; more is a 400."""


def redact_dsn(dsn: str) -> str:
    """Return ``dsn`` with any password replaced by ``***`` (safe for logs and errors)."""
    return _PASSWORD_KEYWORD.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", dsn))


def parse_audit_dsn(dsn: str) -> AuditTarget:
    """Turn ``sqlite:///<path>`` or ``postgresql://...`` into where the audit log lives.

    As in SQLAlchemy, ``sqlite:///data/a.db`` is relative and ``sqlite:////srv/a.db`` absolute.
    """
    if dsn.startswith(SQLITE_PREFIX) and len(dsn) > len(SQLITE_PREFIX):
        return SqliteTarget(Path(dsn[len(SQLITE_PREFIX) :]))
    if dsn.startswith(POSTGRES_PREFIXES):
        return PostgresTarget(dsn)
    raise ConfigError(
        f"audit_dsn must start with {SQLITE_PREFIX!r} followed by a path, or with "
        f"'postgresql://'; got {redact_dsn(dsn)!r}"
    )


@dataclass(frozen=True)
class AnchorFolder:
    """Published audit anchors in a folder: ``anchors.jsonl`` and the public key beside it."""

    path: Path


@dataclass(frozen=True)
class AnchorDatabase:
    """Published audit anchors in tables of a PostgreSQL database."""

    dsn: str


AnchorTarget = AnchorFolder | AnchorDatabase


def parse_anchor_store(text: str) -> AnchorTarget:
    """Read where anchors are published: ``postgresql://...`` or a folder path."""
    if text.startswith(POSTGRES_PREFIXES):
        return AnchorDatabase(text)
    if not text or "://" in text:
        raise ConfigError(
            f"anchor store must be a folder path or start with 'postgresql://'; "
            f"got {redact_dsn(text)!r}"
        )
    return AnchorFolder(Path(text))


def _is_temporary(path: Path) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(tmp.resolve()) for tmp in TEMPORARY_DIRS)


class ServingSettings(BaseSettings):
    """Everything the scoring service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="JIFEN_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    """Root of the data tables; the default SQLite audit log lives under it."""
    audit_dsn: str | None = None
    """``sqlite:///<path>`` or ``postgresql://...``; default: SQLite under ``data_dir``."""
    bundle_dir: Path = Path("models")
    """Where ``jifen train`` writes model bundles (``<name>/<version>/``)."""
    model_name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """Model to serve; default: the only model under ``bundle_dir`` (or in the registry)."""
    bundle_version: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """Pin one bundle version; default: the newest under ``bundle_dir/<name>``."""
    mlflow_tracking_uri: str | None = None
    """When set, serve the registry version behind ``model_alias`` instead of ``bundle_dir``."""
    model_alias: str = Field("champion", min_length=1, max_length=64)
    """MLflow registry alias of the model to serve."""
    model_cache_size: int = Field(4, ge=1, le=32)
    """Loaded model versions kept in memory (the served one plus recent ones for replays)."""
    reload_timeout_s: float = Field(120.0, gt=0, le=900)
    """How long every worker may take to load and check a bundle in a reload, and again to
    swap it in; a worker that has not loaded it by then makes the reload a 503 (none swaps)."""
    feature_repo_dir: Path | None = None
    """Feast repository (holds ``feature_store.yaml``); default: ``data_dir/features``."""
    feature_service: str = Field("credit_risk_v1", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    """Feast feature service whose views make up a firm's online vector."""
    feature_set: str = Field("v1", pattern=r"^v\d+(\.\d+)*$")
    """Feature definitions (descriptions, directions) the reasons are written from."""
    policy_path: Path | None = None
    """Decision policy YAML; default: the shipped ``serving/config/policy.yaml``."""
    reasons_path: Path | None = None
    """Reason texts YAML; default: the shipped ``serving/config/reasons.yaml``."""
    reasons_per_direction: int = Field(5, ge=1, le=50)
    """Reasons returned on each side (raising and lowering the risk)."""
    worker_threads: int = Field(4, ge=1, le=256)
    """Threads that run blocking route code (FastAPI's pool). Few: scoring is CPU work under
    one GIL, and more threads only add switching; waits for the audit commit do not hold one."""
    score_block_max: int = Field(16, ge=1, le=256)
    """Most single applications scored as one block when they reach a worker in the same
    turn of its event loop (``serving.core.coalescer``); 1 scores each on its own."""
    gil_switch_ms: float = Field(1.0, gt=0, le=100)
    """How long a thread that wants the GIL waits before the running one must hand it over
    (``sys.setswitchinterval``; Python's default is 5 ms). The audit writer thread needs the
    GIL back after each database call (its fsync included), and the event loop thread
    computes scores in runs of a millisecond or more: at 1 ms the open-loop p99 was lower
    than at 5 ms in each of five interleaved comparisons."""
    audit_group_max: int = Field(64, ge=1, le=1000)
    """Most decisions committed in one audit transaction (group commit, one fsync)."""
    fast_score: bool = True
    """Answer ``POST /v1/score`` without FastAPI's per-request machinery (same contract, see
    ``serving.api.fast_score``); false sends it through the framework like every route."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    batch_max_size: int = Field(100, ge=1, le=BATCH_HARD_LIMIT)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=256 * 1_048_576)
    """Largest request body (bytes): larger is a 413, and the body is read no further. A
    single application is a few hundred bytes, a batch of 1,000 about 350 KB."""
    max_json_depth: int = Field(64, ge=8, le=512)
    """Deepest nesting of arrays and objects in a JSON body (ours is at most 4 deep); deeper
    is a 400, refused before the parser recurses into it."""
    max_number_digits: int = Field(100, ge=20, le=4000)
    """Most digits in one number of a JSON body; more is a 400 (a 5,000-digit integer costs
    quadratic time to convert, and no amount or feature needs more than 20)."""
    demo_keys: bool = False
    """Seed well-known keys for local trials; refused in production."""
    key_cache_s: float = Field(1.0, ge=0, le=60)
    """How long a verified API key is trusted without reading the store again: a key
    revoked from another process stops working within this time; 0 reads it every time."""
    audit_min_free_mb: float = Field(64.0, ge=0)
    """Free space (MB) the disk of a SQLite audit log needs for ``/ready`` to say ready:
    below it the decisions would soon fail to be recorded, each a 503."""
    db_timeout_s: float = Field(2.0, gt=0, le=60)
    """How long an append waits for the database (SQLite write lock, PostgreSQL connection)."""
    pg_pool_size: int = Field(4, ge=1, le=64)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_dir: Path | None = None
    """Folder where the workers of one server share their metric values; ``jifen serve
    --workers N`` makes a fresh one. Unset: one process, values in memory."""
    anchors: bool = True
    """Publish the audit log's chain heads, signed, outside the log (``anchor_every_s``
    and at shutdown), so ``jifen audit verify`` catches a cut or replaced tail."""
    anchor_dir: Path | None = None
    """Folder the anchors are published in (``anchors.jsonl``, the public key beside it);
    default ``data_dir/anchors``. Not the audit log's own folder."""
    anchor_dsn: str | None = None
    """``postgresql://...``: publish the anchors in this database instead of
    ``anchor_dir`` (another database than the audit log's)."""
    anchor_key_path: Path | None = None
    """Ed25519 key the anchors are signed with, made on first use (mode 0600); default
    ``data_dir/keys/anchor_ed25519.pem``."""
    anchor_every_s: float = Field(10.0, gt=0, le=3600)
    """How often the chain heads are published: a tail cut within this time of the last
    publication is not caught."""

    @field_validator("audit_dsn")
    @classmethod
    def _dsn_has_known_scheme(cls, value: str | None) -> str | None:
        if value is not None:
            parse_audit_dsn(value)
        return value

    @property
    def feature_repo(self) -> Path:
        """The Feast repository folder the online vectors are read through."""
        return self.feature_repo_dir or self.data_dir / "features"

    @property
    def body_limits(self) -> BodyLimits:
        """The limits every JSON request body is checked against."""
        return BodyLimits(self.max_body_bytes, self.max_json_depth, self.max_number_digits)

    @property
    def audit_target(self) -> AuditTarget:
        """Where the audit log and the API keys are stored."""
        if self.audit_dsn is None:
            return SqliteTarget(self.data_dir / "serving" / "audit.sqlite3")
        return parse_audit_dsn(self.audit_dsn)

    @property
    def anchor_target(self) -> AnchorTarget:
        """Where the audit anchors are published."""
        if self.anchor_dsn is not None:
            return AnchorDatabase(self.anchor_dsn)
        return AnchorFolder(self.anchor_dir or self.data_dir / "anchors")

    @property
    def anchor_key(self) -> Path:
        """The private key file the anchors are signed with."""
        return self.anchor_key_path or self.data_dir / "keys" / "anchor_ed25519.pem"

    @model_validator(mode="after")
    def _keep_anchors_outside_the_log(self) -> "ServingSettings":
        target, anchors = self.audit_target, self.anchor_target
        if self.anchor_dsn is not None and not self.anchor_dsn.startswith(POSTGRES_PREFIXES):
            raise ValueError(
                f"anchor_dsn must start with 'postgresql://'; got {redact_dsn(self.anchor_dsn)!r}"
            )
        if (
            isinstance(anchors, AnchorDatabase)
            and isinstance(target, PostgresTarget)
            and postgres_database(anchors.dsn) == postgres_database(target.dsn)
        ):
            raise ValueError(
                "anchor_dsn must name another database than audit_dsn (anchors kept with "
                f"the log go with it); got {redact_dsn(anchors.dsn)!r} for both"
            )
        if (
            isinstance(anchors, AnchorFolder)
            and isinstance(target, SqliteTarget)
            and anchors.path.resolve() == target.path.parent.resolve()
        ):
            raise ValueError(
                "anchor_dir must be another folder than the audit log's (anchors kept "
                f"with the log go with it); got {str(anchors.path)!r}"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production_values(self) -> "ServingSettings":
        if self.environment != "production":
            return self
        if self.demo_keys:
            raise ValueError("demo_keys must be false in production; got true")
        if not self.anchors:
            raise ValueError(
                "anchors must be true in production (a cut audit tail would go unnoticed); "
                "got false"
            )
        target = self.audit_target
        if isinstance(target, SqliteTarget):
            if not target.path.is_absolute():
                raise ValueError(
                    "audit_dsn must name an absolute SQLite path in production; "
                    f"got {str(target.path)!r}"
                )
            if _is_temporary(target.path):
                raise ValueError(
                    "audit_dsn must not point into a temporary directory in production "
                    f"(records would not survive a reboot); got {str(target.path)!r}"
                )
        return self


def postgres_database(dsn: str) -> tuple[str, str, str]:
    """Host, port and database a PostgreSQL DSN names (defaults filled in as libpq does)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # malformed: the connection will say more
        return ("?", "?", dsn)
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    user = str(parts.get("user") or "")
    return (host, str(parts.get("port") or "5432"), str(parts.get("dbname") or user))


def load_settings(**overrides: object) -> ServingSettings:
    """Build settings from the environment plus ``overrides``; ConfigError if refused."""
    try:
        return ServingSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # Rebuild the message without pydantic's echo of inputs: a DSN may hold a password.
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: "
            f"{redact_dsn(err['msg'].removeprefix('Value error, '))}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid serving settings: {reasons}") from None


@lru_cache(maxsize=1)
def get_settings() -> ServingSettings:
    """Return the settings of this process, read from the environment once."""
    return load_settings()
