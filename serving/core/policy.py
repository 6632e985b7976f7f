"""The decision policy: versioned YAML (``serving/config/policy.yaml``) and its evaluation.

A decision is the worst outcome among the rules that fired (decline > refer > approve);
every fired rule is returned with its observed value, threshold and bilingual message,
so a credit officer sees all of them, not only the first.
"""

import math
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.config import load_config_file
from serving.responses import (
    Bilingual,
    FiredRule,
    FiveStandard,
    LimitAdvice,
    LimitBasis,
    Outcome,
    StandardStatus,
    SubsidyAdvice,
)

SHIPPED: Final = "policy.yaml"
_ORDER: Final = {Outcome.APPROVE: 0, Outcome.REFER: 1, Outcome.DECLINE: 2}

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


# --- evaluation ------------------------------------------------------------------------------


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _holds(op: Op, value: object, threshold: Scalar | list[Scalar]) -> bool:
    if op is Op.IN:
        return isinstance(threshold, list) and value in threshold
    if op is Op.NOT_IN:
        return isinstance(threshold, list) and value not in threshold
    if op is Op.EQ:
        return value == threshold
    if op is Op.NE:
        return value != threshold
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        return False
    return {
        Op.LT: value < threshold,
        Op.LE: value <= threshold,
        Op.GT: value > threshold,
        Op.GE: value >= threshold,
    }[op]


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _fired(
    rule_id: str,
    kind: RuleKind,
    outcome: Outcome,
    message: Bilingual,
    value: object,
    threshold: object,
    standard: str | None = None,
    missing: bool = False,
) -> FiredRule:
    text = {"value": _shown(value) if not missing else "—", "threshold": _shown(threshold)}
    return FiredRule.model_construct(
        id=rule_id,
        kind=kind.value,
        standard=standard,
        outcome=outcome,
        value=value if isinstance(value, int | float | str | bool) and not missing else None,
        threshold=threshold if isinstance(threshold, int | float | str | bool | list) else None,
        missing=missing,
        message=Bilingual.model_construct(
            zh=message.zh.format(**text), en=message.en.format(**text)
        ),
    )


def evaluate_rules(policy: Policy, context: Mapping[str, object], product: str) -> list[FiredRule]:
    """Return every configured rule that fires for this context and product."""
    fired: list[FiredRule] = []
    for rule in policy.rules:
        if rule.products is not None and product not in rule.products:
            continue
        value = context.get(rule.when.field)
        if _missing(value):
            if rule.if_missing != "pass":
                fired.append(
                    _fired(
                        rule.id,
                        rule.kind,
                        Outcome(rule.if_missing),
                        rule.message,
                        None,
                        rule.when.value,
                        rule.standard,
                        missing=True,
                    )
                )
            continue
        if _holds(rule.when.op, value, rule.when.value):
            fired.append(
                _fired(
                    rule.id,
                    rule.kind,
                    rule.outcome,
                    rule.message,
                    value,
                    rule.when.value,
                    rule.standard,
                )
            )
    return fired


def product_rules(
    policy: Policy, product: str, amount_wan: float, term_months: int
) -> list[FiredRule]:
    """Check the product's own limits: maximum amount and offered terms."""
    spec, texts = policy.products[product], policy.builtin_messages
    fired = []
    if amount_wan > spec.max_amount_wan:
        fired.append(
            _fired(
                "amount_above_product_max",
                RuleKind.AMOUNT,
                Outcome.DECLINE,
                texts["amount_above_product_max"],
                amount_wan,
                spec.max_amount_wan,
            )
        )
    if term_months not in spec.terms:
        fired.append(
            _fired(
                "term_not_offered",
                RuleKind.PRODUCT,
                Outcome.DECLINE,
                texts["term_not_offered"],
                term_months,
                list(spec.terms),
            )
        )
    return fired


def suggest_limit(
    policy: Policy, product: str, grade: str, revenue: object, declined: bool
) -> LimitAdvice:
    """Suggested limit: product maximum and revenue share, scaled by the grade's factor."""
    rule, spec = policy.limit, policy.products[product]
    factor = rule.grade_factors[grade]
    basis: LimitBasis
    if _missing(revenue) or not isinstance(revenue, int | float) or revenue <= 0:
        base, basis = spec.max_amount_wan * rule.missing_revenue_factor, "product_max_no_revenue"
    else:
        by_revenue = rule.revenue_share * float(revenue)
        base = min(spec.max_amount_wan, by_revenue)
        basis = "revenue_share" if by_revenue < spec.max_amount_wan else "product_max"
    step = rule.round_down_to_wan
    limit = 0.0 if declined else math.floor(base * factor / step) * step
    return LimitAdvice.model_construct(
        suggested_wan=limit,
        product_max_wan=spec.max_amount_wan,
        grade_factor=factor,
        basis="declined" if declined else basis,
    )


def limit_rule(policy: Policy, amount_wan: float, advice: LimitAdvice) -> FiredRule | None:
    """Fire when the amount asked for is above the suggested limit (not after a decline)."""
    if advice.basis == "declined" or amount_wan <= advice.suggested_wan:
        return None
    return _fired(
        "amount_above_suggested_limit",
        RuleKind.AMOUNT,
        policy.limit.above_limit_outcome,
        policy.builtin_messages["amount_above_suggested_limit"],
        amount_wan,
        advice.suggested_wan,
    )


def subsidy(policy: Policy, product: str, revenue: object, outcome: Outcome) -> SubsidyAdvice:
    """Interest-subsidy eligibility by revenue band (never after a decline)."""
    rule = policy.subsidy
    known = not _missing(revenue) and isinstance(revenue, int | float)
    value = float(revenue) if known and isinstance(revenue, int | float) else None
    if outcome is Outcome.DECLINE or product not in rule.products or value is None:
        why = (
            "declined"
            if outcome is Outcome.DECLINE
            else "product not eligible"
            if product not in rule.products
            else "revenue unknown"
        )
        return SubsidyAdvice.model_construct(eligible=False, revenue_wan=value, reason=why)
    for band in rule.bands:
        if band.min_revenue_wan <= value < band.max_revenue_wan:
            return SubsidyAdvice.model_construct(
                eligible=True,
                max_rate_pct=band.max_rate_pct,
                band=band.label,
                revenue_wan=value,
                reason="revenue band",
            )
    return SubsidyAdvice.model_construct(
        eligible=False, revenue_wan=value, reason="revenue outside every band"
    )


def decide(fired: list[FiredRule]) -> Outcome:
    """Return the worst outcome among fired rules; approve when none fired."""
    return max((r.outcome for r in fired), key=_ORDER.__getitem__, default=Outcome.APPROVE)


def five_standards(policy: Policy, fired: list[FiredRule]) -> list[FiveStandard]:
    """Each standard of the screen with the rules that fired under it."""
    out = []
    for standard, name in policy.five_standards.items():
        hits = [r for r in fired if r.standard == standard]
        status: StandardStatus = (
            "pass" if not hits else "unknown" if all(r.missing for r in hits) else "fail"
        )
        out.append(
            FiveStandard.model_construct(
                id=standard, name=name, status=status, rules=[r.id for r in hits]
            )
        )
    return out
