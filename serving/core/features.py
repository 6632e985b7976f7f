"""Where a score's inputs come from: the online store, the application, inline values.

``FeatureSource`` is what scoring needs from an online store (``serving.core.feature_store``
implements it on Feast). ``assemble_inputs`` merges a firm's vector with the
application-time fields and the caller's inline features, by rules an auditor can read
in one place.
"""

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from functools import cached_property
from typing import Final, Protocol

from features.credit_code import mask_credit_code
from features.definitions.model import Group
from serving.errors import FeaturesIncompleteError, FirmNotFoundError
from serving.schemas import BUSINESS_TZ, Application

APPLICATION_GROUP: Final = Group.APPLICATION.value
INLINE_GROUP: Final = "inline"
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
    def local(self) -> bool:
        """Reads are local file reads, short enough to run on the event loop."""
        ...

    @property
    def group_of(self) -> Mapping[str, str]:
        """Feature name to the group (view) that serves it."""
        ...

    def read(
        self, credit_codes: Sequence[str], names: Collection[str] | None = None
    ) -> list[FirmVector | None]:
        """Return each firm's vector (None if unknown); FeatureStoreUnavailableError if down.

        With ``names``, a vector may hold only those features.
        """
        ...

    def check(self) -> str | None:
        """Return why the store cannot be read now, or None."""
        ...


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
