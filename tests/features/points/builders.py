"""Small hand-built tables for the points-engine tests (no simulator needed).

Three firms in zone z1, industry biotech, scored as of 2025-06-30:

- A: founded 2015, revenue 8000 -> growth stage; filings FY2023 and FY2024.
- B: founded 2023 -> startup; only FY2024 (so growth rates are missing).
- C: founded 2010, revenue 25000 -> mature; FY2023 and FY2024, plus a FY2024 revision
  published 2025-08-01, after the as-of date, which must not be used.
"""

from typing import Any

import pandas as pd

from features.catalogue.sources import filing_value_columns

AS_OF = pd.Timestamp("2025-06-30")


def filing(code: str, year: int, filed: str, revision: int = 0, **values: Any) -> dict[str, Any]:
    """One filing row; every value column not given is 0."""
    row: dict[str, Any] = dict.fromkeys(sorted(filing_value_columns()), 0.0)
    row |= {
        "filing_id": f"{code}-{year}-r{revision}",
        "credit_code": code,
        "fiscal_year": year,
        "revision": revision,
        "filing_date": pd.Timestamp(filed),
    }
    unknown = set(values) - set(row)
    if unknown:
        raise KeyError(f"unknown filing columns {unknown}")
    return row | values


def enterprise(code: str, founded: str, **dates: str | None) -> dict[str, Any]:
    """One enterprise row in zone z1, biotech, with optional qualification dates."""
    row: dict[str, Any] = {
        "credit_code": code,
        "zone_id": "z1",
        "industry": "biotech",
        "founding_date": pd.Timestamp(founded),
        "hightech_cert_date": None,
        "srdi_cert_date": None,
        "little_giant_date": None,
    }
    return row | {k: (pd.Timestamp(v) if v else None) for k, v in dates.items()}


def event(code: str, kind: str, published: str) -> dict[str, Any]:
    """One credit event row."""
    return {"credit_code": code, "event_type": kind, "published_date": pd.Timestamp(published)}


def tables(
    filings: list[dict[str, Any]],
    enterprises: list[dict[str, Any]],
    events: list[dict[str, Any]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three engine inputs as DataFrames with the contract's date dtypes."""
    ent = pd.DataFrame(enterprises)
    for column in ("hightech_cert_date", "srdi_cert_date", "little_giant_date"):
        ent[column] = pd.to_datetime(ent[column])
    ev = pd.DataFrame(events or [], columns=["credit_code", "event_type", "published_date"])
    ev["published_date"] = pd.to_datetime(ev["published_date"])
    return pd.DataFrame(filings), ent, ev


FIRM_A_2024 = {
    "staff_total": 100,
    "rd_staff": 30,
    "high_level_talent": 2,
    "new_graduates_hired": 4,
    "revenue_wan": 8000,
    "net_profit_wan": 800,
    "net_assets_wan": 4000,
    "taxes_paid_wan": 400,
    "rd_expense_wan": 600,
    "hightech_product_revenue_wan": 5000,
    "tech_contract_turnover_wan": 250,
    "vc_financing_wan": 0,
    "invention_patents": 6,
    "utility_models": 3,
    "design_patents": 1,
    "software_copyrights": 4,
    "national_platforms": 1,
    "provincial_platforms": 1,
    "st_awards": 1,
    "standards_drafted": 1,
    "talent_program_members": 1,
}


def three_firms() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Firms A, B and C described in the module docstring."""
    filings = [
        filing("A", 2023, "2024-04-30", revenue_wan=6250, rd_expense_wan=500),
        filing("A", 2024, "2025-04-30", **FIRM_A_2024),
        filing(
            "B",
            2024,
            "2025-05-10",
            staff_total=20,
            rd_staff=10,
            new_graduates_hired=3,
            revenue_wan=1500,
            net_profit_wan=50,
            net_assets_wan=1000,
            taxes_paid_wan=20,
            rd_expense_wan=150,
            hightech_product_revenue_wan=1200,
            vc_financing_wan=1200,
            invention_patents=1,
            software_copyrights=2,
            competition_awards=2,
        ),
        filing("C", 2023, "2024-03-31", revenue_wan=20000, rd_expense_wan=1000),
        filing(
            "C",
            2024,
            "2025-03-31",
            staff_total=50,
            rd_staff=5,
            high_level_talent=10,
            new_graduates_hired=25,
            revenue_wan=25000,
            net_profit_wan=-500,
            net_assets_wan=-100,
            taxes_paid_wan=1500,
            rd_expense_wan=1200,
            hightech_product_revenue_wan=12000,
            tech_contract_turnover_wan=1000,
            invention_patents=20,
            provincial_platforms=1,
            st_awards=3,
            standards_drafted=2,
        ),
        # Published after the as-of date: must not be used on 2025-06-30.
        filing("C", 2024, "2025-08-01", revision=1, revenue_wan=99999, rd_expense_wan=9999),
    ]
    enterprises = [
        enterprise("A", "2015-01-01", hightech_cert_date="2020-01-01", srdi_cert_date="2026-01-01"),
        enterprise("B", "2023-03-01"),
        enterprise(
            "C",
            "2010-05-01",
            hightech_cert_date="2012-01-01",
            srdi_cert_date="2018-01-01",
            little_giant_date="2022-01-01",
        ),
    ]
    events = [
        event("A", "overdue", "2024-01-10"),
        event("A", "credit_repair", "2024-06-01"),  # clears the overdue above
        event("A", "court_judgment", "2021-03-01"),  # older than the 3-year window
        event("B", "overdue", "2025-01-15"),
        event("C", "dishonest_listing", "2023-05-01"),
        event("C", "court_judgment", "2024-02-01"),
    ]
    return tables(filings, enterprises, events)
