"""Request, stored and public shapes of the scoring service, kept apart on purpose.

- Requests (``ScoreRequest``, ``BatchScoreRequest``) validate what a bank sends; a 422
  names the field, the value's problem and the rule.
- Stored records (``DecisionDraft``, ``StoredRecord``, ``StoredKey``) are what the audit
  log and the key table hold.
- Public views (``DecisionPublic``, ``KeyPublic``, ``Caller``, ``Readiness``) are what
  leaves the service: never a key secret or its hash.
"""

import math
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
)

from features.contracts.tables import PRODUCTS, PURPOSES
from features.credit_code import ALPHABET, CODE_LENGTH, validate_credit_code
from serving.core.config import BATCH_HARD_LIMIT

AUDIT_FORMAT: Final = "jifen-audit/2"
"""Version of the sealed record layout written now; part of every hash."""
AUDIT_FORMATS: Final = ("jifen-audit/1", "jifen-audit/2")
"""Every layout the verifier reads (``serving.core.audit``: how each one is written)."""
MAX_AMOUNT_WAN: Final = 100_000.0
"""Largest amount (CNY 10k) a request may ask for; the applications contract's bound."""
TERMS_MONTHS: Final = (3, 6, 12, 24, 36)
MAX_INLINE_FEATURES: Final = 256
EARLIEST_APPLICATION: Final = date(2000, 1, 1)
"""Earliest application date accepted (older dates are typos, e.g. 0001-01-01)."""
CREDIT_CODE_FORMAT: Final = "gb32100-credit-code"
"""OpenAPI ``format`` of credit codes (property-based tests generate valid ones for it)."""
BUSINESS_TZ: Final = ZoneInfo("Asia/Shanghai")
"""Application dates are calendar dates in China."""


# --- shared field types ------------------------------------------------------------------


@lru_cache(maxsize=4096)
def utc_iso(value: datetime) -> str:
    """Format an aware time as UTC with microseconds and ``Z``: one spelling per instant.

    Cached: feature groups' as-of times repeat across decisions and strftime is slow.
    """
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


UtcTime = Annotated[AwareDatetime, PlainSerializer(utc_iso, return_type=str)]
"""An aware time that always serialises the same way, so hashes are reproducible."""
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
DecisionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
KeyId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,32}$")]
FeatureName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
_SHOWN: Final = 24
"""Characters of a refused string quoted back in an error."""
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- strict JSON types -----------------------------------------------------------------
# A bank's system that sends "300" or true for an amount has a bug: the request is refused,
# naming the field and what came, instead of being read as 300 or as 1 万元.


def _json_kind(value: object) -> str:
    """Describe a refused JSON value briefly (short strings quoted, never a whole object)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value[:_SHOWN]!r}" + ("..." if len(value) > _SHOWN else "")
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return repr(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_number(field: str) -> BeforeValidator:
    """Accept only a JSON number (integer or decimal): not a string, not a boolean."""

    def check(value: object) -> object:
        if not _is_number(value):
            raise ValueError(f"{field} must be a JSON number; got {_json_kind(value)}")
        return value

    return BeforeValidator(check)


def _json_integer(field: str) -> BeforeValidator:
    """Accept only a JSON integer: not 12.0, not "12", not true."""

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{field} must be a JSON integer; got {_json_kind(value)}")
        return value

    return BeforeValidator(check)


def _iso_date(value: object) -> object:
    """Accept a date written YYYY-MM-DD (or a date, from Python): not a number, not a time."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(
            f"application_date must be a date written YYYY-MM-DD; got {_json_kind(value)}"
        )
    return value


def _inline_numbers(value: object) -> object:
    """Accept only JSON numbers as inline feature values, naming the first that is not."""
    if isinstance(value, dict):
        for name, item in value.items():
            if not _is_number(item):
                raise ValueError(
                    f"inline_features[{str(name)[:64]!r}] must be a JSON number; "
                    f"got {_json_kind(item)}"
                )
    return value


def _one_of(field: str, allowed: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
        return value

    return AfterValidator(check)


def today_in_china() -> date:
    """Return today's date in the business time zone."""
    return datetime.now(BUSINESS_TZ).date()


def _within_range(value: date) -> date:
    if value < EARLIEST_APPLICATION:
        raise ValueError(
            f"application_date must be on or after {EARLIEST_APPLICATION.isoformat()}; "
            f"got {value.isoformat()}"
        )
    today = today_in_china()
    if value > today:
        raise ValueError(
            f"application_date must not be in the future; got {value.isoformat()}, "
            f"today in Asia/Shanghai is {today.isoformat()}"
        )
    return value


# --- requests ----------------------------------------------------------------------------


class Enterprise(BaseModel):
    """The applicant, identified by its unified social credit code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Checked before the type: one message names the rule for a number, "" or a typo alike.
    credit_code: Annotated[str, BeforeValidator(validate_credit_code)] = Field(
        description="统一社会信用代码: 18 characters with a GB 32100-2015 check character.",
        examples=["91110108MA01A2B32G"],
        json_schema_extra={
            "format": CREDIT_CODE_FORMAT,
            "minLength": CODE_LENGTH,
            "maxLength": CODE_LENGTH,
            "pattern": f"^[{ALPHABET}]{{{CODE_LENGTH}}}$",
        },
    )


class Application(BaseModel):
    """The loan asked for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product: Annotated[str, _one_of("product", PRODUCTS)] = Field(
        json_schema_extra={"enum": list(PRODUCTS)}
    )
    purpose: Annotated[str, _one_of("purpose", PURPOSES)] = Field(
        json_schema_extra={"enum": list(PURPOSES)}
    )
    amount_wan: Annotated[float, _json_number("amount_wan")] = Field(
        gt=0,
        le=MAX_AMOUNT_WAN,
        allow_inf_nan=False,
        description="Amount asked for, in 万元 (CNY 10k): a JSON number, not a string.",
    )
    term_months: Annotated[Literal[3, 6, 12, 24, 36], _json_integer("term_months")] = Field(
        description="Term in months: a JSON integer."
    )
    application_date: Annotated[date, BeforeValidator(_iso_date), AfterValidator(_within_range)]


class ScoreRequest(BaseModel):
    """One application to score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enterprise: Enterprise
    application: Application
    inline_features: Annotated[dict[FeatureName, FiniteFloat], BeforeValidator(_inline_numbers)] = (
        Field(
            default_factory=dict,
            max_length=MAX_INLINE_FEATURES,
            description="Feature values the bank supplies itself; finite JSON numbers only "
            "(not strings, not true or false).",
        )
    )
    request_id: DecisionId | None = Field(
        None, description="The caller's own reference, kept in the audit record."
    )


class BatchScoreRequest(BaseModel):
    """Several applications scored in one call; the settings may lower the bound."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[ScoreRequest] = Field(min_length=1, max_length=BATCH_HARD_LIMIT)


# --- audit records -----------------------------------------------------------------------


def _finite_json(value: JsonValue) -> JsonValue:
    # A NaN would make the canonical JSON (and so the hash) impossible to write.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"audit values must be finite numbers; got {value!r}")
    if isinstance(value, dict):
        for item in value.values():
            _finite_json(item)
    elif isinstance(value, list):
        for item in value:
            _finite_json(item)
    return value


JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_finite_json)]


class DecisionDraft(BaseModel):
    """A decision as the scorer hands it to the audit log, before it is sealed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_id: DecisionId
    caller_key_id: KeyId
    model_version: str = Field(min_length=1, max_length=128)
    catalogue_version: str = Field(min_length=1, max_length=128)
    feature_as_of: dict[str, UtcTime]
    """Per feature group, the time its values were known as of."""
    inputs: JsonObject
    """The request and the feature values exactly as the model used them."""
    outputs: JsonObject
    explanation: JsonObject


class StoredRecord(DecisionDraft):
    """A sealed audit record: the draft plus its place in the hash chain."""

    format: Literal["jifen-audit/1", "jifen-audit/2"] = AUDIT_FORMAT
    lane: int = Field(default=0, ge=0)
    """The chain (one per writing process) the record is stored in; bound by the chain's
    first link, not sealed in the body."""
    sequence: int = Field(ge=1)
    recorded_at: UtcTime
    prev_hash: Sha256Hex
    hash: Sha256Hex


class DecisionPublic(StoredRecord):
    """What an auditor reads: the sealed record whole, so the hash can be recomputed."""

    hash_valid: bool
    """Whether this record's hash matches its content (the chain is checked by verify)."""


# --- API keys ----------------------------------------------------------------------------


class Role(StrEnum):
    """What a key may do. Roles do not nest: an admin key cannot score."""

    SCORER = "scorer"
    """Score applications."""
    AUDITOR = "auditor"
    """Read decisions, reports and replays."""
    ADMIN = "admin"
    """Reload the model, manage keys."""


class StoredKey(BaseModel):
    """A row of the key table: the secret itself is never stored, only its SHA-256."""

    model_config = ConfigDict(frozen=True)

    key_id: KeyId
    name: str
    role: Role
    secret_sha256: Sha256Hex
    created_at: UtcTime
    revoked_at: UtcTime | None = None


class KeyPublic(BaseModel):
    """A key as listed to an administrator."""

    model_config = ConfigDict(frozen=True)

    key_id: KeyId
    name: str
    role: Role
    created_at: UtcTime
    revoked_at: UtcTime | None = None


class Caller(BaseModel):
    """Who made an authenticated request: recorded in the audit log by key id."""

    model_config = ConfigDict(frozen=True)

    key_id: KeyId
    name: str
    role: Role


# --- service state -----------------------------------------------------------------------


class Health(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Readiness: every dependency a score needs, with the reason when one is missing."""

    ready: bool
    checks: dict[str, str]
    """Check name to ``"ok"`` or the reason it failed."""
