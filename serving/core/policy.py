"""The decision policy: versioned YAML (``serving/config/policy.yaml``) validated by pydantic.

Evaluating it (which rules fire, limit, subsidy, the decision) is ``serving.core.rules``.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.config import load_config_file
from serving.responses import Bilingual, Outcome

SHIPPED: Final = "policy.yaml"

Scalar = float | bool | str


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Op(StrEnum):
    """Comparison of a rule's field with its threshold."""

    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"


class RuleKind(StrEnum):
    """Which part of the policy a rule belongs to (shown with every fired rule)."""

    FIVE_STANDARDS = "five_standards"
    POINTS = "points"
    AMOUNT = "amount"
    PRODUCT = "product"
    GRADE = "grade"
    DATA = "data"


class Condition(_Frozen):
    """``field op value``."""

    field: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    op: Op
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def _list_for_membership(self) -> Self:
        is_list = isinstance(self.value, list)
        if (self.op in (Op.IN, Op.NOT_IN)) != is_list:
            raise ValueError(f"op {self.op.value} needs a list value only for in/not_in")
        return self


class Rule(_Frozen):
    """One rule: when its condition holds it fires with its outcome and message."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    kind: RuleKind
    standard: str | None = None
    products: tuple[str, ...] | None = None
    """Products the rule applies to; all when absent."""
    when: Condition
    outcome: Literal[Outcome.REFER, Outcome.DECLINE]
    if_missing: Literal["pass", Outcome.REFER, Outcome.DECLINE]
    message: Bilingual


class PointsLayout(_Frozen):
    """Where the innovation points sit among a firm's inputs."""

    total: str
    classes: dict[str, str]
    """Class id to the column holding the firm's points of that class."""
    details: tuple[str, ...] = ()
    """Further points columns shown as they are (rank, white list, missing indicators)."""
    indicator_prefix: str | None = None
    """Prefix of per-indicator points columns, when the store serves them."""
    top_indicators: int = Field(ge=0, le=20)

    def columns(self) -> frozenset[str]:
        """Every named points column."""
        return frozenset({self.total, *self.classes.values(), *self.details})


class Product(_Frozen):
    """A loan product's own limits."""

    name: Bilingual
    max_amount_wan: float = Field(gt=0)
    terms: tuple[int, ...] = Field(min_length=1)


class LimitRule(_Frozen):
    """How the suggested limit is computed."""

    revenue_field: str
    revenue_share: float = Field(gt=0, le=10)
    missing_revenue_factor: float = Field(ge=0, le=1)
    round_down_to_wan: float = Field(gt=0)
    grade_factors: dict[str, Annotated[float, Field(ge=0, le=1)]]
    above_limit_outcome: Literal[Outcome.REFER, Outcome.DECLINE]


class SubsidyBand(_Frozen):
    """Revenue in [min, max) CNY 10k earns an interest subsidy of at most ``max_rate_pct``."""

    label: str
    min_revenue_wan: float = Field(ge=0)
    max_revenue_wan: float = Field(gt=0)
    max_rate_pct: float = Field(gt=0, le=100)


class SubsidyRule(_Frozen):
    """Interest subsidy by revenue band."""

    revenue_field: str
    products: tuple[str, ...]
    bands: tuple[SubsidyBand, ...] = Field(min_length=1)


class Policy(_Frozen):
    """The policy file."""

    policy_version: str = Field(min_length=1, max_length=64)
    description: str = ""
    points: PointsLayout
    five_standards: dict[str, Bilingual] = Field(min_length=1)
    products: dict[str, Product] = Field(min_length=1)
    limit: LimitRule
    subsidy: SubsidyRule
    rules: tuple[Rule, ...]
    builtin_messages: dict[
        Literal["amount_above_product_max", "term_not_offered", "amount_above_suggested_limit"],
        Bilingual,
    ]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rule ids must be unique; got {sorted(ids)}")
        for rule in self.rules:
            if rule.kind is RuleKind.FIVE_STANDARDS and rule.standard not in self.five_standards:
                raise ValueError(
                    f"rule {rule.id}: standard must be one of {sorted(self.five_standards)}; "
                    f"got {rule.standard!r}"
                )
            unknown = [p for p in rule.products or () if p not in self.products]
            if unknown:
                raise ValueError(f"rule {rule.id}: unknown products {unknown}")
        if len(self.builtin_messages) != 3:
            raise ValueError("builtin_messages must give all three built-in rule texts")
        return self

    def fields(self) -> frozenset[str]:
        """Every input field the policy reads (besides the derived ones)."""
        return frozenset(
            {r.when.field for r in self.rules}
            | {self.limit.revenue_field, self.subsidy.revenue_field}
            | self.points.columns()
        )


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy (default: the shipped file).

    Raises:
        ConfigError: the file is missing or breaks a rule; the message names the field.

    """
    return load_config_file(Policy, path, SHIPPED)
