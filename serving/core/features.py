"""Where a score's inputs come from: the online store, the application, inline values.

``FeastFeatureSource`` reads a firm's vector of one Feast feature service, one online read
per view, and keeps each view's event timestamp: the as-of time the audit record names
for that feature group. (``features.store.online.OnlineVectorReader`` reads the same
values but drops the timestamps, so serving reads the views itself.) A store that
cannot be read raises ``FeatureStoreUnavailableError``: the caller gets a 503, never a
score on default values.

``assemble_inputs`` then merges the vector with the application-time fields and the
caller's inline features, by rules an auditor can read in one place.
"""

import logging
import math
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from features.credit_code import mask_credit_code
from features.definitions.model import FeatureSet, Group
from serving.errors import FeaturesIncompleteError, FeatureStoreUnavailableError, FirmNotFoundError
from serving.schemas import BUSINESS_TZ, Application

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

JOIN_KEY: Final = "credit_code"
APPLICATION_GROUP: Final = Group.APPLICATION.value
INLINE_GROUP: Final = "inline"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SHOWN: Final = 8
"""Feature names listed in one error message at most."""


@dataclass(frozen=True)
class FirmVector:
    """One firm's online features and, per group, the time they were known as of."""

    values: dict[str, object]
    as_of: dict[str, datetime]


class FeatureSource(Protocol):
    """What scoring needs from an online store."""

    description: str

    @property
    def group_of(self) -> Mapping[str, str]:
        """Feature name to the group (view) that serves it."""
        ...

    def read(self, credit_codes: Sequence[str]) -> list[FirmVector | None]:
        """Return each firm's vector (None if unknown); FeatureStoreUnavailableError if down."""
        ...

    def check(self) -> str | None:
        """Return why the store cannot be read now, or None."""
        ...


def _python_value(value: Any) -> object:
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    found = getattr(value, kind)
    # A NaN is a missing value; it also cannot be written into the audit record.
    return None if isinstance(found, float) and math.isnan(found) else found


def _store_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (sqlite3.Error, redis.RedisError, OSError)


class FeastFeatureSource:
    """Read firms' vectors of one feature service from Feast's online store (SQLite or Redis).

    Args:
        repo_dir: the Feast repository folder, holding ``feature_store.yaml``.
        service_name: the feature service whose views make up the vector.

    Raises:
        FeatureStoreUnavailableError: the repository or its registry cannot be opened.

    """

    def __init__(self, repo_dir: Path, service_name: str) -> None:
        self.description = f"Feast feature service {service_name} in {repo_dir}"
        if not (repo_dir / "feature_store.yaml").is_file():
            raise FeatureStoreUnavailableError(
                f"{self.description}: no feature_store.yaml; run `jifen features materialize`"
            )
        from features.store.config import disable_feast_usage

        disable_feast_usage()
        try:
            from feast import FeatureStore

            self._store: FeatureStore = FeatureStore(repo_path=str(repo_dir))
            service = self._store.get_feature_service(service_name)
            self._reads = [
                (self._store.get_feature_view(p.name), [f.name for f in p.features])
                for p in service.feature_view_projections
            ]
            self._online = self._store._get_provider().online_store
        except Exception as exc:  # Feast raises many unrelated types for a bad repository
            raise FeatureStoreUnavailableError(f"{self.description}: {exc}") from exc
        self._config = self._store.config
        self._errors = _store_errors()
        # Feast's SQLite store shares one connection between threads.
        self._lock = threading.Lock() if self._config.online_store.type == "sqlite" else None
        self.group_of: dict[str, str] = {
            name: str(view.tags.get("group", view.name))
            for view, names in self._reads
            for name in names
        }

    def read(self, credit_codes: Sequence[str]) -> list[FirmVector | None]:
        """Read every view for all ``credit_codes`` (one online read per view)."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        keys = [
            EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=c)])
            for c in credit_codes
        ]
        vectors = [FirmVector({}, {}) for _ in credit_codes]
        found = [False] * len(credit_codes)
        for view, names in self._reads:
            group = str(view.tags.get("group", view.name))
            rows = self._read_view(view, keys, names)
            for i, (stamp, values) in enumerate(rows):
                known = values is not None and stamp is not None and stamp > _EPOCH
                found[i] = found[i] or known
                for name in names:
                    proto = values.get(name) if known and values else None
                    vectors[i].values[name] = None if proto is None else _python_value(proto)
                if known and stamp is not None:
                    vectors[i].as_of[group] = stamp.astimezone(UTC)
        return [v if f else None for v, f in zip(vectors, found, strict=True)]

    def _read_view(self, view: Any, keys: list[Any], names: list[str]) -> list[Any]:
        try:
            # A copy: the Redis store appends its timestamp field to the list it is given.
            if self._lock is None:
                return list(self._online.online_read(self._config, view, keys, list(names)))
            with self._lock:
                return list(self._online.online_read(self._config, view, keys, list(names)))
        except self._errors as exc:
            raise FeatureStoreUnavailableError(
                f"{self.description}: view {view.name} cannot be read: {exc}"
            ) from exc

    def check(self) -> str | None:
        """Read an unknown firm through every view: the store answers or says why not."""
        try:
            self.read(["0" * 18])
        except FeatureStoreUnavailableError as exc:
            return str(exc)
        return None


# --- application-time fields ---------------------------------------------------------------


def _ratio(amount: float, denominator: object) -> float | None:
    if not isinstance(denominator, int | float) or isinstance(denominator, bool):
        return None
    if denominator == 0 or not math.isfinite(denominator):
        return None
    ratio = amount / denominator
    return ratio if math.isfinite(ratio) else None  # a subnormal denominator overflows


def application_features(application: Application, firm: Mapping[str, object]) -> dict[str, object]:
    """Return the application group's features, computed as for training.

    Same names and arithmetic as ``features/pipelines/sql/application.sql``, including NULL
    for a zero or missing denominator.
    """
    amount = application.amount_wan
    return {
        "app_amount_wan": amount,
        "app_term_months": application.term_months,
        "app_product": application.product,
        "app_purpose": application.purpose,
        "app_amount_to_revenue": _ratio(amount, firm.get("inno_revenue_wan")),
        "app_amount_to_capital": _ratio(amount, firm.get("firm_registered_capital_wan")),
    }


def application_as_of(application: Application) -> datetime:
    """Return when the application's own fields are known: its date's start in China."""
    return datetime.combine(application.application_date, time(), BUSINESS_TZ).astimezone(UTC)


# --- merging the sources ---------------------------------------------------------------------


@dataclass(frozen=True)
class InputNeeds:
    """What a model and the policy read: every name that goes into a score's inputs."""

    model: tuple[str, ...]
    """Encoded model features, in matrix order."""
    optional: frozenset[str]
    """Read when present, missing otherwise (points, policy fields)."""
    application: frozenset[str]
    """Fields derived from the application, which inline values may override."""

    @cached_property
    def all(self) -> frozenset[str]:
        """Every name an inline feature may set."""
        return frozenset(self.model) | self.optional | self.application


@dataclass(frozen=True)
class AssembledInputs:
    """The values a score used, and per group when they were known."""

    values: dict[str, object]
    as_of: dict[str, datetime]
    sources: dict[str, str] = field(default_factory=dict)
    """Where each value came from: a store group, ``application`` or ``inline``."""


def _shown(names: Sequence[str]) -> str:
    listed = ", ".join(sorted(names)[:_SHOWN])
    return listed + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _check_inline(
    inline: Mapping[str, float],
    needs: InputNeeds,
    vector: FirmVector | None,
    group_of: Mapping[str, str],
) -> None:
    unknown = [name for name in inline if name not in needs.all]
    if unknown:
        raise FeaturesIncompleteError(
            f"inline_features {_shown(unknown)} are not inputs of the served model or the "
            "policy (GET /v1/model lists them)"
        )
    if vector is None:
        return
    served = [n for n in inline if n in group_of and n not in needs.application]
    if served:
        raise FeaturesIncompleteError(
            f"inline_features {_shown(served)} are served by the feature store for this "
            "enterprise and cannot be overridden; inline values may only set application-time "
            "fields or features the store does not serve"
        )


def assemble_inputs(
    credit_code: str,
    application: Application,
    inline: Mapping[str, float],
    vector: FirmVector | None,
    needs: InputNeeds,
    group_of: Mapping[str, str],
    received_at: datetime,
) -> AssembledInputs:
    """Merge store vector, application fields and inline values into the inputs of a score.

    Rules: an unknown firm without inline values is a 404; inline values may set only
    inputs of the model or the policy, and may not override what the store serves for a
    known firm (except application-time fields); every model feature must come from
    somewhere (a NULL served by the store is a legitimate missing value, an input nobody
    serves is a 422).

    Raises:
        FirmNotFoundError: unknown firm and no inline features.
        FeaturesIncompleteError: an inline value is not allowed, or a model input is absent.

    """
    if vector is None and not inline:
        raise FirmNotFoundError(
            f"enterprise {mask_credit_code(credit_code)} has no features in the online store "
            "and the request carries no inline_features; nothing to score it on"
        )
    _check_inline(inline, needs, vector, group_of)
    firm = {**(vector.values if vector else {}), **inline}
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name, value in (vector.values if vector else {}).items():
        if name in needs.all:
            values[name], sources[name] = value, group_of.get(name, "store")
    for name, value in application_features(application, firm).items():
        if name in needs.all:
            values[name], sources[name] = value, APPLICATION_GROUP
    for name, value in inline.items():
        values[name], sources[name] = value, INLINE_GROUP
    absent = [n for n in needs.model if n not in values]
    if absent:
        where = "the store does not serve them" if vector else "the firm is not in the store"
        raise FeaturesIncompleteError(
            f"model inputs {_shown(absent)} have no value: {where}; send them in inline_features"
        )
    as_of = {g: t for g, t in (vector.as_of if vector else {}).items() if g in sources.values()}
    if APPLICATION_GROUP in sources.values():
        as_of[APPLICATION_GROUP] = application_as_of(application)
    if inline:
        as_of[INLINE_GROUP] = received_at
    return AssembledInputs(values, as_of, sources)


def definition_groups(feature_set: FeatureSet) -> dict[str, str]:
    """Feature name to group, from the definitions (for inputs no store serves)."""
    return {f.name: f.group.value for f in feature_set.features}
