"""One pandera schema per raw source table: the contract every producer must meet.

The simulator writes these tables, a bank's own extracts must match them, and
``jifen validate`` enforces them row by row. Units: money in CNY 10k (万元), energy in
kWh, counts as integers. Dates are calendar dates; ``*_date`` columns are when a record
became known to the zone or the bank, which is what point-in-time features filter on.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import pandas as pd
import pandera.pandas as pa

from features.credit_code import credit_code_problem

INDUSTRIES: Final = (
    "next_gen_it",
    "high_end_equipment",
    "new_materials",
    "biotech",
    "new_energy_vehicles",
    "new_energy",
    "energy_saving_environment",
    "digital_creative",
    "related_services",
)
"""Strategic emerging industry classes (战略性新兴产业分类 2018, first level)."""

OPERATING_STATUSES: Final = ("operating", "suspended", "liquidating", "revoked")
PREMISES: Final = ("owned", "leased", "park_incubator", "none")
PRODUCTS: Final = ("points_loan", "tech_credit_loan", "ip_pledge_loan", "renewal")
PURPOSES: Final = ("working_capital", "rd_investment", "equipment", "order_fulfilment", "other")
EVENT_TYPES: Final = ("overdue", "court_judgment", "dishonest_listing", "credit_repair")
OUTCOME_STATUSES: Final = ("matured", "immature")


def _valid_credit_codes(series: pd.Series) -> pd.Series:
    # Tables repeat each code many times: judge each distinct value once.
    bad = [code for code in series.dropna().unique() if credit_code_problem(code) is not None]
    return ~series.isin(bad) & series.notna()


CHECK_NAMES: dict[str, str] = {}
"""Name of each custom check, keyed by its message (pandera reports checks by message)."""

CREDIT_CODE_ERROR: Final = (
    "18 characters from the GB 32100-2015 alphabet with a valid check character"
)
CREDIT_CODE_CHECK: Final = pa.Check(
    _valid_credit_codes, name="gb32100_credit_code", error=CREDIT_CODE_ERROR
)
CHECK_NAMES[CREDIT_CODE_ERROR] = "gb32100_credit_code"


def _code(**kwargs: object) -> pa.Column:
    return pa.Column(str, CREDIT_CODE_CHECK, nullable=False, **kwargs)  # type: ignore[arg-type]


def _date(nullable: bool = False) -> pa.Column:
    return pa.Column("datetime64[ms]", nullable=nullable, coerce=True)


def _amount(nullable: bool = True, upper: float | None = None) -> pa.Column:
    checks = [pa.Check.ge(0)]
    if upper is not None:
        checks.append(pa.Check.le(upper))
    return pa.Column(float, checks, nullable=nullable, coerce=True)


def _count(nullable: bool = True) -> pa.Column:
    return pa.Column("Int64", pa.Check.ge(0), nullable=nullable, coerce=True)


def _one_of(values: tuple[str, ...]) -> pa.Column:
    return pa.Column(str, pa.Check.isin(values), nullable=False)


ROW_RULE_COLUMNS: dict[str, tuple[str, ...]] = {}
"""Columns involved in each rule across columns, keyed by its message."""


def _row_rule(
    name: str, columns: tuple[str, ...], error: str, rule: Callable[[pd.DataFrame], pd.Series]
) -> pa.Check:
    """Build a check across the columns of one row, remembering which columns it reads."""
    ROW_RULE_COLUMNS[error] = columns
    CHECK_NAMES[error] = name
    return pa.Check(rule, name=name, error=error)


@dataclass(frozen=True)
class TableContract:
    """A raw table: its key columns, its schema and its rules across columns."""

    name: str
    key: tuple[str, ...]
    schema: pa.DataFrameSchema
    description: str


ENTERPRISES = TableContract(
    name="enterprises",
    key=("credit_code",),
    description="One row per enterprise, as registered with the high-tech zone.",
    schema=pa.DataFrameSchema(
        {
            "credit_code": _code(),
            "name": pa.Column(str, pa.Check.str_length(2, 100)),
            "industry": _one_of(INDUSTRIES),
            "zone_id": pa.Column(str, pa.Check.str_length(2, 16)),
            "region": pa.Column(str, pa.Check.str_length(2, 32)),
            "founding_date": _date(),
            "registered_capital_wan": _amount(nullable=False, upper=1e7),
            "operating_status": _one_of(OPERATING_STATUSES),
            "premises": _one_of(PREMISES),
            "in_digital_park": pa.Column(bool),
            "hightech_cert_date": _date(nullable=True),
            "srdi_cert_date": _date(nullable=True),
            "little_giant_date": _date(nullable=True),
            "snapshot_date": _date(),
        },
        checks=[
            _row_rule(
                "founded_before_snapshot",
                ("founding_date", "snapshot_date"),
                "founding_date must not be after snapshot_date",
                lambda df: df["founding_date"] <= df["snapshot_date"],
            ),
        ],
        strict=True,
    ),
)

INNOVATION_FILINGS = TableContract(
    name="innovation_filings",
    key=("filing_id",),
    description=(
        "Annual innovation-points filings, one per enterprise and fiscal year (plus "
        "revisions); values become known on filing_date, months after the year ends."
    ),
    schema=pa.DataFrameSchema(
        {
            "filing_id": pa.Column(str, pa.Check.str_length(1, 64)),
            "credit_code": _code(),
            "fiscal_year": pa.Column(int, pa.Check.in_range(1990, 2100), coerce=True),
            "revision": pa.Column(int, pa.Check.ge(0), coerce=True),
            "filing_date": _date(),
            "staff_total": _count(),
            "rd_staff": _count(),
            "high_level_talent": _count(),
            "new_graduates_hired": _count(),
            "revenue_wan": _amount(),
            "net_profit_wan": pa.Column(float, nullable=True, coerce=True),
            "net_assets_wan": pa.Column(float, nullable=True, coerce=True),
            "taxes_paid_wan": _amount(),
            "rd_expense_wan": _amount(),
            "hightech_product_revenue_wan": _amount(),
            "tech_contract_turnover_wan": _amount(),
            "vc_financing_wan": _amount(),
            "invention_patents": _count(),
            "utility_models": _count(),
            "design_patents": _count(),
            "software_copyrights": _count(),
            "ic_layouts": _count(),
            "pct_applications": _count(),
            "national_platforms": _count(),
            "provincial_platforms": _count(),
            "st_awards": _count(),
            "standards_drafted": _count(),
            "competition_awards": _count(),
            "talent_program_members": _count(),
        },
        checks=[
            _row_rule(
                "filed_after_year_end",
                ("filing_date", "fiscal_year"),
                "filing_date must fall after the end of fiscal_year",
                lambda df: df["filing_date"].dt.year > df["fiscal_year"],
            ),
            _row_rule(
                "rd_staff_within_staff",
                ("rd_staff", "staff_total"),
                "rd_staff must not exceed staff_total",
                lambda df: ~(df["rd_staff"] > df["staff_total"]).fillna(False),
            ),
        ],
        strict=True,
    ),
)

ELECTRICITY_MONTHLY = TableContract(
    name="electricity_monthly",
    key=("meter_id", "month"),
    description="Metered electricity per meter and calendar month, published after month end.",
    schema=pa.DataFrameSchema(
        {
            "meter_id": pa.Column(str, pa.Check.str_length(1, 32)),
            "credit_code": _code(),
            "month": _date(),
            "kwh": _amount(nullable=False, upper=1e9),
            "published_date": _date(),
        },
        checks=[
            _row_rule(
                "month_is_first_day",
                ("month",),
                "month must be the first day of a calendar month",
                lambda df: df["month"].dt.day == 1,
            ),
            _row_rule(
                "published_after_month",
                ("published_date", "month"),
                "published_date must be after the month it reports",
                lambda df: df["published_date"] > df["month"],
            ),
        ],
        strict=True,
    ),
)

CHECKINS_DAILY = TableContract(
    name="checkins_daily",
    key=("credit_code", "date"),
    description="Staff checked in per working day on the park's digital platform.",
    schema=pa.DataFrameSchema(
        {
            "credit_code": _code(),
            "date": _date(),
            "staff_checked_in": _count(nullable=False),
        },
        strict=True,
    ),
)

TAX_MONTHLY = TableContract(
    name="tax_monthly",
    key=("credit_code", "month"),
    description="Monthly tax filings (VAT monthly, income tax prepaid quarterly).",
    schema=pa.DataFrameSchema(
        {
            "credit_code": _code(),
            "month": _date(),
            "vat_paid_wan": _amount(nullable=False, upper=1e7),
            "income_tax_paid_wan": _amount(nullable=False, upper=1e7),
            "zero_filing": pa.Column(bool),
            "filing_date": _date(),
        },
        checks=[
            _row_rule(
                "filed_after_month",
                ("filing_date", "month"),
                "filing_date must be after the month it reports",
                lambda df: df["filing_date"] > df["month"],
            ),
        ],
        strict=True,
    ),
)

CREDIT_EVENTS = TableContract(
    name="credit_events",
    key=("event_id",),
    description="Overdue episodes, court judgments, dishonest-debtor listings and repairs.",
    schema=pa.DataFrameSchema(
        {
            "event_id": pa.Column(str, pa.Check.str_length(1, 64)),
            "credit_code": _code(),
            "event_type": _one_of(EVENT_TYPES),
            "event_date": _date(),
            "amount_wan": _amount(),
            "published_date": _date(),
        },
        checks=[
            _row_rule(
                "published_after_event",
                ("published_date", "event_date"),
                "published_date must not be before event_date",
                lambda df: df["published_date"] >= df["event_date"],
            ),
        ],
        strict=True,
    ),
)

APPLICATIONS = TableContract(
    name="applications",
    key=("application_id",),
    description=(
        "Loan applications with their 12-month outcome; outcomes of applications less "
        "than 12 months old at the snapshot are immature and carry no default flag."
    ),
    schema=pa.DataFrameSchema(
        {
            "application_id": pa.Column(str, pa.Check.str_length(1, 64)),
            "credit_code": _code(),
            "application_date": _date(),
            "product": _one_of(PRODUCTS),
            "amount_wan": pa.Column(float, pa.Check.in_range(1, 100_000), coerce=True),
            "term_months": pa.Column(int, pa.Check.isin([3, 6, 12, 24, 36]), coerce=True),
            "declared_purpose": _one_of(PURPOSES),
            "outcome_status": _one_of(OUTCOME_STATUSES),
            "default_flag": pa.Column("Int64", pa.Check.isin([0, 1]), nullable=True, coerce=True),
            "default_date": _date(nullable=True),
        },
        checks=[
            _row_rule(
                "flag_iff_matured",
                ("outcome_status", "default_flag"),
                "default_flag must be set exactly when outcome_status is matured",
                lambda df: (df["outcome_status"] == "matured") == df["default_flag"].notna(),
            ),
            _row_rule(
                "default_has_date",
                ("default_flag", "default_date"),
                "a default (default_flag 1) must carry its default_date",
                lambda df: ~((df["default_flag"] == 1) & df["default_date"].isna()).fillna(False),
            ),
            _row_rule(
                "default_after_application",
                ("default_date", "application_date"),
                "default_date must be after application_date",
                lambda df: ~(df["default_date"] <= df["application_date"]).fillna(False),
            ),
        ],
        strict=True,
    ),
)

CONTRACTS: Final = {
    c.name: c
    for c in (
        ENTERPRISES,
        INNOVATION_FILINGS,
        ELECTRICITY_MONTHLY,
        CHECKINS_DAILY,
        TAX_MONTHLY,
        CREDIT_EVENTS,
        APPLICATIONS,
    )
}
"""Every raw table by name, in dependency order (enterprises first)."""
