"""The decision policy: shipped YAML, rules, five standards, limits and interest subsidy."""

from pathlib import Path

import pytest
import yaml

from jifen.errors import ConfigError
from serving.core.policy import load_policy
from serving.core.rules import (
    decide,
    evaluate_rules,
    five_standards,
    product_rules,
    subsidy,
    suggest_limit,
)
from serving.responses import Outcome

POLICY = load_policy()
CLEAN = {
    "firm_premises": "leased",
    "credit_dishonest_active": False,
    "tax_months_since_last_filing": 1,
    "app_purpose": "rd_investment",
    "points_total": 72.0,
    "grade": 4,
}


def _ids(context: dict[str, object], product: str = "points_loan") -> dict[str, Outcome]:
    return {r.id: r.outcome for r in evaluate_rules(POLICY, context, product)}


def test_shipped_policy_loads_with_its_version() -> None:
    """The shipped file validates and names its version."""
    assert POLICY.policy_version == "jifen-policy-2026.1"
    assert set(POLICY.five_standards) == {
        "compliant_operation",
        "fixed_premises",
        "genuine_need",
        "good_credit",
        "lawful_purpose",
    }


def test_no_rule_fires_for_a_clean_firm_and_the_decision_approves() -> None:
    """A firm that passes every standard with 72 points and grade 4: nothing fires."""
    fired = evaluate_rules(POLICY, CLEAN, "points_loan")
    assert fired == []
    assert decide(fired) is Outcome.APPROVE
    assert {s.status for s in five_standards(POLICY, fired)} == {"pass"}


def test_every_fired_rule_is_listed_and_the_worst_outcome_decides() -> None:
    """Dishonest debtor (decline) and stopped tax filings (refer): both listed, decline wins."""
    fired = evaluate_rules(
        POLICY,
        {**CLEAN, "credit_dishonest_active": True, "tax_months_since_last_filing": 9},
        "points_loan",
    )
    assert {r.id: r.outcome for r in fired} == {
        "credit_dishonest_debtor": Outcome.DECLINE,
        "operation_tax_filings_stopped": Outcome.REFER,
    }
    assert decide(fired) is Outcome.DECLINE
    status = {s.id: s.status for s in five_standards(POLICY, fired)}
    assert status["good_credit"] == "fail" and status["compliant_operation"] == "fail"
    assert fired[0].message.en == "Latest tax filing is 9 months old (limit 6)"


def test_a_missing_field_fires_its_if_missing_outcome_and_leaves_the_standard_unknown() -> None:
    """Premises unknown: the premises rule refers as missing; the standard is 'unknown'."""
    fired = evaluate_rules(POLICY, {**CLEAN, "firm_premises": None}, "points_loan")
    [rule] = fired
    assert (rule.id, rule.outcome, rule.missing) == ("premises_none", Outcome.REFER, True)
    status = {s.id: s.status for s in five_standards(POLICY, fired)}
    assert status["fixed_premises"] == "unknown"


def test_points_threshold_applies_to_points_loans_only() -> None:
    """59 points declines a points loan and is no rule for a technology credit loan."""
    context = {**CLEAN, "points_total": 59.0}
    assert _ids(context)["points_below_threshold"] is Outcome.DECLINE
    assert "points_below_threshold" not in _ids(context, "tech_credit_loan")


def test_grade_cut_offs_refer_7_and_8_and_decline_9_and_worse() -> None:
    """Grades 7-8 refer, 9-10 decline."""
    assert _ids({**CLEAN, "grade": 8})["grade_refer"] is Outcome.REFER
    assert _ids({**CLEAN, "grade": 9})["grade_decline"] is Outcome.DECLINE
    assert _ids({**CLEAN, "grade": 6}) == {}


def test_product_rules_name_amount_above_maximum_and_term_not_offered() -> None:
    """A 3-month IP pledge loan of 2,500: both built-in product rules fire and decline."""
    fired = product_rules(POLICY, "ip_pledge_loan", 2500.0, 3)
    assert [r.id for r in fired] == ["amount_above_product_max", "term_not_offered"]
    assert fired[1].message.en == ("The product does not offer a 3-month term (offered 12, 24, 36)")


def test_suggested_limit_is_the_revenue_share_times_the_grade_factor_rounded_down() -> None:
    """Revenue 1,234 → 50 % = 617 < max 1,000; grade 4 factor 0.8 → 493.6 → 490."""
    advice = suggest_limit(POLICY, "points_loan", "4", 1234.0, declined=False)
    assert (advice.suggested_wan, advice.basis, advice.grade_factor) == (
        490.0,
        "revenue_share",
        0.8,
    )
    unknown = suggest_limit(POLICY, "points_loan", "1", None, declined=False)
    assert (unknown.suggested_wan, unknown.basis) == (300.0, "product_max_no_revenue")
    assert suggest_limit(POLICY, "points_loan", "1", 1e6, declined=True).suggested_wan == 0


@pytest.mark.parametrize(
    ("revenue", "eligible", "rate"),
    [
        (5000.0, True, 2.0),
        (2000.0, True, 2.0),
        (1999.0, True, 3.0),
        (20000.0, False, None),
        (None, False, None),
    ],
)
def test_interest_subsidy_follows_the_revenue_bands(
    revenue: float | None, eligible: bool, rate: float | None
) -> None:
    """20-200 million CNY: at most 2 %; below 20 million: at most 3 %; else none."""
    advice = subsidy(POLICY, "points_loan", revenue, Outcome.APPROVE)
    assert (advice.eligible, advice.max_rate_pct) == (eligible, rate)


def test_no_subsidy_after_a_decline() -> None:
    """A declined application is never told it qualifies for a subsidy."""
    advice = subsidy(POLICY, "points_loan", 5000.0, Outcome.DECLINE)
    assert (advice.eligible, advice.reason) == (False, "declined")


def test_policy_file_with_an_unknown_standard_is_refused_naming_the_rule(tmp_path: Path) -> None:
    """A rule under a standard that is not one of the five: ConfigError naming both."""
    raw = yaml.safe_load(
        (Path(__file__).parents[2] / "serving/config/policy.yaml").read_text(encoding="utf-8")
    )
    raw["rules"][0]["standard"] = "good_vibes"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"rule operation_tax_zero_streak: standard must be one of"
    ):
        load_policy(path)
