"""Evaluation of the decision policy: rules that fire, limits, subsidy, the decision.

A decision is the worst outcome among the rules that fired (decline > refer > approve);
every fired rule is returned with its observed value, threshold and bilingual message,
so a credit officer sees all of them, not only the first. The policy itself (versioned
YAML) is ``serving.core.policy``.
"""

import math
from collections.abc import Mapping
from typing import Final

from serving.core.policy import Op, Policy, RuleKind, Scalar
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

_ORDER: Final = {Outcome.APPROVE: 0, Outcome.REFER: 1, Outcome.DECLINE: 2}


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
