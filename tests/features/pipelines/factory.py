"""Tiny hand-built source tables, written the way ``jifen validate`` writes clean tables."""

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contracts.arrow import arrow_schema
from features.contracts.tables import CONTRACTS
from features.credit_code import make_credit_code
from features.layout import DataLayout

FIRM_A = make_credit_code("110108", "MA01ABCD")
FIRM_B = make_credit_code("310115", "MA02EFGH")
FIRM_C = make_credit_code("440305", "MA03JKLM")

FILING_DEFAULTS: dict[str, Any] = {
    "staff_total": 50,
    "rd_staff": 10,
    "high_level_talent": 1,
    "new_graduates_hired": 3,
    "revenue_wan": 1000.0,
    "net_profit_wan": 100.0,
    "net_assets_wan": 500.0,
    "taxes_paid_wan": 40.0,
    "rd_expense_wan": 80.0,
    "hightech_product_revenue_wan": 600.0,
    "tech_contract_turnover_wan": 50.0,
    "vc_financing_wan": 0.0,
    "invention_patents": 2,
    "utility_models": 3,
    "design_patents": 1,
    "software_copyrights": 4,
    "ic_layouts": 0,
    "pct_applications": 0,
    "national_platforms": 0,
    "provincial_platforms": 1,
    "st_awards": 0,
    "standards_drafted": 1,
    "competition_awards": 0,
    "talent_program_members": 0,
}


def month(year: int, mon: int) -> date:
    return date(year, mon, 1)


def add_months(d: date, n: int) -> date:
    total = d.year * 12 + d.month - 1 + n
    return date(total // 12, total % 12 + 1, 1)


@dataclass
class TinyData:
    """Rows per table; ``write`` stores them as clean Parquet parts under a layout."""

    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in CONTRACTS}
    )

    def enterprise(self, code: str, **kw: Any) -> "TinyData":
        row = {
            "credit_code": code,
            "name": f"firm {code[-4:]}",
            "industry": "next_gen_it",
            "zone_id": "Z01",
            "region": "beijing",
            "founding_date": date(2015, 1, 1),
            "registered_capital_wan": 500.0,
            "operating_status": "operating",
            "premises": "leased",
            "in_digital_park": True,
            "hightech_cert_date": None,
            "srdi_cert_date": None,
            "little_giant_date": None,
            "snapshot_date": date(2025, 12, 31),
        }
        self.rows["enterprises"].append({**row, **kw})
        return self

    def electricity(
        self, code: str, first: date, kwh: list[float], meter: str = "M1", lag_days: int = 10
    ) -> "TinyData":
        for i, value in enumerate(kwh):
            m = add_months(first, i)
            self.rows["electricity_monthly"].append(
                {
                    "meter_id": meter,
                    "credit_code": code,
                    "month": m,
                    "kwh": float(value),
                    "published_date": add_months(m, 1) + pd.Timedelta(days=lag_days - 1),
                }
            )
        return self

    def tax(
        self, code: str, first: date, vat: list[float], income_tax: float = 1.0, lag_days: int = 15
    ) -> "TinyData":
        for i, value in enumerate(vat):
            m = add_months(first, i)
            self.rows["tax_monthly"].append(
                {
                    "credit_code": code,
                    "month": m,
                    "vat_paid_wan": float(value),
                    "income_tax_paid_wan": income_tax,
                    "zero_filing": value == 0,
                    "filing_date": add_months(m, 1) + pd.Timedelta(days=lag_days - 1),
                }
            )
        return self

    def checkins(self, code: str, first: date, counts: list[int]) -> "TinyData":
        for i, n in enumerate(counts):
            self.rows["checkins_daily"].append(
                {
                    "credit_code": code,
                    "date": first + pd.Timedelta(days=i),
                    "staff_checked_in": n,
                }
            )
        return self

    def event(
        self,
        code: str,
        event_id: str,
        event_type: str,
        event_date: date,
        amount: float | None = None,
        published: date | None = None,
    ) -> "TinyData":
        self.rows["credit_events"].append(
            {
                "event_id": event_id,
                "credit_code": code,
                "event_type": event_type,
                "event_date": event_date,
                "amount_wan": amount,
                "published_date": published or event_date,
            }
        )
        return self

    def filing(
        self, code: str, fiscal_year: int, filing_date: date, revision: int = 0, **kw: Any
    ) -> "TinyData":
        self.rows["innovation_filings"].append(
            {
                "filing_id": f"{code}-{fiscal_year}-{revision}",
                "credit_code": code,
                "fiscal_year": fiscal_year,
                "revision": revision,
                "filing_date": filing_date,
                **FILING_DEFAULTS,
                **kw,
            }
        )
        return self

    def application(self, app_id: str, code: str, app_date: date, **kw: Any) -> "TinyData":
        row = {
            "application_id": app_id,
            "credit_code": code,
            "application_date": app_date,
            "product": "points_loan",
            "amount_wan": 300.0,
            "term_months": 12,
            "declared_purpose": "working_capital",
            "outcome_status": "matured",
            "default_flag": 0,
            "default_date": None,
        }
        self.rows["applications"].append({**row, **kw})
        return self

    def write(self, root: Path, stage: str = "clean") -> DataLayout:
        layout = DataLayout(root)
        for name, rows in self.rows.items():
            contract = CONTRACTS[name]
            folder = layout.clean(name) if stage == "clean" else layout.raw(name)
            folder.mkdir(parents=True, exist_ok=True)
            frame = pd.DataFrame(rows, columns=list(contract.schema.columns))
            for col, column in contract.schema.columns.items():
                if str(column.dtype).startswith("datetime64"):
                    frame[col] = pd.to_datetime(frame[col])
                elif str(column.dtype) == "Int64":
                    frame[col] = frame[col].astype("Int64")
            arrow = pa.Table.from_pandas(frame, preserve_index=False)
            arrow = arrow.select(arrow_schema(contract).names).cast(arrow_schema(contract))
            pq.write_table(arrow, folder / "part-00000.parquet")
        return layout
