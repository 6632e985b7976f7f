"""Evaluation of the decision policy: rules that fire, limits, subsidy, the decision.

A decision is the worst outcome among the rules that fired (decline > refer > approve);
every fired rule is returned with its observed value, threshold and bilingual message,
so a credit officer sees all of them, not only the first. The policy itself (versioned
YAML) is ``serving.core.policy``.

Results are small slotted dataclasses, not the public pydantic models: a decision makes
about a dozen of them, and building them as pydantic models (even unvalidated) was a
tenth of a request's CPU. ``as_json`` gives each one in the public shape
(``serving.responses``: ``FiredRule``, ``FiveStandard``, ``LimitAdvice``,
``SubsidyAdvice``), which the API tests validate every response against.
"""

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pydantic import JsonValue

from serving.core.policy import Op, Policy, RuleKind, Scalar
from serving.responses import Bilingual, LimitBasis, Outcome, StandardStatus

_ORDER: Final = {Outcome.APPROVE: 0, Outcome.REFER: 1, Outcome.DECLINE: 2}
JsonDict = dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class Message:
    """A rule's message, filled in, in Chinese and English."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class FiredRule:
    """A policy rule that fired, with what it saw and its threshold."""

    id: str
    kind: str
    outcome: Outcome
    value: float | int | str | bool | None
    threshold: Scalar | list[Scalar] | None
    message: Message
    standard: str | None = None
    """The five-standards item the rule checks, if it is one."""
    missing: bool = False
    """True when the rule fired because its field had no value."""

    def as_json(self) -> JsonDict:
        """Return the rule as ``serving.responses.FiredRule`` JSON."""
        threshold = self.threshold
        return {
            "id": self.id,
            "kind": self.kind,
            "standard": self.standard,
            "outcome": str(self.outcome),
            "value": self.value,
            "threshold": list(threshold) if isinstance(threshold, list) else threshold,
            "missing": self.missing,
            "message": {"zh": self.message.zh, "en": self.message.en},
        }


@dataclass(frozen=True, slots=True)
class FiveStandard:
    """One of the five standards and whether the screen passed it."""

    id: str
    name: Bilingual
    status: StandardStatus
    rules: tuple[str, ...]

    def as_json(self) -> JsonDict:
        """Return the standard as ``serving.responses.FiveStandard`` JSON."""
        return {
            "id": self.id,
            "name": {"zh": self.name.zh, "en": self.name.en},
            "status": self.status,
            "rules": list(self.rules),
        }


class _Flat:
    """A slotted dataclass of JSON scalars, written field by field in declaration order."""

    __slots__ = ()

    def as_json(self) -> JsonDict:
        """Return the fields as JSON (the public model of the same name)."""
        names: tuple[str, ...] = self.__slots__
        return {name: getattr(self, name) for name in names}


@dataclass(frozen=True, slots=True)
class LimitAdvice(_Flat):
    """The suggested limit and how it was reached (``serving.responses.LimitAdvice``)."""

    suggested_wan: float
    product_max_wan: float
    grade_factor: float
    basis: LimitBasis


@dataclass(frozen=True, slots=True, kw_only=True)
class SubsidyAdvice(_Flat):
    """Interest-subsidy eligibility by revenue band (``serving.responses.SubsidyAdvice``)."""

    eligible: bool
    max_rate_pct: float | None = None
    band: str | None = None
    revenue_wan: float | None = None
    reason: str


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


_COMPARE: Final = {Op.LT: operator.lt, Op.LE: operator.le, Op.GT: operator.gt, Op.GE: operator.ge}


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
    return bool(_COMPARE[op](value, threshold))


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
    return FiredRule(
        id=rule_id,
        kind=kind.value,
        standard=standard,
        outcome=outcome,
        value=value if isinstance(value, int | float | str | bool) and not missing else None,
        threshold=threshold if isinstance(threshold, int | float | str | bool | list) else None,
        missing=missing,
        message=Message(zh=message.zh.format(**text), en=message.en.format(**text)),
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
    return LimitAdvice(
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
        return SubsidyAdvice(eligible=False, revenue_wan=value, reason=why)
    for band in rule.bands:
        if band.min_revenue_wan <= value < band.max_revenue_wan:
            return SubsidyAdvice(
                eligible=True,
                max_rate_pct=band.max_rate_pct,
                band=band.label,
                revenue_wan=value,
                reason="revenue band",
            )
    return SubsidyAdvice(eligible=False, revenue_wan=value, reason="revenue outside every band")


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
            FiveStandard(id=standard, name=name, status=status, rules=tuple(r.id for r in hits))
        )
    return out
